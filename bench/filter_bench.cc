// Micro-benchmarks of the filter chain, the per-request cost of a route's filters: an empty
// phase (no filter implements it), the issue-10 transformation chain (request header edits with
// variables, an RE2 path rewrite, a query edit, response header edits) over one request and its
// response, a mock answer, and template expansion.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "filter/chain.h"
#include "filter/context.h"
#include "filter/runner.h"
#include "filter/template.h"
#include "filters/builtin.h"
#include "http/request_parser.h"

namespace {

using namespace sluice;

struct Fixture {
  explicit Fixture(const std::string& filters) {
    const std::string yaml =
        "listeners: [{address: 127.0.0.1:1}]\nupstreams: [{name: up, targets: [{address: "
        "127.0.0.1:2}]}]\nroutes:\n  - name: r\n    match: {path: \"/api/users/{id}\"}\n"
        "    upstream: up\n    filters:\n" +
        filters;
    config::LoadResult r = config::load_config_string(yaml, "bench.yaml");
    if (!r.ok()) throw std::runtime_error(r.errors.front().to_string());
    cfg = std::move(*r.config);
    std::vector<config::ConfigError> errors;
    chains = filter::build_chains(cfg, filters::builtin_factories(), &errors);
    if (!errors.empty()) throw std::runtime_error(errors.front().to_string());
    http::RequestParser p;
    if (p.parse(raw, head) != http::ParseStatus::kDone) throw std::runtime_error("parse");
    m.params[0] = {"id", std::string_view(path).substr(11)};
    m.param_count = 1;
  }
  void begin() {
    ctx.reset();
    ctx.begin(head, path, &m, "r", ip, "0123456789abcdef0123456789abcdef", nullptr);
    ctx.clear_state(chains[0]->state_bytes());
  }
  config::Config cfg;
  std::vector<std::shared_ptr<const filter::Chain>> chains;
  std::string raw =
      "GET /api/users/42?debug=1&a=b HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: wrk\r\n"
      "X-Debug: 1\r\nAccept: application/json\r\n\r\n";
  std::string path = "/api/users/42";
  http::RequestHead head;
  router::MatchResult m;
  auth::IpAddress ip = *auth::IpAddress::parse("192.0.2.1");
  filter::Context ctx;
  filter::Cursor cursor;
  http::Header resp[3] = {
      {"Server", "nginx"}, {"Content-Type", "application/json"}, {"X-Powered-By", "php"}};
};

constexpr const char* kTransforms =
    "      request_headers: {set: {x-user-id: \"${path.id}\", x-client-ip: \"${client_ip}\"}, "
    "add: {x-via: sluice}, remove: [x-debug]}\n"
    "      path_rewrite: {regex: \"^/api/users/([0-9]+)$\", to: \"/v2/users/$1\"}\n"
    "      query: {set: {version: \"2\"}, remove: [debug]}\n"
    "      response_headers: {set: {x-served-by: sluice, x-status: \"${status}\"}, remove: "
    "[server, x-powered-by]}\n";

void BM_EmptyPhase(benchmark::State& state) {
  Fixture f(kTransforms);
  for (auto _ : state) {
    f.begin();
    f.cursor.start(filter::Phase::kRequestBody);  // no filter of this chain implements it
    benchmark::DoNotOptimize(filter::run_phase(*f.chains[0], f.ctx, f.cursor));
  }
}
BENCHMARK(BM_EmptyPhase);

void BM_TransformChain(benchmark::State& state) {
  Fixture f(kTransforms);
  for (auto _ : state) {
    f.begin();
    f.cursor.start(filter::Phase::kRequestHeaders);
    benchmark::DoNotOptimize(filter::run_phase(*f.chains[0], f.ctx, f.cursor));
    f.ctx.set_response(200, f.resp, "10.0.0.1:80");
    f.cursor.start(filter::Phase::kResponseHeaders);
    benchmark::DoNotOptimize(filter::run_phase(*f.chains[0], f.ctx, f.cursor));
  }
}
BENCHMARK(BM_TransformChain);

void BM_HeaderEditsOnly(benchmark::State& state) {
  Fixture f("      request_headers: {set: {x-user-id: \"${path.id}\"}, remove: [x-debug]}\n");
  for (auto _ : state) {
    f.begin();
    f.cursor.start(filter::Phase::kRequestHeaders);
    benchmark::DoNotOptimize(filter::run_phase(*f.chains[0], f.ctx, f.cursor));
  }
}
BENCHMARK(BM_HeaderEditsOnly);

void BM_MockAnswer(benchmark::State& state) {
  Fixture f("      mock: {body: '{\"id\": \"${path.id}\", \"name\": \"Ada\"}'}\n");
  for (auto _ : state) {
    f.begin();
    f.cursor.start(filter::Phase::kRequestHeaders);
    benchmark::DoNotOptimize(filter::run_phase(*f.chains[0], f.ctx, f.cursor));
  }
}
BENCHMARK(BM_MockAnswer);

void BM_TemplateExpand(benchmark::State& state) {
  Fixture f(kTransforms);
  f.begin();
  std::string error;
  std::optional<filter::Template> t =
      filter::Template::compile("/v2/users/${path.id}?ip=${client_ip}", &error, false);
  std::string out;
  for (auto _ : state) {
    out.clear();
    t->expand(f.ctx, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_TemplateExpand);

}  // namespace
