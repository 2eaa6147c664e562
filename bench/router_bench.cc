// Router micro-benchmarks: the cost of one match() as the table grows from 10 to 10,000 routes
// (it should stay flat), and of normalize_path on its fast and slow paths.
// Run: build/release/router_bench --benchmark_filter=BM_Match
//
// BM_Match sends the same requests to every table: ten target routes (one per shape, each in its
// own service, so the tree has the same depth at every size) plus, for the larger tables, whole
// services of filler routes. It measures what the number of routes costs. BM_MatchSpread instead
// spreads the requests over all services of the table, so it also measures cache misses, which
// grow with the part of the table that the traffic touches rather than with the route count.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "http/header.h"
#include "http/method.h"
#include "router/path.h"
#include "router/router.h"

namespace {

using sluice::http::Header;
using sluice::http::Method;
using sluice::http::method_bit;
using namespace sluice::router;

constexpr int kShapes = 10;

// Realistic API shapes for service `svc`: REST routes with params and methods, a canary header
// route, a health check, static files under a catch-all, an admin catch-all on an exact host and
// webhooks on a wildcard host.
RouteSpec shape(int svc, int s) {
  const std::string n = std::to_string(svc);
  const std::string base = "/api/v1/svc" + n;
  const uint16_t get = method_bit(Method::kGet);
  switch (s) {
    case 0:
      return {"list" + n, base + "/items", get, "", {}, 0};
    case 1:
      return {"create" + n, base + "/items", method_bit(Method::kPost), "", {}, 0};
    case 2:
      return {"item" + n, base + "/items/{id}", get, "", {}, 0};
    case 3:
      return {"canary" + n, base + "/items/{id}", get, "", {{"x-canary", "1"}}, 0};
    case 4:
      return {"parts" + n, base + "/items/{id}/parts", get, "", {}, 0};
    case 5:
      return {"part" + n,
              base + "/items/{id}/parts/{part}",
              static_cast<uint16_t>(method_bit(Method::kPut) | method_bit(Method::kPatch)),
              "",
              {},
              0};
    case 6:
      return {"health" + n, base + "/health", 0, "", {}, 0};
    case 7:
      return {"static" + n, "/static/svc" + n + "/{*rest}", get, "", {}, 0};
    case 8:
      return {"admin" + n, "/admin/svc" + n + "/{*rest}", 0, "admin.example.com", {}, 0};
    default:
      return {"hook" + n,
              "/hooks/svc" + n + "/{id}",
              method_bit(Method::kPost),
              "*.hooks.example.com",
              {},
              0};
  }
}

struct Request {
  std::string host;
  Method method;
  std::string path;
};

// A request for shape `s` of service `svc`; s == 10 gives a 404, s == 11 a 405.
Request request(int svc, int s, std::mt19937& rng) {
  const std::string n = std::to_string(svc);
  const std::string base = "/api/v1/svc" + n;
  const std::string id = std::to_string(std::uniform_int_distribution<int>(1, 99999)(rng));
  const std::string api = "api.example.com";
  switch (s) {
    case 0:
      return {api, Method::kGet, base + "/items"};
    case 1:
      return {api, Method::kPost, base + "/items"};
    case 2:
      return {api, Method::kGet, base + "/items/" + id};
    case 3:
      return {api, Method::kGet, base + "/items/" + id};  // the canary header is sent
    case 4:
      return {api, Method::kGet, base + "/items/" + id + "/parts"};
    case 5:
      return {api, Method::kPatch, base + "/items/" + id + "/parts/7"};
    case 6:
      return {api, Method::kGet, base + "/health"};
    case 7:
      return {api, Method::kGet, "/static/svc" + n + "/js/app.min.js"};
    case 8:
      return {"Admin.Example.com:443", Method::kGet, "/admin/svc" + n + "/users/" + id};
    case 9:
      return {"eu.hooks.example.com", Method::kPost, "/hooks/svc" + n + "/" + id};
    case 10:
      return {api, Method::kGet, base + "/unknown/" + id};
    default:
      return {api, Method::kDelete, base + "/items/" + id};
  }
}

// Target route s lives in service s; filler services start at kShapes.
std::vector<RouteSpec> make_table(int count) {
  std::vector<RouteSpec> specs;
  for (int s = 0; s < kShapes; ++s) specs.push_back(shape(s, s));
  for (int svc = kShapes; static_cast<int>(specs.size()) < count; ++svc) {
    for (int s = 0; s < kShapes && static_cast<int>(specs.size()) < count; ++s) {
      specs.push_back(shape(svc, s));
    }
  }
  return specs;
}

const std::vector<Header> kHeaders = {
    {"Host", "api.example.com"}, {"User-Agent", "bench/1.0"}, {"Accept", "application/json"}};
const std::vector<Header> kCanaryHeaders = {
    {"Host", "api.example.com"}, {"User-Agent", "bench/1.0"}, {"X-Canary", "1"}};

void run(benchmark::State& state, const Router& router, const std::vector<Request>& reqs,
         const std::vector<int>& shapes) {
  size_t i = 0;
  size_t found = 0;
  for (auto _ : state) {
    const size_t k = i++ % reqs.size();
    const Request& r = reqs[k];
    const MatchResult m =
        router.match(r.host, r.method, r.path, shapes[k] == 3 ? kCanaryHeaders : kHeaders);
    found += m.status == MatchStatus::kFound;
    benchmark::DoNotOptimize(m);
  }
  state.counters["routes"] = static_cast<double>(router.size());
  state.counters["found%"] = 100.0 * static_cast<double>(found) / static_cast<double>(i ? i : 1);
}

std::unique_ptr<Router> build(benchmark::State& state, int count) {
  std::vector<RouterError> errors;
  auto router = Router::build(make_table(count), &errors);
  if (!router) state.SkipWithError(errors.empty() ? "build failed" : errors[0].message.c_str());
  return router;
}

void BM_Match(benchmark::State& state) {
  const auto router = build(state, static_cast<int>(state.range(0)));
  if (!router) return;
  std::mt19937 rng(42);
  std::vector<Request> reqs;
  std::vector<int> shapes;
  for (int rep = 0; rep < 4; ++rep) {
    for (int s = 0; s < kShapes + 2; ++s) {  // each target shape, a 404 and a 405
      reqs.push_back(request(s < kShapes ? s : 2, s, rng));
      shapes.push_back(s);
    }
  }
  run(state, *router, reqs, shapes);
}
BENCHMARK(BM_Match)->Arg(10)->Arg(1000)->Arg(10000);

// What every reload pays for the router: compiling N specs (the snapshot rebuilds the tree even
// when only one route changed).
void BM_Build(benchmark::State& state) {
  const std::vector<RouteSpec> table = make_table(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::vector<RouterError> errors;
    auto router = Router::build(table, &errors);
    if (!router) state.SkipWithError("build failed");
    benchmark::DoNotOptimize(router);
  }
  state.counters["routes"] = static_cast<double>(table.size());
}
BENCHMARK(BM_Build)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_MatchSpread(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  const auto router = build(state, count);
  if (!router) return;
  const int fillers = (count - kShapes) / kShapes;  // complete filler services
  std::mt19937 rng(42);
  std::vector<Request> reqs;
  std::vector<int> shapes;
  for (int i = 0; i < 1024; ++i) {
    const int s = i % (kShapes + 2);
    const int svc = fillers > 0 ? kShapes + std::uniform_int_distribution<int>(0, fillers - 1)(rng)
                                : (s < kShapes ? s : 2);
    reqs.push_back(request(svc, s, rng));
    shapes.push_back(s);
  }
  run(state, *router, reqs, shapes);
}
BENCHMARK(BM_MatchSpread)->Arg(10)->Arg(1000)->Arg(10000);

void BM_NormalizePath(benchmark::State& state, const char* path) {
  std::string scratch;
  bool ok = false;
  for (auto _ : state) {
    std::string_view out = normalize_path(path, scratch, &ok);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(std::char_traits<char>::length(path)));
}
BENCHMARK_CAPTURE(BM_NormalizePath, fast, "/api/v1/svc17/items/12345/parts/engine.json");
BENCHMARK_CAPTURE(BM_NormalizePath, escapes,
                  "/api/v1/svc17/%7Eitems/./12345/../parts%2fengine.json");

}  // namespace
