// Config scaling: the cost of loading and compiling a config of N routes (what `sluice
// validate`, start-up and every reload pay), and the heap each route keeps once loaded.
// Run: build/release/config_bench
//
// The routes are those of a large API table: `/api/v1/svcN/{*rest}` with two methods, one
// upstream; with filters=1 half of them also have a header filter. Counters: heap_per_route (bytes
// of malloc'ed memory kept per route: the loaded Config, then the Snapshot built from it, which
// holds the config too), and the wall time of each step.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <chrono>
#include <string>
#include <utility>

#include "config/config.h"
#include "proxy/runtime.h"
#include "proxy/snapshot.h"

namespace {

using namespace sluice;

std::string routes_yaml(int n, bool filters) {
  std::string y =
      "listeners:\n  - address: 127.0.0.1:18080\nupstreams:\n  - name: be\n"
      "    targets: [127.0.0.1:18081]\nroutes:\n";
  for (int i = 0; i < n; ++i) {
    const std::string s = std::to_string(i);
    y += "  - name: r" + s + "\n    match: { path: \"/api/v1/svc" + s +
         "/{*rest}\", methods: [GET, POST] }\n    upstream: be\n";
    if (filters && i % 2 == 1)
      y += "    filters:\n      request_headers: { set: { x-svc: \"" + s + "\" } }\n";
  }
  return y;
}

size_t heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;  // small chunks and mmap()ed ones (large vectors)
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void BM_LoadRoutes(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::string text = routes_yaml(n, state.range(1) != 0);
  double load_s = 0;
  double build_s = 0;
  double config_bytes = 0;
  double snapshot_bytes = 0;
  for (auto _ : state) {
    malloc_trim(0);
    const size_t base = heap_in_use();
    auto t0 = std::chrono::steady_clock::now();
    config::LoadResult r = config::load_config_string(text, "bench.yaml");
    load_s = seconds_since(t0);
    if (!r.ok()) {
      state.SkipWithError(r.errors.front().to_string().c_str());
      return;
    }
    config_bytes = static_cast<double>(heap_in_use() - base);
    proxy::RuntimeRegistry registry;
    t0 = std::chrono::steady_clock::now();
    proxy::SnapshotResult s = proxy::build_snapshot(std::move(*r.config), 1, 1, registry, {});
    build_s = seconds_since(t0);
    r.config.reset();
    if (s.snapshot == nullptr) {
      state.SkipWithError(s.errors.front().to_string().c_str());
      return;
    }
    snapshot_bytes = static_cast<double>(heap_in_use() - base);
    benchmark::DoNotOptimize(s.snapshot);
  }
  state.counters["load_s"] = load_s;
  state.counters["build_s"] = build_s;
  state.counters["config_B_per_route"] = config_bytes / n;
  state.counters["heap_B_per_route"] = snapshot_bytes / n;
}
BENCHMARK(BM_LoadRoutes)
    ->ArgNames({"routes", "filters"})
    ->ArgsProduct({{1000, 10000, 100000}, {0, 1}})
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

// A reload that changes one route of N (what POST /reload and a one-route API change pay): the
// config loaded with the snapshot in force's RouteReuse, then built with it as `previous`, so
// the N-1 unchanged routes are neither walked nor compiled again. Counters: the time of each
// step and how many routes were kept as compiled.
void BM_ReloadOneRoute(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::string text = routes_yaml(n, true);
  proxy::RuntimeRegistry registry;
  config::LoadResult first = config::load_config_string(text, "bench.yaml");
  if (!first.ok()) {
    state.SkipWithError(first.errors.front().to_string().c_str());
    return;
  }
  std::shared_ptr<const proxy::Snapshot> now =
      proxy::build_snapshot(std::move(*first.config), 1, 1, registry, {}).snapshot;
  const std::string from = "/api/v1/svc1/";
  double load_s = 0;
  double build_s = 0;
  double reused = 0;
  uint64_t version = 1;
  for (auto _ : state) {
    ++version;
    std::string changed = text;
    changed.replace(changed.find(from), from.size(),
                    "/api/v1/svc1-" + std::to_string(version) + "/");
    auto t0 = std::chrono::steady_clock::now();
    const config::RouteReuse reuse = proxy::reuse_of(*now);
    config::LoadResult r = config::load_config_string(changed, "bench.yaml", &reuse);
    load_s += seconds_since(t0);
    if (!r.ok()) {
      state.SkipWithError(r.errors.front().to_string().c_str());
      return;
    }
    t0 = std::chrono::steady_clock::now();
    proxy::SnapshotResult s =
        proxy::build_snapshot(std::move(*r.config), version, version, registry, {}, now.get());
    build_s += seconds_since(t0);
    if (s.snapshot == nullptr) {
      state.SkipWithError(s.errors.front().to_string().c_str());
      return;
    }
    reused = static_cast<double>(s.reused);
    now = std::move(s.snapshot);
  }
  const auto iterations = static_cast<double>(state.iterations());
  state.counters["load_s"] = load_s / iterations;
  state.counters["build_s"] = build_s / iterations;
  state.counters["reused"] = reused;
}
BENCHMARK(BM_ReloadOneRoute)
    ->ArgName("routes")
    ->Arg(10000)
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
