#include "balance/balancer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "test_pool.h"

namespace sluice::balance {
namespace {

constexpr Algorithm kAll[] = {
    Algorithm::kRoundRobin, Algorithm::kWeightedRoundRobin, Algorithm::kLeastConnections,
    Algorithm::kP2C,        Algorithm::kConsistentHash,     Algorithm::kRandom,
};

void print_shares(const char* what, const std::vector<double>& s) {
  std::printf("%-48s", what);
  for (double x : s) std::printf(" %.4f", x);
  std::printf("\n");
}

void expect_shares(const std::vector<double>& got, const std::vector<double>& want,
                   double tolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tolerance) << "target " << i;
  }
}

TEST(Algorithm, NamesRoundTrip) {
  for (Algorithm a : kAll) {
    std::optional<Algorithm> parsed = parse_algorithm(algorithm_name(a));
    ASSERT_TRUE(parsed.has_value()) << algorithm_name(a);
    EXPECT_EQ(*parsed, a);
  }
  EXPECT_EQ(parse_algorithm("round_robin"), Algorithm::kRoundRobin);
  EXPECT_EQ(parse_algorithm("weighted_round_robin"), Algorithm::kWeightedRoundRobin);
  EXPECT_EQ(parse_algorithm("least_connections"), Algorithm::kLeastConnections);
  EXPECT_EQ(parse_algorithm("p2c"), Algorithm::kP2C);
  EXPECT_EQ(parse_algorithm("consistent_hash"), Algorithm::kConsistentHash);
  EXPECT_EQ(parse_algorithm("random"), Algorithm::kRandom);
  EXPECT_EQ(parse_algorithm(""), std::nullopt);
  EXPECT_EQ(parse_algorithm("Round_Robin"), std::nullopt);
  EXPECT_EQ(parse_algorithm("round_robin "), std::nullopt);
  EXPECT_EQ(parse_algorithm("least_conn"), std::nullopt);
}

// ---- round_robin

TEST(RoundRobin, CyclesInOrderAndIgnoresWeights) {
  TestPool pool({5, 1, 1});
  auto b = make_balancer(Algorithm::kRoundRobin, pool.endpoints, 0);
  std::vector<uint8_t> all = pool.all();
  size_t first = b->pick(all, 0);
  for (size_t k = 1; k < 30; ++k) EXPECT_EQ(b->pick(all, 0), (first + k) % 3);
}

TEST(RoundRobin, SkipsIneligible) {
  TestPool pool({1, 1, 1, 1});
  auto b = make_balancer(Algorithm::kRoundRobin, pool.endpoints, 0);
  std::vector<uint8_t> mask = {1, 0, 1, 1};
  std::vector<size_t> seen;
  seen.reserve(9);
  for (int k = 0; k < 9; ++k) seen.push_back(b->pick(mask, 0));
  for (size_t k = 0; k < seen.size(); ++k) {
    EXPECT_NE(seen[k], 1u);
    if (k > 0) {
      size_t want = seen[k - 1] == 0 ? 2 : seen[k - 1] == 2 ? 3 : 0;
      EXPECT_EQ(seen[k], want) << "pick " << k;
    }
  }
}

TEST(RoundRobin, WorkersStartAtDifferentPlaces) {
  TestPool pool(std::vector<uint32_t>(8, 1));
  std::vector<uint8_t> all = pool.all();
  std::vector<int> first(8, 0);
  for (uint64_t seed = 0; seed < 64; ++seed) {
    ++first[make_balancer(Algorithm::kRoundRobin, pool.endpoints, seed)->pick(all, 0)];
  }
  int distinct = 0;
  for (int c : first) distinct += c > 0 ? 1 : 0;
  EXPECT_GE(distinct, 4);
}

// ---- weighted_round_robin

TEST(WeightedRoundRobin, SmoothInterleaving) {
  TestPool pool({5, 1, 1});
  auto b = make_balancer(Algorithm::kWeightedRoundRobin, pool.endpoints, 0);
  std::vector<uint8_t> all = pool.all();
  std::string got;
  for (int k = 0; k < 14; ++k) got.push_back(static_cast<char>('a' + b->pick(all, 0)));
  EXPECT_EQ(got, "aabacaaaabacaa");
}

TEST(WeightedRoundRobin, SharesFollowWeights) {
  TestPool pool({1, 2, 3});
  auto b = make_balancer(Algorithm::kWeightedRoundRobin, pool.endpoints, 0);
  std::vector<double> s = pool.shares(*b, pool.all(), 100000);
  print_shares("weighted_round_robin 1/2/3 shares:", s);
  expect_shares(s, {1.0 / 6, 2.0 / 6, 3.0 / 6}, 0.02);
  // Smooth WRR is exact over whole cycles: 99996 picks are 16666 cycles of 6.
  auto c = make_balancer(Algorithm::kWeightedRoundRobin, pool.endpoints, 0);
  std::vector<double> exact = pool.shares(*c, pool.all(), 99996);
  expect_shares(exact, {1.0 / 6, 2.0 / 6, 3.0 / 6}, 1e-9);
}

