// Micro-benchmarks of the shared resilience decisions: the circuit breaker's allow() (closed and
// rejecting), allow() plus on_result(), and the retry budget. Each is run on one thread and on
// two threads sharing one object, as the workers do.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "limits/circuit_breaker.h"
#include "limits/retry_budget.h"

namespace {

using sluice::limits::BreakerSettings;
using sluice::limits::CircuitBreaker;
using sluice::limits::RetryBudget;

// Workers read the clock once per loop turn; the benchmarks advance it every 256 calls so that
// buckets roll over as they would under load.
inline uint64_t clock_at(uint64_t i) {
  return 1000000 + (i >> 8);
}

CircuitBreaker& closed_breaker() {
  static CircuitBreaker b{BreakerSettings{}};
  return b;
}

CircuitBreaker& open_breaker() {
  static CircuitBreaker* b = [] {
    BreakerSettings s;
    s.consecutive_failures = 1;
    s.open_ms = uint64_t{1} << 40;
    auto* cb = new CircuitBreaker(s);
    cb->allow(1000000);
    cb->on_result(false, false, 1000000);
    return cb;
  }();
  return *b;
}

void BM_BreakerAllowClosed(benchmark::State& state) {
  CircuitBreaker& b = closed_breaker();
  uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(b.allow(clock_at(i++)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BreakerAllowClosed);
BENCHMARK(BM_BreakerAllowClosed)->Threads(2);

void BM_BreakerAllowAndResult(benchmark::State& state) {
  CircuitBreaker& b = closed_breaker();
  uint64_t i = 0;
  for (auto _ : state) {
    const uint64_t now = clock_at(i++);
    auto d = b.allow(now);
    benchmark::DoNotOptimize(b.on_result(true, d == CircuitBreaker::Decision::kProbe, now));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BreakerAllowAndResult);
BENCHMARK(BM_BreakerAllowAndResult)->Threads(2);

void BM_BreakerAllowOpen(benchmark::State& state) {
  CircuitBreaker& b = open_breaker();
  if (b.allow(clock_at(0)) != CircuitBreaker::Decision::kReject) {
    state.SkipWithError("breaker is not open");
    return;
  }
  uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(b.allow(clock_at(i++)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BreakerAllowOpen);
BENCHMARK(BM_BreakerAllowOpen)->Threads(2);

RetryBudget& budget() {
  static RetryBudget* b = [] {
    auto* rb = new RetryBudget(20, 3);
    for (int i = 0; i < 100; ++i) rb->request_started();
    return rb;
  }();
  return *b;
}

void BM_RetryBudget(benchmark::State& state) {
  RetryBudget& b = budget();
  for (auto _ : state) {
    if (b.try_start_retry()) b.retry_finished();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RetryBudget);
BENCHMARK(BM_RetryBudget)->Threads(2);

}  // namespace
