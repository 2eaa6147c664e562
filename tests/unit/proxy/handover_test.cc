// The rate-limit handover of a binary upgrade: every key's state (sliding sub-windows included)
// comes back in a new registry for the same route, policy and max_keys; other policies are
// dropped; a malformed text stops at its line. The targets' health and ejections come back for
// the targets the new registry has.
#include "proxy/handover.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::proxy {
namespace {

using limits::RateAlgorithm;
using limits::RateParams;

TEST(Handover, CountersComeBackInTheNewRegistry) {
  const RateParams sliding{RateAlgorithm::kSlidingWindow, 10, 3'600'000, 0};
  const RateParams bucket{RateAlgorithm::kTokenBucket, 5, 3'600'000, 0};
  RuntimeRegistry old_registry;
  auto a = old_registry.rate_limit("api", "per-key", 1000);
  auto b = old_registry.rate_limit("api", "per-ip", 1000);
  const uint64_t now = 1'000'000;
  for (int i = 0; i < 7; ++i) a->store.take("alice", sliding, now + i);
  a->store.take(std::string("b\0b \n", 5), sliding, now);
  for (int i = 0; i < 5; ++i) b->store.take("10.0.0.1", bucket, now);
  const std::string text = encode_rate_limits(old_registry);

  RuntimeRegistry next;
  auto na = next.rate_limit("api", "per-key", 1000);
  auto nb = next.rate_limit("api", "per-ip", 500);  // max_keys changed: a new store, not restored
  std::string err;
  EXPECT_EQ(restore_rate_limits(text, next, &err), 2u);
  EXPECT_EQ(err, "");
  EXPECT_EQ(na->store.size(), 2u);
  EXPECT_EQ(nb->store.size(), 0u);
  // 7 of 10 taken before: 3 left, then refused
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(na->store.take("alice", sliding, now + 10).allowed);
  EXPECT_FALSE(na->store.take("alice", sliding, now + 11).allowed);
  EXPECT_TRUE(na->store.take(std::string("b\0b \n", 5), sliding, now + 12).allowed);
}

TEST(Handover, MalformedTextStopsAtItsLine) {
  RuntimeRegistry r;
  r.rate_limit("api", "p", 10);
  std::string err;
  EXPECT_EQ(restore_rate_limits("not a state\n", r, &err), 0u);
  EXPECT_NE(err.find("line 1"), std::string::npos) << err;
  err.clear();
  const std::string text = "sluice-state 1\nP 617069 70 10\nK 61 0 1 2 3\nK zz 0 1 2 3\n";
  EXPECT_EQ(restore_rate_limits(text, r, &err), 1u);
  EXPECT_NE(err.find("line 4"), std::string::npos) << err;
}

TEST(Handover, TargetsKeepTheirVerdictAndEjection) {
  RuntimeRegistry old_registry;
  auto down = old_registry.target("pool", "10.0.0.2:80");
  auto ejected = old_registry.target("pool", "10.0.0.3:80");
  auto gone = old_registry.target("old", "10.0.0.9:80");
  down->health = balance::Health::kUnhealthy;
  ejected->health = balance::Health::kHealthy;
  ejected->ejected_until_ms = 123456789;
  ejected->ejections = 3;
  ejected->consecutive_failures = 2;
  gone->health = balance::Health::kUnhealthy;
  const std::string text = encode_rate_limits(old_registry) + encode_targets(old_registry);

  RuntimeRegistry next;
  auto nd = next.target("pool", "10.0.0.2:80");
  auto ne = next.target("pool", "10.0.0.3:80");
  std::string err;
  EXPECT_EQ(restore_rate_limits(text, next, &err), 0u);  // skips the T lines
  EXPECT_EQ(err, "");
  EXPECT_EQ(restore_targets(text, next, &err), 2u);  // "old" is no longer configured
  EXPECT_EQ(err, "");
  EXPECT_EQ(nd->health.load(), balance::Health::kUnhealthy);
  EXPECT_EQ(ne->health.load(), balance::Health::kHealthy);
  EXPECT_EQ(ne->ejected_until_ms.load(), 123456789u);
  EXPECT_EQ(ne->ejections.load(), 3u);
  EXPECT_EQ(ne->consecutive_failures.load(), 2u);
  EXPECT_EQ(next.find_target("old", "10.0.0.9:80"), nullptr);

  EXPECT_EQ(restore_targets("sluice-state 1\nT 706f6f6c zz 2 0 0 0\n", next, &err), 0u);
  EXPECT_EQ(err, "line 2: malformed target");
}

}  // namespace
}  // namespace sluice::proxy
