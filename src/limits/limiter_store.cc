// LimiterStore: 64 independently locked shards, each an unordered_map with an intrusive LRU list.
// A new key in a full shard reuses the least recently used node (extract + re-key), so a store
// under a flood of distinct keys stops allocating nodes once it is full.
#include "limits/limiter_store.h"

#include <algorithm>
#include <thread>

namespace sluice::limits {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

static_assert(LimiterStore::kShards == 64, "take() picks the shard with the hash's top 6 bits");

// Entries looked at per lock hold in sweep(), whatever the budget.
constexpr size_t kSweepPerHold = 128;

}  // namespace

void LimiterStore::SpinLock::lock() {
  for (;;) {
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
    // Spin on a plain load so that waiters share the line instead of bouncing it with writes.
    for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
      if (spins < 128) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // the holder may have been preempted
      }
    }
  }
}

LimiterStore::LimiterStore(size_t max_keys) : per_shard_(std::max<size_t>(1, max_keys / kShards)) {
  for (Shard& s : shards_) {
    s.lru.prev = &s.lru;
    s.lru.next = &s.lru;
    // Most of the rehashing happens before traffic; bounded so that a huge max_keys does not
    // cost memory up front.
    s.map.reserve(std::min<size_t>(per_shard_, 1024));
  }
}

void LimiterStore::unlink(Entry& e) {
  e.prev->next = e.next;
  e.next->prev = e.prev;
}

void LimiterStore::push_front(Shard& s, Entry& e) {
  e.prev = &s.lru;
  e.next = s.lru.next;
  s.lru.next->prev = &e;
  s.lru.next = &e;
}

LimiterStore::Entry& LimiterStore::insert(Shard& s, std::string_view key) {
  if (s.map.size() >= per_shard_) {
    Entry& victim = *s.lru.prev;
    unlink(victim);
    auto node = s.map.extract(s.map.find(*victim.key));
    node.key().assign(key.data(), key.size());  // reuses the old key's buffer when it fits
    auto result = s.map.insert(std::move(node));
    s.evictions.store(s.evictions.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    Entry& e = result.position->second;
    e.key = &result.position->first;
    return e;
  }
  auto [it, inserted] = s.map.try_emplace(std::string(key));
  (void)inserted;
  it->second.key = &it->first;
  s.size.store(s.map.size(), std::memory_order_relaxed);
  return it->second;
}

void LimiterStore::for_each(
    const std::function<void(std::string_view key, RateAlgorithm, const RateState&)>& fn) {
  for (Shard& s : shards_) {
    s.lock.lock();
    for (Entry* e = s.lru.prev; e != &s.lru; e = e->prev) fn(*e->key, e->algorithm, e->state);
    s.lock.unlock();
  }
}

void LimiterStore::restore(std::string_view key, RateAlgorithm algorithm, const RateState& state) {
  const size_t hash = std::hash<std::string_view>{}(key);
  Shard& s = shard_of(hash);
  s.lock.lock();
  Entry* e = find(s, key, hash);
  if (e != nullptr) {
    unlink(*e);
  } else {
    e = &insert(s, key);
  }
  e->state = state;
  e->algorithm = algorithm;
  push_front(s, *e);
  s.lock.unlock();
}

RateDecision LimiterStore::take(std::string_view key, const RateParams& params, uint64_t now_ms,
                                uint64_t cost) {
  const size_t hash = std::hash<std::string_view>{}(key);
  Shard& s = shard_of(hash);
  s.lock.lock();
  Entry* e = find(s, key, hash);
  if (e != nullptr) {
    if (s.lru.next != e) {  // a hot key is already first: leave the lines unwritten
      unlink(*e);
      push_front(s, *e);
    }
    if (e->algorithm != params.algorithm) {
      e->state = rate_init(params, now_ms);
      e->algorithm = params.algorithm;
    }
  } else {
    e = &insert(s, key);
    e->state = rate_init(params, now_ms);
    e->algorithm = params.algorithm;
    push_front(s, *e);
  }
  const RateDecision d = rate_take(params, e->state, now_ms, cost);
  // Only lock holders write the counters, so a plain increment suffices (no locked RMW); they
  // are atomics for the readers, which do not take the lock.
  std::atomic<uint64_t>& counter = d.allowed ? s.allowed : s.denied;
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  s.lock.unlock();
  return d;
}

void LimiterStore::sweep(const RateParams& params, uint64_t now_ms, size_t budget) {
  for (size_t visited = 0; visited < kShards && budget > 0; ++visited) {
    Shard& s = shards_[sweep_shard_];
    bool shard_done = false;
    while (!shard_done && budget > 0) {
      s.lock.lock();
      // Oldest first: a key used less recently than a busy one is most likely idle too, so the
      // walk stops at the first busy key instead of scanning the whole shard.
      for (size_t n = 0; n < kSweepPerHold && budget > 0; ++n) {
        Entry& e = *s.lru.prev;
        if (&e == &s.lru) {
          shard_done = true;
          break;
        }
        --budget;
        // A state of another algorithm would be reset by its next take(): idle as well.
        if (e.algorithm == params.algorithm && !rate_idle(params, e.state, now_ms)) {
          shard_done = true;
          break;
        }
        unlink(e);
        s.map.erase(s.map.find(*e.key));
      }
      s.size.store(s.map.size(), std::memory_order_relaxed);
      s.lock.unlock();
    }
    if (!shard_done) break;  // budget spent inside this shard: resume here next time
    sweep_shard_ = (sweep_shard_ + 1) % kShards;
  }
}

size_t LimiterStore::size() const {
  size_t n = 0;
  for (const Shard& s : shards_) n += s.size.load(std::memory_order_relaxed);
  return n;
}

uint64_t LimiterStore::evictions() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) n += s.evictions.load(std::memory_order_relaxed);
  return n;
}

uint64_t LimiterStore::allowed() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) n += s.allowed.load(std::memory_order_relaxed);
  return n;
}

uint64_t LimiterStore::denied() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) n += s.denied.load(std::memory_order_relaxed);
  return n;
}

}  // namespace sluice::limits
