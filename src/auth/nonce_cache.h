// The replay cache of HMAC-signed requests: remembers (key id, nonce) pairs until they could no
// longer pass the X-Date window, so that a captured request cannot be sent twice. One per
// instance, shared by all worker threads (a replay must be caught whichever worker gets it).
// Memory is bounded; when full, expired entries go first (oldest first), and if none has expired
// a new nonce is refused rather than an unexpired one forgotten: forgetting would reopen the
// replay window for that nonce, which is exactly what an attacker flooding the cache wants, while
// refusing costs an honest client one retry (401 "sign the request again").
// Example:
//   NonceCache cache(1'000'000);
//   // ttl = 2 * window: a request dated x_date passes from x_date - window to x_date + window.
//   if (!cache.insert_if_new(sh.key_id, sh.nonce, now_s, 2 * window_s)) reject(kReplayed);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice::auth {

enum class NonceResult {
  kNew,     // remembered; the request may proceed
  kReplay,  // seen before and not yet expired
  kFull,    // the cache is full of unexpired nonces; refused without being remembered
};

class NonceCache {
 public:
  static constexpr size_t kShards = 64;

  // At most max_entries pairs (max_entries / kShards per shard, at least 1 per shard).
  explicit NonceCache(size_t max_entries = 1'000'000);
  NonceCache(const NonceCache&) = delete;
  NonceCache& operator=(const NonceCache&) = delete;

  // kNew if (key_id, nonce) was not seen in the last ttl_s seconds; it is then remembered until
  // now_s + ttl_s. Nonces are per key id: two consumers may pick the same nonce.
  NonceResult check_and_insert(std::string_view key_id, std::string_view nonce, uint64_t now_s,
                               uint64_t ttl_s);
  // True only for kNew; a kFull must be answered like a replay (the request is not verified).
  bool insert_if_new(std::string_view key_id, std::string_view nonce, uint64_t now_s,
                     uint64_t ttl_s) {
    return check_and_insert(key_id, nonce, now_s, ttl_s) == NonceResult::kNew;
  }

  size_t size() const;
  size_t capacity() const { return per_shard_ * kShards; }
  uint64_t inserted() const;
  uint64_t replays() const;
  uint64_t refused_full() const;  // kFull answers: a sign of a flood or a too small cache
  uint64_t expired() const;

 private:
  // std::mutex rather than a spinlock: a critical section is a hash probe, a few pops of expired
  // entries and at most one node allocation (well under a microsecond), so an uncontended
  // mutex costs one atomic exchange each way, like a spinlock, and with 64 shards two workers
  // rarely meet; when a holder is preempted, waiters sleep in the kernel instead of spinning.
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, uint64_t> expiry_by_key;
    // Insertion order, which is expiry order while ttl_s is the same for every call (one filter
    // config); an entry whose key was re-inserted later has a stale expiry and is skipped.
    std::deque<std::pair<uint64_t, const std::string*>> fifo;
    uint64_t inserted = 0;
    uint64_t replays = 0;
    uint64_t refused_full = 0;
    uint64_t expired = 0;
  };

  // Pops expired entries from the front of the FIFO. Amortised O(1) per insert: each entry is
  // popped once.
  static void expire(Shard& s, uint64_t now_s);

  size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace sluice::auth
