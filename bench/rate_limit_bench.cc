// Micro-benchmarks of rate limiting: one decision of each pure algorithm (rate_take), and
// LimiterStore::take as the workers call it: one hot key, 100k distinct keys (a hash miss in the
// cache on most calls), and two threads on distinct keys (shards taken in parallel).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "limits/limiter_store.h"
#include "limits/rate_limit.h"

namespace {

using sluice::limits::LimiterStore;
using sluice::limits::rate_init;
using sluice::limits::rate_take;
using sluice::limits::RateAlgorithm;
using sluice::limits::RateParams;
using sluice::limits::RateState;

// Workers read the clock once per loop turn; the clock moves every 64 calls so that buckets
// refill and windows roll as they would under load. The limit is high enough that most calls
// are allowed and some are denied.
inline uint64_t clock_at(uint64_t i) {
  return 1700000000000 + (i >> 6);
}

RateParams params_for(int64_t algorithm) {
  return RateParams{static_cast<RateAlgorithm>(algorithm), 50000, 1000, 0};
}

const char* label(int64_t algorithm) {
  switch (static_cast<RateAlgorithm>(algorithm)) {
    case RateAlgorithm::kTokenBucket:
      return "token_bucket";
    case RateAlgorithm::kSlidingWindow:
      return "sliding_window";
    case RateAlgorithm::kFixedWindow:
      return "fixed_window";
  }
  return "";
}

void BM_RateTake(benchmark::State& state) {
  const RateParams p = params_for(state.range(0));
  state.SetLabel(label(state.range(0)));
  RateState s = rate_init(p, clock_at(0));
  uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(rate_take(p, s, clock_at(i++)));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RateTake)->Arg(0)->Arg(1)->Arg(2);

void BM_StoreHotKey(benchmark::State& state) {
  static LimiterStore store;
  const RateParams p = params_for(state.range(0));
  state.SetLabel(label(state.range(0)));
  const std::string key = "203.0.113.7";
  uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(store.take(key, p, clock_at(i++)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoreHotKey)->Arg(0)->Arg(1)->Arg(2);
// Two workers on the same key: the shard's lock line bounces between the cores.
BENCHMARK(BM_StoreHotKey)->Arg(0)->Threads(2);

std::vector<std::string> make_keys(size_t n, int thread) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    keys.push_back("t" + std::to_string(thread) + "-client-" + std::to_string(i * 7919));
  }
  return keys;
}

void BM_StoreManyKeys(benchmark::State& state) {
  static LimiterStore store(200000);
  static const std::vector<std::string> keys = make_keys(100000, 0);
  const RateParams p = params_for(0);
  uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.take(keys[i % keys.size()], p, clock_at(i)));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["keys"] = static_cast<double>(store.size());
}
BENCHMARK(BM_StoreManyKeys);

// 1000 keys per thread, none shared between threads: cache-resident, so that the 1- vs 2-thread
// figures show the cost of sharing the store (shard locks, counter lines), not of cache misses.
void BM_StoreDistinctKeys(benchmark::State& state) {
  static LimiterStore store;
  static const std::vector<std::string> keys0 = make_keys(1000, 0);
  static const std::vector<std::string> keys1 = make_keys(1000, 1);
  const std::vector<std::string>& keys = state.thread_index() == 0 ? keys0 : keys1;
  const RateParams p = params_for(0);
  uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.take(keys[i % keys.size()], p, clock_at(i)));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoreDistinctKeys)->Threads(1);
BENCHMARK(BM_StoreDistinctKeys)->Threads(2);

}  // namespace
