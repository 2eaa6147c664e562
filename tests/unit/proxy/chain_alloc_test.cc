// A route's chain as the snapshot compiles it (every ported filter: ip rules, CORS, security
// headers, auth by API key, RBAC, a local rate limit, plus header edits and a path rewrite)
// runs a request through its request_headers and response_headers phases without one heap
// allocation once the exchange's strings have their capacity.
#include <gtest/gtest.h>

#include "../alloc_counter.h"
#include "../fake_services.h"
#include "auth/api_key.h"
#include "config/config.h"
#include "filter/runner.h"
#include "proxy/runtime.h"
#include "proxy/snapshot.h"

namespace sluice::proxy {
namespace {

std::string edge_yaml() {
  return R"yaml(
listeners: [{address: 127.0.0.1:1}]
consumers:
  - {name: svc, api_keys: [")yaml" +
         auth::hash_api_key("k-123") + R"yaml("], roles: [reader]}
upstreams: [{name: up, targets: [{address: 127.0.0.1:2}]}]
routes:
  - name: all
    match: {path: "/api/users/{id}"}
    upstream: up
    security:
      ip_rules: {allow: [127.0.0.0/8]}
      cors: {origins: ["https://app.test"], methods: [GET, POST]}
      headers: {nosniff: true, frame_options: DENY, server: hide}
      auth: {api_key: true, roles: [reader]}
    rate_limits:
      - {name: per-ip, key: client_ip, limit: 1000000000, period: 1s}
      - {name: per-consumer, key: consumer, limit: 1000000000, period: 1s}
    filters:
      request_headers: {set: {x-client-ip: "${client_ip}", x-who: "${consumer}"}, remove: [x-debug]}
      path_rewrite: {regex: "^/api/users/([0-9]+)$", to: "/v2/users/$1"}
      response_headers: {set: {x-served-by: sluice}, remove: [x-powered-by]}
)yaml";
}

TEST(ChainAlloc, PortedFiltersAllocateNothingPerRequest) {
  config::LoadResult loaded = config::load_config_string(edge_yaml(), "edge.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors[0].to_string();
  RuntimeRegistry registry;
  SnapshotResult s = build_snapshot(std::move(*loaded.config), 1, 1, registry, {});
  ASSERT_TRUE(s.snapshot) << s.errors[0].to_string();
  const filter::Chain& chain = *s.snapshot->routes[0].chain;
  std::vector<std::string> names;
  for (const filter::Entry& e : chain.entries()) names.push_back(e.name);
  ASSERT_EQ(names, (std::vector<std::string>{"ip_rules", "cors", "security_headers", "auth", "rbac",
                                             "rate_limit", "path_rewrite", "request_headers",
                                             "response_headers"}));

  const std::string raw =
      "GET /api/users/42 HTTP/1.1\r\nHost: x\r\nOrigin: https://app.test\r\nX-Api-Key: "
      "k-123\r\nX-Debug: 1\r\n\r\n";
  http::RequestHead head;
  http::RequestParser parser;
  ASSERT_EQ(parser.parse(raw, head), http::ParseStatus::kDone);
  const std::string path = "/api/users/42";
  router::MatchResult m;
  m.params[0] = {"id", std::string_view(path).substr(11)};
  m.param_count = 1;
  http::Header resp[] = {{"Server", "nginx"}, {"X-Powered-By", "php"}};
  const auth::IpAddress client = *auth::IpAddress::parse("127.0.0.1");
  testing::FakeServices services;
  filter::Context ctx;
  filter::Cursor cursor;
  auto one = [&] {
    ctx.reset();
    ctx.begin(head, path, &m, "all", client, "rid", nullptr, &services);
    ctx.clear_state(chain.state_bytes());
    ctx.set_keep_claims(chain.reads_claims());
    cursor.start(filter::Phase::kRequestHeaders);
    const filter::Status st = filter::run_phase(chain, ctx, cursor);
    ctx.set_response(200, resp, "127.0.0.1:2");
    cursor.start(filter::Phase::kResponseHeaders);
    filter::run_phase(chain, ctx, cursor);
    return st;
  };
  for (int i = 0; i < 3; ++i) ASSERT_EQ(one(), filter::Status::kContinue);  // capacities grow
  EXPECT_EQ(ctx.consumer(), "svc");
  EXPECT_EQ(ctx.path(), "/v2/users/42");
  EXPECT_EQ(ctx.request_header("x-who"), "svc");
  EXPECT_EQ(ctx.request_header("x-consumer"), "svc");
  EXPECT_NE(ctx.response_lines().find("RateLimit-Limit: 1000000000\r\n"), std::string::npos);
  EXPECT_NE(ctx.response_lines().find("Access-Control-Allow-Origin"), std::string::npos)
      << ctx.response_lines();

  const long before = sluice::testing::allocations();
  for (int i = 0; i < 100; ++i) one();
  EXPECT_EQ(sluice::testing::allocations() - before, 0);
}

}  // namespace
}  // namespace sluice::proxy
