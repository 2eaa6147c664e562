// Test helpers for filters: a config with routes and filters loaded from YAML, its chains built
// by the real factories, and a request context made from raw request bytes (the fake context:
// no connection, no upstream; a Driver that records resumes).
// Example:
//   FilterHarness h(R"(
//   routes:
//     - name: r
//       match: {path: "/u/{id}"}
//       respond: {status: 200}
//       filters: {request_headers: {set: {x-id: "${path.id}"}}}
//   )");
//   h.request("GET /u/7 HTTP/1.1\r\nHost: x\r\n\r\n");
//   EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kContinue);
//   EXPECT_EQ(h.ctx.request_header("x-id"), "7");
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "filter/chain.h"
#include "filter/context.h"
#include "filter/runner.h"
#include "filters/builtin.h"
#include "http/request_parser.h"
#include "router/path.h"
#include "router/router.h"

namespace sluice::testing {

class FilterHarness : public filter::Driver {
 public:
  // `body`: top-level `filters:` and `routes:` (listeners and an upstream are added).
  explicit FilterHarness(const std::string& body) {
    const std::string yaml =
        "listeners:\n  - address: 127.0.0.1:1\nupstreams:\n  - name: up\n    targets: "
        "[{address: 127.0.0.1:2}]\n" +
        body;
    config::LoadResult r = config::load_config_string(yaml, "test.yaml");
    errors = r.errors;
    if (!r.ok()) return;
    cfg = std::move(*r.config);
    chains = filter::build_chains(cfg, filters::builtin_factories(), &errors);
    std::vector<router::RouteSpec> specs;
    for (const config::RouteConfig& rc : cfg.routes) {
      router::RouteSpec s;
      s.name = rc.name;
      s.path = rc.path;
      specs.push_back(std::move(s));
    }
    router_ = router::Router::build(std::move(specs), nullptr);
  }

  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    for (const config::ConfigError& e : errors) out.push_back(e.to_string());
    return out;
  }

  // Parses `raw`, routes it and begins the context on the matched route's chain.
  void request(const std::string& raw_request) {
    raw = raw_request;
    http::RequestParser parser;
    ASSERT_EQ(parser.parse(raw, head), http::ParseStatus::kDone) << raw;
    bool ok = true;
    std::string_view path = router::normalize_path(head.path, scratch_, &ok);
    ASSERT_TRUE(ok);
    router::MatchResult m = router_->match(head.host, head.method, path, head.headers);
    ASSERT_EQ(m.status, router::MatchStatus::kFound) << head.path;
    route = m.route;
    ctx.reset();
    ctx.begin(head, path, &m, cfg.routes[route].name, *auth::IpAddress::parse("192.0.2.7"), "rid-1",
              this);
    ctx.clear_state(chain().state_bytes());
    cursor = {};
  }

  const filter::Chain& chain() const { return *chains[route]; }

  filter::Status run(filter::Phase p) {
    cursor.start(p);
    return filter::run_phase(chain(), ctx, cursor);
  }
  filter::Status resume() { return filter::run_phase(chain(), ctx, cursor); }

  void resume_chain() override { ++resumes; }
  void resume_chain_after(uint64_t ms) override { delays.push_back(ms); }

  config::Config cfg;
  std::vector<config::ConfigError> errors;
  std::vector<std::shared_ptr<const filter::Chain>> chains;
  std::string raw;
  http::RequestHead head;
  size_t route = 0;
  filter::Context ctx;
  filter::Cursor cursor;
  int resumes = 0;
  std::vector<uint64_t> delays;

 private:
  std::unique_ptr<router::Router> router_;
  std::string scratch_;
};

}  // namespace sluice::testing
