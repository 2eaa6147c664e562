#include "proxy/runtime.h"

#include <gtest/gtest.h>

#include "proxy/snapshot.h"

namespace sluice::proxy {
namespace {

config::UpstreamConfig upstream(const std::string& name) {
  config::UpstreamConfig u;
  u.name = name;
  return u;
}

TEST(RuntimeRegistry, TargetStateSurvivesLookupsAndIsPrunedWhenUnused) {
  RuntimeRegistry reg;
  std::shared_ptr<balance::TargetState> a = reg.target("users", "10.0.0.1:80");
  a->ejections = 3;
  EXPECT_EQ(reg.target("users", "10.0.0.1:80").get(), a.get());
  EXPECT_NE(reg.target("other", "10.0.0.1:80").get(), a.get());
  a.reset();
  reg.prune();
  EXPECT_EQ(reg.target("users", "10.0.0.1:80")->ejections.load(), 0u);  // a fresh one
}

TEST(RuntimeRegistry, UpstreamRuntimeKeptUnlessBreakerSettingsChange) {
  RuntimeRegistry reg;
  config::UpstreamConfig u = upstream("users");
  u.breaker.enabled = true;
  std::shared_ptr<UpstreamRuntime> first = reg.upstream(u);
  ASSERT_NE(first->breaker, nullptr);
  first->retries = 7;
  EXPECT_EQ(reg.upstream(u).get(), first.get());
  u.breaker.min_requests = 99;
  std::shared_ptr<UpstreamRuntime> second = reg.upstream(u);
  EXPECT_NE(second.get(), first.get());
  EXPECT_EQ(second->breaker->settings().min_requests, 99u);
  u.breaker.enabled = false;
  EXPECT_EQ(reg.upstream(u)->breaker, nullptr);
}

TEST(RuntimeRegistry, PerTargetBreakerOnlyWhenAsked) {
  RuntimeRegistry reg;
  config::UpstreamConfig u = upstream("users");
  EXPECT_EQ(reg.target_breaker(u, "a:1"), nullptr);
  u.breaker.enabled = true;
  EXPECT_EQ(reg.target_breaker(u, "a:1"), nullptr);
  u.breaker.per_target = true;
  auto b = reg.target_breaker(u, "a:1");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(reg.target_breaker(u, "a:1"), b);
  EXPECT_NE(reg.target_breaker(u, "b:1"), b);
}

TEST(Snapshot, ReloadKeepsStateOfUnchangedTargets) {
  RuntimeRegistry reg;
  auto load = [&](uint32_t weight_b) {
    config::Config cfg;
    cfg.source_file = "t.yaml";
    config::UpstreamConfig u = upstream("users");
    config::TargetConfig a;
    a.address = *config::parse_address("127.0.0.1:9001");
    config::TargetConfig b;
    b.address = *config::parse_address("127.0.0.1:9002");
    b.weight = weight_b;
    u.targets = {a, b};
    cfg.upstreams.push_back(u);
    config::RouteConfig r;
    r.name = "all";
    r.path = "/{*rest}";
    r.upstream = "users";
    cfg.routes.push_back(r);
    return build_snapshot(cfg, 1, 1, reg, {});
  };
  SnapshotResult one = load(1);
  ASSERT_TRUE(one.snapshot) << (one.errors.empty() ? "" : one.errors[0].to_string());
  one.snapshot->upstreams[0].targets[0].state->ejections = 2;
  SnapshotResult two = load(5);
  ASSERT_TRUE(two.snapshot);
  EXPECT_EQ(two.snapshot->upstreams[0].targets[0].state->ejections.load(), 2u);
  EXPECT_EQ(two.snapshot->upstreams[0].targets[1].weight, 5u);
  EXPECT_EQ(two.snapshot->upstreams[0].algorithm, balance::Algorithm::kWeightedRoundRobin);
  EXPECT_EQ(two.snapshot->upstreams[0].targets[0].address_keys[0], "127.0.0.1:9001");
}

TEST(Snapshot, HostNameTargetsTakeAddressesFromTheBook) {
  RuntimeRegistry reg;
  config::Config cfg;
  config::UpstreamConfig u = upstream("svc");
  config::TargetConfig t;
  t.address.host = "svc.test";
  t.address.port = 8080;
  t.address.text = "svc.test:8080";
  u.targets = {t};
  cfg.upstreams.push_back(u);
  AddressBook book;
  net::SocketAddress a;
  std::string err;
  ASSERT_TRUE(net::resolve_address("127.0.0.2", 1, &a, &err));
  book["svc.test"] = {a};
  SnapshotResult r = build_snapshot(cfg, 1, 1, reg, book);
  ASSERT_TRUE(r.snapshot);
  const Target& target = r.snapshot->upstreams[0].targets[0];
  ASSERT_EQ(target.address_keys.size(), 1u);
  EXPECT_EQ(target.address_keys[0], "127.0.0.2:8080");  // the configured port, not the book's
  SnapshotResult unresolved = build_snapshot(cfg, 1, 1, reg, {});
  ASSERT_TRUE(unresolved.snapshot);
  EXPECT_TRUE(unresolved.snapshot->upstreams[0].targets[0].addresses.empty());
  EXPECT_EQ(target_host_names(cfg).size(), 1u);
}

}  // namespace
}  // namespace sluice::proxy
