#include "router/host.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "http/header.h"

namespace sluice::router {
namespace {

// Hashes s | 0x20 per byte: equal for names that differ in letter case only (other bytes may
// collide, which the comparison sorts out).
uint32_t hash_name(std::string_view s) {
  constexpr uint64_t kFold = 0x2020202020202020ULL;
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
  auto mix = [](uint64_t x) {
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    return x;
  };
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = mix(h ^ (v | kFold));
    p += 8;
    n -= 8;
  }
  if (n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i)
      v |= uint64_t{static_cast<unsigned char>(p[i] | 0x20)} << (8 * i);
    h = mix(h ^ v);
  }
  return static_cast<uint32_t>(h ^ (h >> 32));
}

}  // namespace

void HostMap::insert(std::string name, uint32_t value) {
  if (!entries_.empty() && find(name) != kNone) return;
  const size_t len = name.size() < 255 ? name.size() : 255;
  lengths_[len / 64] |= uint64_t{1} << (len % 64);
  const auto exact_len = static_cast<uint32_t>(name.size());
  const auto at = std::lower_bound(lengths_desc_.begin(), lengths_desc_.end(), exact_len,
                                   std::greater<uint32_t>());
  if (at == lengths_desc_.end() || *at != exact_len) lengths_desc_.insert(at, exact_len);
  const uint32_t h = hash_name(name);
  entries_.push_back(Entry{std::move(name), value, h});
  if (entries_.size() * 2 > slots_.size()) {
    rehash(slots_.empty() ? 16 : slots_.size() * 2);
  } else {
    const auto mask = static_cast<uint32_t>(slots_.size() - 1);
    uint32_t k = h & mask;
    while (slots_[k] != kNone) k = (k + 1) & mask;
    slots_[k] = static_cast<uint32_t>(entries_.size() - 1);
  }
}

void HostMap::rehash(size_t slot_count) {
  slots_.assign(slot_count, kNone);
  const auto mask = static_cast<uint32_t>(slot_count - 1);
  for (size_t i = 0; i < entries_.size(); ++i) {
    uint32_t k = entries_[i].hash & mask;
    while (slots_[k] != kNone) k = (k + 1) & mask;
    slots_[k] = static_cast<uint32_t>(i);
  }
}

uint32_t HostMap::find_slow(std::string_view name) const {
  const uint32_t h = hash_name(name);
  const auto mask = static_cast<uint32_t>(slots_.size() - 1);
  for (uint32_t k = h & mask;; k = (k + 1) & mask) {
    const uint32_t e = slots_[k];
    if (e == kNone) return kNone;
    const Entry& entry = entries_[e];
    if (entry.hash == h && http::iequals(entry.name, name)) return entry.value;
  }
}

}  // namespace sluice::router