TEST(WeightedRoundRobin, IneligibleTargetsLeaveTheRotation) {
  TestPool pool({5, 1, 1});
  auto b = make_balancer(Algorithm::kWeightedRoundRobin, pool.endpoints, 0);
  std::vector<uint8_t> mask = {1, 0, 1};
  std::vector<double> s = pool.shares(*b, mask, 60000);
  expect_shares(s, {5.0 / 6, 0, 1.0 / 6}, 0.001);
}

// ---- least_connections

TEST(LeastConnections, PrefersTheIdleTarget) {
  TestPool pool({1, 1, 1});
  pool.set_active({5, 0, 3});
  auto b = make_balancer(Algorithm::kLeastConnections, pool.endpoints, 3);
  std::vector<uint8_t> all = pool.all();
  for (int k = 0; k < 1000; ++k) ASSERT_EQ(b->pick(all, 0), 1u);
  // The idle one ineligible: the next least loaded.
  std::vector<uint8_t> mask = {1, 0, 1};
  for (int k = 0; k < 100; ++k) ASSERT_EQ(b->pick(mask, 0), 2u);
}

TEST(LeastConnections, EqualCountsSpreadEvenly) {
  TestPool pool({1, 1, 1});
  pool.set_active({2, 2, 2});
  auto b = make_balancer(Algorithm::kLeastConnections, pool.endpoints, 0);
  std::vector<double> s = pool.shares(*b, pool.all(), 99999);
  expect_shares(s, {1.0 / 3, 1.0 / 3, 1.0 / 3}, 1e-9);  // strict rotation among ties
}

TEST(LeastConnections, AllIdleSharesEvenly) {
  TestPool pool({1, 2, 3});
  auto b = make_balancer(Algorithm::kLeastConnections, pool.endpoints, 0);
  std::vector<double> s = pool.shares(*b, pool.all(), 100000);
  print_shares("least_connections all idle, weights 1/2/3:", s);
  expect_shares(s, {1.0 / 3, 1.0 / 3, 1.0 / 3}, 0.02);
}

TEST(LeastConnections, CountsAreDividedByWeight) {
  TestPool pool({1, 4});
  pool.set_active({2, 6});  // 2/1 > 6/4
  auto b = make_balancer(Algorithm::kLeastConnections, pool.endpoints, 0);
  std::vector<uint8_t> all = pool.all();
  for (int k = 0; k < 100; ++k) ASSERT_EQ(b->pick(all, 0), 1u);
  pool.set_active({1, 6});  // 1/1 < 6/4
  for (int k = 0; k < 100; ++k) ASSERT_EQ(b->pick(all, 0), 0u);
}

TEST(LeastConnections, NegativeCountReadsAsIdle) {
  TestPool pool({1, 1});
  pool.set_active({-3, 1});
  auto b = make_balancer(Algorithm::kLeastConnections, pool.endpoints, 0);
  std::vector<uint8_t> all = pool.all();
  for (int k = 0; k < 10; ++k) ASSERT_EQ(b->pick(all, 0), 0u);
}

// Requests that stay in flight: least_connections keeps the counts level.
TEST(LeastConnections, KeepsInFlightCountsLevel) {
  TestPool pool({1, 1, 1, 1});
  auto b = make_balancer(Algorithm::kLeastConnections, pool.endpoints, 0);
  std::vector<uint8_t> all = pool.all();
  for (int k = 0; k < 400; ++k) pool.states[b->pick(all, 0)]->active.fetch_add(1);
  for (auto& st : pool.states) EXPECT_EQ(st->active.load(), 100);
}

// ---- p2c

TEST(P2C, AllIdleSharesEvenly) {
  TestPool pool({1, 2, 3});
  auto b = make_balancer(Algorithm::kP2C, pool.endpoints, 42);
  std::vector<double> s = pool.shares(*b, pool.all(), 100000);
  print_shares("p2c all idle, weights 1/2/3:", s);
  expect_shares(s, {1.0 / 3, 1.0 / 3, 1.0 / 3}, 0.02);
}

TEST(P2C, AvoidsTheBusyTarget) {
  TestPool pool({1, 1, 1, 1});
  pool.set_active({100, 2, 3, 1});
  auto b = make_balancer(Algorithm::kP2C, pool.endpoints, 7);
  std::vector<double> s = pool.shares(*b, pool.all(), 100000);
  print_shares("p2c active 100/2/3/1:", s);
  EXPECT_LT(s[0], 1.0 / 3);
  // The two choices are distinct, so the busiest target loses every comparison.
  EXPECT_EQ(s[0], 0.0);
  // The least busy one wins whenever it is drawn: 1/2 of the picks (drawn first or second).
  EXPECT_NEAR(s[3], 0.5, 0.02);
}

