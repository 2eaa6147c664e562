// The per-instance state of one rate-limit policy: a map from key (client IP, API key, route…)
// to its RateState, shared by all worker threads so that the limit holds for the instance as a
// whole and not once per worker. Bounded: a full shard forgets its least recently used key.
// Example:
//   LimiterStore store(100000);                      // one per policy, owned by the snapshot
//   RateDecision d = store.take(client_ip, params, now_ms);   // any worker
//   store.sweep(params, now_ms, 1024);               // control thread, every second or so
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "limits/rate_limit.h"

namespace sluice::limits {

class LimiterStore {
 public:
  static constexpr size_t kShards = 64;

  // At most max_keys keys (max_keys / kShards per shard, at least 1 per shard).
  explicit LimiterStore(size_t max_keys = 100000);
  LimiterStore(const LimiterStore&) = delete;
  LimiterStore& operator=(const LimiterStore&) = delete;

  // Decides one request of `key`. params come with each call because a reload may change them
  // while the keys' states are kept; a state made for another algorithm starts afresh.
  // Allocates only when the key is new (a copy of it).
  RateDecision take(std::string_view key, const RateParams& params, uint64_t now_ms,
                    uint64_t cost = 1);

  // Forgets keys whose state equals a fresh one, oldest first, looking at no more than `budget`
  // entries in all, so that a call never holds a shard for long. Successive calls go on round the
  // shards. One caller at a time (the control thread).
  void sweep(const RateParams& params, uint64_t now_ms, size_t budget);

  // Every key with its state, least recently used first within a shard (an upgrade hands the
  // counters to the new process). fn runs under the shard's lock: it must not call the store.
  void for_each(
      const std::function<void(std::string_view key, RateAlgorithm, const RateState&)>& fn);
  // Sets a key's state (replacing any), as the most recently used of its shard.
  void restore(std::string_view key, RateAlgorithm algorithm, const RateState& state);

  size_t size() const;
  size_t capacity() const { return per_shard_ * kShards; }
  uint64_t evictions() const;  // keys forgotten because their shard was full
  uint64_t allowed() const;
  uint64_t denied() const;

 private:
  // A test-and-test-and-set lock. A shard's critical section is a hash lookup and a few dozen
  // instructions of arithmetic (tens of ns), far shorter than a futex round trip, and collisions
  // need two workers on the same shard in the same instant. A lock-free map would need
  // per-entry CAS on 24-byte states plus safe reclamation for eviction and sweep, for little
  // gain at this hold time. Spinners yield after a while in case the holder was preempted.
  class SpinLock {
   public:
    void lock();
    void unlock() { locked_.store(false, std::memory_order_release); }

   private:
    std::atomic<bool> locked_{false};
  };

  // The hash is computed once per take: it picks the shard and is handed to the map through
  // HashedKey, so the map does not hash the key again.
  struct HashedKey {
    std::string_view key;
    size_t hash;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(const std::string& k) const noexcept {
      return std::hash<std::string_view>{}(k);
    }
    size_t operator()(const HashedKey& k) const noexcept { return k.hash; }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(const std::string& a, const std::string& b) const noexcept { return a == b; }
    bool operator()(const HashedKey& a, const std::string& b) const noexcept { return a.key == b; }
    bool operator()(const std::string& a, const HashedKey& b) const noexcept { return a == b.key; }
  };

  // Map nodes never move, so the LRU list links them directly; `key` points at the node's key.
  struct Entry {
    RateState state;
    RateAlgorithm algorithm = RateAlgorithm::kTokenBucket;
    Entry* prev = nullptr;  // towards the most recently used
    Entry* next = nullptr;  // towards the least recently used
    const std::string* key = nullptr;
  };
  using Map = std::unordered_map<std::string, Entry, KeyHash, KeyEq>;

  struct alignas(64) Shard {
    SpinLock lock;
    Map map;
    Entry lru;  // sentinel: lru.next is the most recently used, lru.prev the least
    std::atomic<size_t> size{0};
    std::atomic<uint64_t> evictions{0};
    std::atomic<uint64_t> allowed{0};
    std::atomic<uint64_t> denied{0};
  };

  // The map uses the hash's low bits (modulo its bucket count), the shard the high ones.
  Shard& shard_of(size_t hash) { return shards_[(hash >> (sizeof(size_t) * 8 - 6)) % kShards]; }
  // The key's entry in s (under its lock), or null.
  static Entry* find(Shard& s, std::string_view key, size_t hash) {
    auto it = s.map.find(HashedKey{key, hash});
    return it == s.map.end() ? nullptr : &it->second;
  }
  static void unlink(Entry& e);
  static void push_front(Shard& s, Entry& e);
  Entry& insert(Shard& s, std::string_view key);

  size_t per_shard_;
  size_t sweep_shard_ = 0;  // where the next sweep() starts
  std::array<Shard, kShards> shards_;
};

}  // namespace sluice::limits
