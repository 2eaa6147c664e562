#include "auth/nonce_cache.h"

#include <algorithm>
#include <functional>

namespace sluice::auth {

NonceCache::NonceCache(size_t max_entries)
    : per_shard_(std::max<size_t>(1, max_entries / kShards)) {
  // Most rehashing happens before traffic; bounded so a huge max_entries costs no memory up front.
  for (Shard& s : shards_) s.expiry_by_key.reserve(std::min<size_t>(per_shard_, 1024));
}

void NonceCache::expire(Shard& s, uint64_t now_s) {
  while (!s.fifo.empty() && s.fifo.front().first <= now_s) {
    const auto [expiry, key] = s.fifo.front();
    s.fifo.pop_front();
    auto it = s.expiry_by_key.find(*key);
    // Only the FIFO entry that matches the map's expiry owns the key; an older one is stale.
    if (it != s.expiry_by_key.end() && it->second == expiry) {
      s.expiry_by_key.erase(it);
      ++s.expired;
    }
  }
}

NonceResult NonceCache::check_and_insert(std::string_view key_id, std::string_view nonce,
                                         uint64_t now_s, uint64_t ttl_s) {
  // A length prefix keeps ("ab", "c") and ("a", "bc") apart whatever bytes the parts hold.
  std::string key;
  key.reserve(4 + key_id.size() + nonce.size());
  const auto id_len = static_cast<uint32_t>(key_id.size());
  key.append(reinterpret_cast<const char*>(&id_len), sizeof(id_len));
  key.append(key_id);
  key.append(nonce);
  const size_t h = std::hash<std::string>{}(key);
  // The high bits pick the shard; the map uses the whole hash, mostly its low bits.
  Shard& s = shards_[(h >> 32) % kShards];
  // At least one second: an entry must outlive the call that made it, and the stale-FIFO check
  // in expire() relies on a re-inserted key getting a strictly later expiry.
  const uint64_t expiry = now_s + std::max<uint64_t>(ttl_s, 1);

  std::lock_guard<std::mutex> lock(s.mu);
  expire(s, now_s);
  auto it = s.expiry_by_key.find(key);
  if (it != s.expiry_by_key.end()) {
    if (it->second > now_s) {
      ++s.replays;
      return NonceResult::kReplay;
    }
    // Expired but still present (a longer ttl queued ahead of it): reuse the entry.
    it->second = expiry;
    s.fifo.emplace_back(expiry, &it->first);
    ++s.inserted;
    return NonceResult::kNew;
  }
  if (s.expiry_by_key.size() >= per_shard_) {
    ++s.refused_full;
    return NonceResult::kFull;
  }
  auto [ins, ok] = s.expiry_by_key.emplace(std::move(key), expiry);
  (void)ok;
  s.fifo.emplace_back(expiry, &ins->first);
  ++s.inserted;
  return NonceResult::kNew;
}

size_t NonceCache::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.expiry_by_key.size();
  }
  return n;
}

#define SLUICE_NONCE_COUNTER(name)            \
  uint64_t NonceCache::name() const {         \
    uint64_t n = 0;                           \
    for (const Shard& s : shards_) {          \
      std::lock_guard<std::mutex> lock(s.mu); \
      n += s.name;                            \
    }                                         \
    return n;                                 \
  }
SLUICE_NONCE_COUNTER(inserted)
SLUICE_NONCE_COUNTER(replays)
SLUICE_NONCE_COUNTER(refused_full)
SLUICE_NONCE_COUNTER(expired)
#undef SLUICE_NONCE_COUNTER

}  // namespace sluice::auth