TEST(P2C, BusyTargetOfTwoIsNeverChosen) {
  TestPool pool({1, 1});
  pool.set_active({0, 50});
  auto b = make_balancer(Algorithm::kP2C, pool.endpoints, 1);
  std::vector<uint8_t> all = pool.all();
  for (int k = 0; k < 10000; ++k) ASSERT_EQ(b->pick(all, 0), 0u);
}

TEST(P2C, OnlyOneEligible) {
  TestPool pool({1, 1, 1, 1, 1});
  pool.set_active({0, 0, 9, 0, 0});
  auto b = make_balancer(Algorithm::kP2C, pool.endpoints, 1);
  std::vector<uint8_t> mask = {0, 0, 1, 0, 0};
  for (int k = 0; k < 1000; ++k) ASSERT_EQ(b->pick(mask, 0), 2u);
}

TEST(P2C, SeedsGiveDifferentSequences) {
  TestPool pool(std::vector<uint32_t>(16, 1));
  std::vector<uint8_t> all = pool.all();
  auto a = make_balancer(Algorithm::kP2C, pool.endpoints, 1);
  auto b = make_balancer(Algorithm::kP2C, pool.endpoints, 2);
  auto a2 = make_balancer(Algorithm::kP2C, pool.endpoints, 1);
  int same = 0;
  for (int k = 0; k < 1000; ++k) {
    size_t x = a->pick(all, 0);
    same += x == b->pick(all, 0) ? 1 : 0;
    ASSERT_EQ(x, a2->pick(all, 0));  // deterministic for a seed
  }
  EXPECT_LT(same, 200);
}

// ---- random

TEST(Random, SharesFollowWeights) {
  TestPool pool({1, 2, 3});
  auto b = make_balancer(Algorithm::kRandom, pool.endpoints, 11);
  std::vector<double> s = pool.shares(*b, pool.all(), 100000);
  print_shares("random 1/2/3 shares:", s);
  expect_shares(s, {1.0 / 6, 2.0 / 6, 3.0 / 6}, 0.02);
}

TEST(Random, SkewedWeights) {
  TestPool pool({1, 100, 7, 1, 41});
  auto b = make_balancer(Algorithm::kRandom, pool.endpoints, 13);
  std::vector<double> s = pool.shares(*b, pool.all(), 100000);
  expect_shares(s, {1.0 / 150, 100.0 / 150, 7.0 / 150, 1.0 / 150, 41.0 / 150}, 0.01);
}

TEST(Random, SharesFollowWeightsOfEligibleTargets) {
  TestPool pool({1, 2, 3, 4});
  auto b = make_balancer(Algorithm::kRandom, pool.endpoints, 12);
  std::vector<double> s = pool.shares(*b, {1, 0, 1, 1}, 100000);
  print_shares("random 1/-/3/4 shares:", s);
  expect_shares(s, {1.0 / 8, 0, 3.0 / 8, 4.0 / 8}, 0.02);
}

// ---- every algorithm

// Never an ineligible target, whatever the mask, the loads and the hashes.
TEST(AllAlgorithms, NeverPickIneligible) {
  std::mt19937_64 rng(12345);
  for (size_t n : {1, 2, 3, 7, 64, 300}) {
    std::vector<uint32_t> weights;
    for (size_t i = 0; i < n; ++i) weights.push_back(1 + static_cast<uint32_t>(rng() % 10));
    TestPool pool(weights);
    for (Algorithm a : kAll) {
      auto b = make_balancer(a, pool.endpoints, rng());
      std::vector<uint8_t> mask(n);
      for (int k = 0; k < 10000; ++k) {
        if (k % 100 == 0) {
          // A new mask every 100 picks; sometimes nearly all ineligible.
          uint64_t density = rng() % 4;
          size_t on = 0;
          for (size_t i = 0; i < n; ++i) {
            mask[i] = density == 0 ? (rng() % 16 == 0) : (rng() % 4 < density);
            on += mask[i];
          }
          if (on == 0) mask[rng() % n] = 1;
          for (auto& st : pool.states) st->active.store(static_cast<int32_t>(rng() % 20));
        }
        size_t t = b->pick(mask, rng());
        ASSERT_LT(t, n) << algorithm_name(a);
        ASSERT_TRUE(mask[t]) << algorithm_name(a) << " picked ineligible " << t << " of " << n;
      }
    }
  }
}

TEST(AllAlgorithms, SingleTarget) {
  TestPool pool({3});
  for (Algorithm a : kAll) {
    auto b = make_balancer(a, pool.endpoints, 5);
    for (int k = 0; k < 100; ++k) ASSERT_EQ(b->pick(pool.all(), k * 7919ULL), 0u);
  }
}

}  // namespace
}  // namespace sluice::balance
