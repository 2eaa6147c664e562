// A reload that changes a few routes of many takes the others as the snapshot in force compiled
// them (config::RouteReuse, build_snapshot's `previous`), and compiles again whatever may differ.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "config/config.h"
#include "http/method.h"
#include "proxy/runtime.h"
#include "proxy/snapshot.h"

namespace sluice::proxy {
namespace {

std::string routes_yaml(const std::string& head, const std::string& extra_route = "",
                        const std::string& r1_header = "one") {
  return "listeners: [{address: 127.0.0.1:18080}]\n" + head +
         "upstreams:\n  - {name: be, targets: [127.0.0.1:18081]}\nroutes:\n" +
         "  - name: r0\n    match: {path: \"/a/{*rest}\", methods: [GET]}\n    upstream: be\n"
         "    filters: {request_headers: {set: {x-r: zero}}}\n"
         "    rate_limits: [{name: ip, key: client_ip, limit: 5, period: 1s}]\n"
         "  - name: r1\n    match: {path: \"/b/{*rest}\"}\n    upstream: be\n"
         "    filters: {request_headers: {set: {x-r: " +
         r1_header + "}}}\n" + extra_route;
}

class SnapshotReuse : public ::testing::Test {
 protected:
  // Loads and builds `yaml` as a reload over the snapshot in force (if any) would.
  SnapshotResult reload(const std::string& yaml) {
    config::RouteReuse reuse;
    if (now_) reuse = reuse_of(*now_);
    config::LoadResult loaded = config::load_config_string(yaml, "t.yaml", now_ ? &reuse : nullptr);
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
    if (!loaded.ok()) return {};
    reused_ = 0;
    for (const config::RouteConfig& r : loaded.config->routes) reused_ += r.reuse >= 0 ? 1 : 0;
    ++version_;
    SnapshotResult r =
        build_snapshot(std::move(*loaded.config), version_, version_, registry_, {}, now_.get());
    if (r.snapshot) now_ = r.snapshot;
    return r;
  }
  const Route& route(const std::string& name) const {
    for (const Route& r : now_->routes) {
      if (r.name == name) return r;
    }
    throw std::runtime_error("no route " + name);
  }
  std::string routed(const std::string& path) const {
    router::MatchResult m = now_->router->match("x", http::Method::kGet, path, {});
    return m.status == router::MatchStatus::kFound ? std::string(now_->routes[m.route].name) : "";
  }

