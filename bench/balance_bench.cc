// Micro-benchmarks of the load balancer: one pick per algorithm for a small and a large
// upstream, the key hash of consistent_hash, and the sticky-cookie signature.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "balance/balancer.h"

namespace {

using sluice::balance::Algorithm;

struct Upstream {
  explicit Upstream(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      states.push_back(std::make_unique<sluice::balance::TargetState>(
          "up", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":8080"));
      // Some load, so that least_connections and p2c compare real numbers.
      states.back()->active.store(static_cast<int32_t>((i * 7) % 5));
    }
    for (size_t i = 0; i < n; ++i) {
      endpoints.push_back({static_cast<uint32_t>(1 + i % 3), states[i].get(), states[i]->key});
    }
    eligible.assign(n, 1);
  }
  std::vector<std::unique_ptr<sluice::balance::TargetState>> states;
  std::vector<sluice::balance::Endpoint> endpoints;
  std::vector<uint8_t> eligible;
};

// All targets eligible; for consistent_hash every pick has another key hash.
void BM_Pick(benchmark::State& state, Algorithm algorithm) {
  Upstream up(static_cast<size_t>(state.range(0)));
  auto b = sluice::balance::make_balancer(algorithm, up.endpoints, 1);
  uint64_t hash = 0;
  for (auto _ : state) {
    hash += 0x9e3779b97f4a7c15ULL;
    benchmark::DoNotOptimize(b->pick(up.eligible, hash));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Pick, round_robin, Algorithm::kRoundRobin)->Arg(3)->Arg(64);
BENCHMARK_CAPTURE(BM_Pick, weighted_round_robin, Algorithm::kWeightedRoundRobin)->Arg(3)->Arg(64);
BENCHMARK_CAPTURE(BM_Pick, least_connections, Algorithm::kLeastConnections)->Arg(3)->Arg(64);
BENCHMARK_CAPTURE(BM_Pick, p2c, Algorithm::kP2C)->Arg(3)->Arg(64);
BENCHMARK_CAPTURE(BM_Pick, consistent_hash, Algorithm::kConsistentHash)->Arg(3)->Arg(64);
BENCHMARK_CAPTURE(BM_Pick, random, Algorithm::kRandom)->Arg(3)->Arg(64);

// A quarter of the targets ineligible (health checks, ejections, retry exclusions).
void BM_PickDegraded(benchmark::State& state, Algorithm algorithm) {
  Upstream up(64);
  for (size_t i = 0; i < up.eligible.size(); i += 4) up.eligible[i] = 0;
  auto b = sluice::balance::make_balancer(algorithm, up.endpoints, 1);
  uint64_t hash = 0;
  for (auto _ : state) {
    hash += 0x9e3779b97f4a7c15ULL;
    benchmark::DoNotOptimize(b->pick(up.eligible, hash));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_PickDegraded, round_robin, Algorithm::kRoundRobin);
BENCHMARK_CAPTURE(BM_PickDegraded, weighted_round_robin, Algorithm::kWeightedRoundRobin);
BENCHMARK_CAPTURE(BM_PickDegraded, least_connections, Algorithm::kLeastConnections);
BENCHMARK_CAPTURE(BM_PickDegraded, p2c, Algorithm::kP2C);
BENCHMARK_CAPTURE(BM_PickDegraded, consistent_hash, Algorithm::kConsistentHash);
BENCHMARK_CAPTURE(BM_PickDegraded, random, Algorithm::kRandom);

// Building the balancer, as each worker does per upstream on a config reload.
void BM_Build(benchmark::State& state, Algorithm algorithm) {
  Upstream up(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(sluice::balance::make_balancer(algorithm, up.endpoints, 1));
  }
}
BENCHMARK_CAPTURE(BM_Build, consistent_hash, Algorithm::kConsistentHash)->Arg(3)->Arg(64);

void BM_HashKey(benchmark::State& state) {
  std::string key(static_cast<size_t>(state.range(0)), 'k');
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<char>('a' + i % 26);
  for (auto _ : state) {
    benchmark::DoNotOptimize(key.data());
    benchmark::DoNotOptimize(sluice::balance::hash_key(key));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_HashKey)->Arg(11)->Arg(36)->Arg(128);

void BM_SignSticky(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        sluice::balance::sign_sticky("10.0.0.17:8080", "a-32-byte-secret-for-sticky-00"));
  }
}
BENCHMARK(BM_SignSticky);

void BM_VerifySticky(benchmark::State& state) {
  const std::string secret = "a-32-byte-secret-for-sticky-00";
  const std::string value = sluice::balance::sign_sticky("10.0.0.17:8080", secret);
  for (auto _ : state) {
    benchmark::DoNotOptimize(sluice::balance::verify_sticky(value, secret));
  }
}
BENCHMARK(BM_VerifySticky);

}  // namespace
