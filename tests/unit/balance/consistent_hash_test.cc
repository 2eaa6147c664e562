// consistent_hash (Maglev): shares, stability under target changes, determinism.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "balance/balancer.h"
#include "test_pool.h"

namespace sluice::balance {
namespace {

constexpr size_t kKeys = 100000;

const std::vector<uint64_t>& key_hashes() {
  static const std::vector<uint64_t> hashes = [] {
    std::vector<uint64_t> h;
    h.reserve(kKeys);
    for (size_t i = 0; i < kKeys; ++i) h.push_back(hash_key("client-" + std::to_string(i)));
    return h;
  }();
  return hashes;
}

TEST(ConsistentHash, SharesFollowWeights) {
  TestPool pool({1, 2, 3});
  auto b = make_balancer(Algorithm::kConsistentHash, pool.endpoints, 0);
  std::vector<double> s = pool.shares(*b, pool.all(), kKeys, &key_hashes());
  std::printf("consistent_hash 1/2/3 shares over %zu keys: %.4f %.4f %.4f\n", kKeys, s[0], s[1],
              s[2]);
  EXPECT_NEAR(s[0], 1.0 / 6, 0.02);
  EXPECT_NEAR(s[1], 2.0 / 6, 0.02);
  EXPECT_NEAR(s[2], 3.0 / 6, 0.02);
}

TEST(ConsistentHash, SkewedWeights) {
  TestPool pool({1, 10, 1, 50});
  auto b = make_balancer(Algorithm::kConsistentHash, pool.endpoints, 0);
  std::vector<double> s = pool.shares(*b, pool.all(), kKeys, &key_hashes());
  EXPECT_NEAR(s[0], 1.0 / 62, 0.005);
  EXPECT_NEAR(s[1], 10.0 / 62, 0.01);
  EXPECT_NEAR(s[2], 1.0 / 62, 0.005);
  EXPECT_NEAR(s[3], 50.0 / 62, 0.02);
}

TEST(ConsistentHash, EqualWeightsShareEvenly) {
  TestPool pool(std::vector<uint32_t>(10, 1));
  auto b = make_balancer(Algorithm::kConsistentHash, pool.endpoints, 0);
  std::vector<double> s = pool.shares(*b, pool.all(), kKeys, &key_hashes());
  for (size_t i = 0; i < s.size(); ++i) EXPECT_NEAR(s[i], 0.1, 0.02) << i;
}

TEST(ConsistentHash, SameKeySameTargetInEveryWorker) {
  TestPool pool({1, 1, 2, 1, 3});
  // Workers build their own balancer with their own seed; the table must not depend on it.
  auto a = make_balancer(Algorithm::kConsistentHash, pool.endpoints, 1);
  auto b = make_balancer(Algorithm::kConsistentHash, pool.endpoints, 99);
  std::vector<uint8_t> all = pool.all();
  for (uint64_t h : key_hashes()) ASSERT_EQ(a->pick(all, h), b->pick(all, h));
  // Repeated picks of one key do not drift.
  for (int k = 0; k < 100; ++k) ASSERT_EQ(a->pick(all, 12345), a->pick(all, 12345));
}

// Adding a 5th target to 4 takes about 1/5 of the keys, nearly all of them to the new target.
TEST(ConsistentHash, AddingATargetMovesAboutAFifth) {
  TestPool pool({1, 1, 1, 1, 1});
  std::span<const Endpoint> four(pool.endpoints.data(), 4);
  auto b4 = make_balancer(Algorithm::kConsistentHash, four, 0);
  auto b5 = make_balancer(Algorithm::kConsistentHash, pool.endpoints, 0);
  std::vector<uint8_t> all4(4, 1);
  std::vector<uint8_t> all5(5, 1);
  size_t moved = 0;
  size_t moved_elsewhere = 0;
  for (uint64_t h : key_hashes()) {
    size_t before = b4->pick(all4, h);
    size_t after = b5->pick(all5, h);
    if (before != after) {
      ++moved;
      if (after != 4) ++moved_elsewhere;
    }
  }
  double share = static_cast<double>(moved) / kKeys;
  std::printf("consistent_hash 4 -> 5 targets: moved %.4f of %zu keys (%zu not to the new one)\n",
              share, kKeys, moved_elsewhere);
  EXPECT_GE(share, 0.15);
  EXPECT_LE(share, 0.25);
  // Maglev is not perfectly minimal: the new target takes slots the old ones would have claimed,
  // so they claim a few others instead, and a few keys move between old targets (Maglev paper,
  // section 5.3). Over 50 different sets of target keys this was at most 3.1% of the moved keys
  // (here 0.5%); keys on a target that only becomes ineligible never move (next test).
  EXPECT_LE(static_cast<double>(moved_elsewhere), 0.05 * static_cast<double>(moved));
}

TEST(ConsistentHash, IneligibleTargetOnlyMovesItsOwnKeys) {
  TestPool pool({1, 1, 1, 1, 1});
  auto b = make_balancer(Algorithm::kConsistentHash, pool.endpoints, 0);
  std::vector<uint8_t> all = pool.all();
  std::vector<uint8_t> without2 = {1, 1, 0, 1, 1};
  std::vector<size_t> received(5, 0);
  size_t on2 = 0;
  for (uint64_t h : key_hashes()) {
    size_t before = b->pick(all, h);
    size_t after = b->pick(without2, h);
    ASSERT_NE(after, 2u);
    if (before == 2) {
      ++on2;
      ++received[after];
    } else {
      ASSERT_EQ(before, after) << "a key of a healthy target moved";
    }
  }
  std::printf("consistent_hash target 2 down: its %zu keys went %zu/%zu/-/%zu/%zu\n", on2,
              received[0], received[1], received[3], received[4]);
  // Its keys spread over the others rather than all landing on one neighbour.
  for (size_t i : {0, 1, 3, 4}) {
    EXPECT_NEAR(static_cast<double>(received[i]) / static_cast<double>(on2), 0.25, 0.02) << i;
  }
}

TEST(ConsistentHash, FallbackWalksToAnEligibleTarget) {
  TestPool pool({1, 1, 1, 1000});
  auto b = make_balancer(Algorithm::kConsistentHash, pool.endpoints, 0);
  // Only the lightest target eligible: it owns few slots, yet every key finds it.
  std::vector<uint8_t> mask = {1, 0, 0, 0};
  for (size_t i = 0; i < 1000; ++i) ASSERT_EQ(b->pick(mask, key_hashes()[i]), 0u);
}

}  // namespace
}  // namespace sluice::balance