  RuntimeRegistry registry_;
  std::shared_ptr<const Snapshot> now_;
  uint64_t version_ = 0;
  int reused_ = 0;
};

TEST_F(SnapshotReuse, UnchangedRoutesAreTakenAsCompiledAndTheChangedOneIsCompiledAgain) {
  ASSERT_TRUE(reload(routes_yaml("")).snapshot);
  EXPECT_EQ(reused_, 0);
  const std::shared_ptr<const Snapshot> first = now_;
  ASSERT_TRUE(reload(routes_yaml("", "", "changed")).snapshot);
  EXPECT_EQ(reused_, 1);
  EXPECT_EQ(route("r0").chain, first->routes[0].chain);  // the same compiled filters
  EXPECT_EQ(route("r0").policies, first->routes[0].policies);
  EXPECT_NE(route("r1").chain, first->routes[1].chain);
  EXPECT_NE(route("r1").chain->describe().find("request_headers"), std::string::npos);
  EXPECT_EQ(now_->security, first->security);  // one copy of the credentials
  EXPECT_EQ(routed("/a/x"), "r0");
  EXPECT_EQ(routed("/b/x"), "r1");
}

TEST_F(SnapshotReuse, ARouteMovedOrWrittenElsewhereIsStillReusedAndANewOneJoinsTheRouter) {
  ASSERT_TRUE(reload(routes_yaml("")).snapshot);
  const std::shared_ptr<const Snapshot> first = now_;
  // r0 and r1 after a new route, r0 written in flow style on other lines: same content.
  const std::string moved =
      "listeners: [{address: 127.0.0.1:18080}]\n"
      "upstreams:\n  - {name: be, targets: [127.0.0.1:18081]}\nroutes:\n"
      "  - {name: r2, match: {path: /c}, upstream: be}\n"
      "  - name: r1\n    match: {path: \"/b/{*rest}\"}\n    upstream: be\n"
      "    filters: {request_headers: {set: {x-r: one}}}\n"
      "  - {name: r0, match: {path: \"/a/{*rest}\", methods: [GET]}, upstream: be, filters: "
      "{request_headers: {set: {x-r: zero}}}, rate_limits: [{name: ip, key: client_ip, limit: 5, "
      "period: 1s}]}\n";
  ASSERT_TRUE(reload(moved).snapshot);
  EXPECT_EQ(reused_, 2);
  EXPECT_EQ(route("r0").chain, first->routes[0].chain);
  EXPECT_EQ(route("r1").chain, first->routes[1].chain);
  EXPECT_EQ(routed("/a/x"), "r0");
  EXPECT_EQ(routed("/b/x"), "r1");
  EXPECT_EQ(routed("/c"), "r2");
  EXPECT_EQ(route("r0").metric_slot, first->routes[0].metric_slot);
}

TEST_F(SnapshotReuse, AReusedChainOutlivesTheSnapshotItWasBuiltFor) {
  ASSERT_TRUE(reload(routes_yaml("")).snapshot);
  std::weak_ptr<const Snapshot> first = now_;
  ASSERT_TRUE(reload(routes_yaml("", "", "two")).snapshot);
  ASSERT_TRUE(reload(routes_yaml("", "", "three")).snapshot);
  EXPECT_TRUE(first.expired());
  // The rate-limit filter's policies are shared with the Route, not viewed in the old table.
  ASSERT_NE(route("r0").policies, nullptr);
  EXPECT_EQ(route("r0").rate_limits()[0].name, "ip");
  EXPECT_NE(route("r0").chain->describe().find("\"ip\""), std::string::npos);
}

TEST_F(SnapshotReuse, AChangedContextCompilesEveryRouteAgain) {
  ASSERT_TRUE(reload(routes_yaml("")).snapshot);
  const std::shared_ptr<const Snapshot> first = now_;
  ASSERT_TRUE(reload(routes_yaml("limits: {max_body_bytes: 1000}\n")).snapshot);
  EXPECT_EQ(reused_, 0);
  EXPECT_NE(route("r0").chain, first->routes[0].chain);
  EXPECT_EQ(route("r0").max_body_bytes, 1000u);
  // Default filters are context too.
  ASSERT_TRUE(reload(routes_yaml("filters: {response_headers: {set: {x-d: 1}}}\n")).snapshot);
  EXPECT_EQ(reused_, 0);
  EXPECT_NE(route("r0").chain->describe().find("response_headers"), std::string::npos);
}

TEST_F(SnapshotReuse, ACredentialFileThatChangedIsPartOfTheContext) {
  const std::string pem = ::testing::TempDir() + "/reuse-secret";
  auto write = [&](const std::string& secret) { std::ofstream(pem) << secret; };
  const std::string head =
      "consumers:\n  - name: c\n    hmac_keys: [{key_id: k, secret_file: " + pem + "}]\n";
  const std::string sec_route =
      "  - name: r2\n    match: {path: /h}\n    upstream: be\n    security: {auth: {hmac: {}}}\n";
  write("0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(reload(routes_yaml(head, sec_route)).snapshot);
  ASSERT_TRUE(reload(routes_yaml(head, sec_route)).snapshot);
  EXPECT_EQ(reused_, 3);  // nothing changed
  write("fedcba9876543210fedcba9876543210");
  const std::shared_ptr<const Snapshot> before = now_;
  ASSERT_TRUE(reload(routes_yaml(head, sec_route)).snapshot);
  EXPECT_EQ(reused_, 0);
  EXPECT_NE(now_->security, before->security);
}

TEST_F(SnapshotReuse, ARouteWhoseFiltersReadAFileIsCompiledAtEveryReload) {
  const std::string file = ::testing::TempDir() + "/reuse-mock.json";
  std::ofstream(file) << "{\"v\": 1}";
  const std::string mock = "  - name: m\n    match: {path: /m}\n    mock: {file: " + file + "}\n";
  ASSERT_TRUE(reload(routes_yaml("", mock)).snapshot);
  EXPECT_EQ(route("m").fingerprint, 0u);
  EXPECT_NE(route("r0").fingerprint, 0u);
  const std::shared_ptr<const Snapshot> first = now_;
  ASSERT_TRUE(reload(routes_yaml("", mock)).snapshot);
  EXPECT_EQ(reused_, 2);  // r0 and r1, not m
  EXPECT_NE(route("m").chain, first->routes[2].chain);
}

TEST_F(SnapshotReuse, ChecksAcrossRoutesStillSeeReusedOnes) {
  ASSERT_TRUE(reload(routes_yaml("")).snapshot);
  // A new route with r0's name, and one with r1's path.
  config::RouteReuse reuse = reuse_of(*now_);
  config::LoadResult dup = config::load_config_string(
      routes_yaml("", "  - {name: r0, match: {path: /z}, upstream: be}\n"), "t.yaml", &reuse);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.errors[0].message.find("duplicate"), std::string::npos) << dup.errors[0].message;

  config::LoadResult same_path = config::load_config_string(
      routes_yaml("", "  - {name: r9, match: {path: \"/b/{*rest}\"}, upstream: be}\n"), "t.yaml",
      &reuse);
  ASSERT_TRUE(same_path.ok());
  SnapshotResult r = build_snapshot(std::move(*same_path.config), 9, 9, registry_, {}, now_.get());
  ASSERT_FALSE(r.snapshot);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].key, "routes[2].match.path") << r.errors[0].to_string();
}

TEST(Fingerprint, ContentCountsNotPlaceOrQuotes) {
  auto fp = [](const std::string& text) {
    return config::fingerprint(config::parse_document(text).root);
  };
  EXPECT_EQ(fp("{a: 1, b: [x, y]}"), fp("\n\na: 1\nb:\n  - x\n  - y\n"));
  EXPECT_EQ(fp("{a: 1}"), fp("{a: '1'}"));  // the schema walk reads both alike
  EXPECT_EQ(fp("{\"a\": \"x\"}"), fp("a: x"));
  EXPECT_NE(fp("{a: 1}"), fp("{a: 2}"));
  EXPECT_NE(fp("{a: 1}"), fp("{b: 1}"));
  EXPECT_NE(fp("{a: [x, y]}"), fp("{a: [y, x]}"));
  EXPECT_NE(fp("{a: {b: c}}"), fp("{a: [b, c]}"));
  EXPECT_NE(fp("{a: ~}"), fp("{a: '~'}"));
  const std::string_view skip[] = {"routes"};
  EXPECT_EQ(config::fingerprint(config::parse_document("{x: 1, routes: [a]}").root, skip),
            config::fingerprint(config::parse_document("{x: 1, routes: [b]}").root, skip));
  // A tree of aliases over aliases has no fingerprint (the walk would never end).
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'k'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [*" + static_cast<char>(c - 1) + ", *" +
            static_cast<char>(c - 1) + ", *" + static_cast<char>(c - 1) + "]\n";
  }
  EXPECT_EQ(fp(bomb), 0u);
}

}  // namespace
}  // namespace sluice::proxy
