// The rate-limit handover of a binary upgrade: every key's state (sliding sub-windows included)
// comes back in a new registry for the same route, policy and max_keys; other policies are
// dropped; a malformed text stops at its line.
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

}  // namespace
}  // namespace sluice::proxy
