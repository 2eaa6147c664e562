// Chains: defaults merged by name, `off`, priority order, per-phase lists, `when:`, state slots,
// pauses with timeouts, the JSON view, errors at their file:line:key, and no allocation per
// request through a chain without body filters.
#include "filter/chain.h"

#include <gtest/gtest.h>

#include "../alloc_counter.h"
#include "../filter_harness.h"

namespace sluice::filter {
namespace {

using testing::FilterHarness;

constexpr const char* kRoutes = R"(
filters:
  response_headers: {set: {x-default: "1"}}
  request_headers: {add: {x-d: d}}
routes:
  - name: plain
    match: {path: /plain}
    upstream: up
  - name: custom
    match: {path: "/c/{id}"}
    upstream: up
    filters:
      response_headers: {set: {x-route: "${status}"}}
      request_headers: off
      path_rewrite: {prefix: /c, to: /x}
      mock: {body: m, when: {methods: [POST], headers: {x-mock: "yes", x-any: ~}, path_prefix: /c/1}}
)";

std::vector<std::string> names(const Chain& c) {
  std::vector<std::string> out;
  for (const Entry& e : c.entries()) out.push_back(e.name);
  return out;
}

TEST(Chain, DefaultsMergedByNameAndOrderedByPriority) {
  FilterHarness h(kRoutes);
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  ASSERT_EQ(h.chains.size(), 2u);
  EXPECT_EQ(names(*h.chains[0]), (std::vector<std::string>{"request_headers", "response_headers"}));
  EXPECT_TRUE(h.chains[0]->entries()[0].from_default);
  EXPECT_EQ(names(*h.chains[1]),
            (std::vector<std::string>{"mock", "path_rewrite", "response_headers"}));
  EXPECT_FALSE(h.chains[1]->entries()[2].from_default);
  // Per-phase lists hold only the filters that implement the phase.
  EXPECT_EQ(h.chains[1]->phase(Phase::kRequestHeaders).size(), 2u);
  EXPECT_EQ(h.chains[1]->phase(Phase::kResponseHeaders).size(), 1u);
  EXPECT_TRUE(h.chains[1]->phase(Phase::kRequestBody).empty());
  EXPECT_TRUE(h.chains[1]->phase(Phase::kLog).empty());
  EXPECT_GE(h.chains[1]->state_bytes(), 1u);  // the mock's
}

TEST(Chain, WhenSelectsRequests) {
  FilterHarness h(kRoutes);
  h.route = 1;
  h.request(
      "POST /c/1 HTTP/1.1\r\nHost: x\r\nx-mock: yes\r\nx-any: 0\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kRespond);
  EXPECT_EQ(h.ctx.answer_body(), "m");
  for (const char* raw :
       {"GET /c/1 HTTP/1.1\r\nHost: x\r\nx-mock: yes\r\nx-any: 0\r\n\r\n",
        "POST /c/1 HTTP/1.1\r\nHost: x\r\nx-mock: no\r\nx-any: 0\r\n"
        "Content-Length: 0\r\n\r\n",
        "POST /c/1 HTTP/1.1\r\nHost: x\r\nx-mock: yes\r\nContent-Length: 0\r\n\r\n",
        "POST /c/2 HTTP/1.1\r\nHost: x\r\nx-mock: yes\r\nx-any: 0\r\n"
        "Content-Length: 0\r\n\r\n"}) {
    h.request(raw);
    EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kContinue) << raw;
    EXPECT_EQ(h.ctx.path(), std::string("/x") + std::string(h.ctx.matched_path()).substr(2));
  }
}

TEST(Chain, PauseResumesTheSameFilterAndTimeoutsAnswerOrContinue) {
  FilterHarness h(R"(
routes:
  - name: a
    match: {path: /a}
    upstream: up
    filters:
      mock: {body: late, delay: 250ms, timeout: 50ms, on_timeout: 504}
      request_headers: {set: {x-after: "1"}}
  - name: b
    match: {path: /b}
    upstream: up
    filters:
      mock: {body: late, delay: 250ms, timeout: 50ms, on_timeout: continue}
      request_headers: {set: {x-after: "1"}}
)");
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  h.request("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kPause);
  EXPECT_EQ(h.delays, (std::vector<uint64_t>{250}));
  const Entry* paused = h.cursor.paused(h.chain());
  ASSERT_NE(paused, nullptr);
  EXPECT_EQ(paused->name, "mock");
  EXPECT_EQ(paused->timeout_ms, 50u);
  // Resumed: the mock runs again and answers now.
  EXPECT_EQ(h.resume(), Status::kRespond);
  EXPECT_EQ(h.ctx.answer_body(), "late");
  // Timed out instead: the configured answer.
  h.request("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kPause);
  EXPECT_EQ(time_out(h.chain(), h.ctx, h.cursor), Status::kRespond);
  EXPECT_EQ(h.ctx.answer_status(), 504);
  EXPECT_STREQ(h.ctx.answer_reason(), "filter timeout");
  // on_timeout: continue goes on with the next filters.
  h.route = 1;
  h.request("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kPause);
  EXPECT_EQ(time_out(h.chain(), h.ctx, h.cursor), Status::kContinue);
  EXPECT_EQ(h.ctx.request_header("x-after"), "1");
}

TEST(Chain, DescribeShowsTheEffectiveChain) {
  FilterHarness h(kRoutes);
  ASSERT_TRUE(h.errors.empty());
  const std::string j = h.chains[1]->describe();
  EXPECT_NE(j.find(R"("name":"mock")"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("methods":["POST"])"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("path_prefix":"/c/1")"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("source":"route")"), std::string::npos) << j;
  EXPECT_NE(h.chains[0]->describe().find(R"("source":"default")"), std::string::npos);
}

TEST(Chain, ErrorsCarryFileLineAndKey) {
  FilterHarness h(R"(
filters:
  request_header: {set: {a: b}}
routes:
  - name: a
    match: {path: /a}
    upstream: up
    filters:
      mock: {body: x, when: {methods: [FETCH], path_prefix: "no-slash"}, timeout: soon}
      query: {bogus: 1}
)");
  std::vector<std::string> m = h.messages();
  ASSERT_EQ(m.size(), 5u) << ::testing::PrintToString(m);
  EXPECT_EQ(m[0],
            "test.yaml:8:3: filters.request_header: unknown filter 'request_header' (did you mean "
            "'request_headers'?)");
  EXPECT_NE(m[1].find("routes[0].filters.mock.when.methods[0]: method 'FETCH'"), std::string::npos)
      << m[1];
  EXPECT_NE(m[2].find("routes[0].filters.mock.when.path_prefix: must be a path"), std::string::npos)
      << m[2];
  EXPECT_NE(m[3].find("routes[0].filters.mock.timeout: expected a duration"), std::string::npos)
      << m[3];
  EXPECT_NE(m[4].find("test.yaml:15:15: routes[0].filters.query.bogus: unknown key 'bogus'"),
            std::string::npos)
      << m[4];
}

TEST(Chain, NoAllocationPerRequestWithoutBodyFilters) {
  FilterHarness h(R"(
routes:
  - name: a
    match: {path: "/api/users/{id}"}
    upstream: up
    filters:
      request_headers: {set: {x-user-id: "${path.id}", x-ip: "${client_ip}"}, add: {x-via: s}, remove: [x-debug]}
      path_rewrite: {regex: "^/api/users/([0-9]+)$", to: "/v2/users/$1"}
      query: {set: {version: "2"}, remove: [debug]}
      response_headers: {set: {x-served-by: sluice, x-status: "${status}"}, remove: [server]}
)");
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  const std::string raw =
      "GET /api/users/42?debug=1&a=b HTTP/1.1\r\nHost: x\r\nX-Debug: 1\r\nServer: s\r\n\r\n";
  http::Header resp[] = {{"Server", "nginx"}, {"Content-Type", "text/plain"}};
  auto one = [&] {
    h.request(raw);
    EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kContinue);
    h.ctx.set_response(200, resp, "10.0.0.1:80");
    EXPECT_EQ(h.run(Phase::kResponseHeaders), Status::kContinue);
  };
  for (int i = 0; i < 3; ++i) one();  // warm: capacities grow once
  EXPECT_EQ(h.ctx.path(), "/v2/users/42");
  EXPECT_EQ(h.ctx.query(), "a=b&version=2");
  h.ctx.reset();
  // The parse of the harness allocates its header vector; count only the chain.
  http::RequestParser parser;
  h.raw = raw;
  ASSERT_EQ(parser.parse(h.raw, h.head), http::ParseStatus::kDone);
  std::string path = "/api/users/42";
  router::MatchResult m;
  m.params[0] = {"id", std::string_view(path).substr(11)};
  m.param_count = 1;
  const long before = sluice::testing::allocations();
  for (int i = 0; i < 100; ++i) {
    h.ctx.reset();
    h.ctx.begin(h.head, path, &m, "a", *auth::IpAddress::parse("192.0.2.1"), "rid", &h);
    h.cursor.start(Phase::kRequestHeaders);
    run_phase(h.chain(), h.ctx, h.cursor);
    h.ctx.set_response(200, resp, "10.0.0.1:80");
    h.cursor.start(Phase::kResponseHeaders);
    run_phase(h.chain(), h.ctx, h.cursor);
  }
  EXPECT_EQ(sluice::testing::allocations(), before);
}

}  // namespace
}  // namespace sluice::filter
