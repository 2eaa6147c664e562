#include "limits/retry_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <vector>

namespace sluice::limits {
namespace {

constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();

TEST(RetryBudget, PercentOfRequestsInFlight) {
  RetryBudget budget(20, 3);
  for (int i = 0; i < 100; ++i) budget.request_started();
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(budget.try_start_retry()) << i;
  EXPECT_FALSE(budget.try_start_retry());
  EXPECT_EQ(budget.rejected(), 1u);
  budget.retry_finished();
  EXPECT_TRUE(budget.try_start_retry());
  EXPECT_FALSE(budget.try_start_retry());
  EXPECT_EQ(budget.rejected(), 2u);
  for (int i = 0; i < 20; ++i) budget.retry_finished();
  for (int i = 0; i < 100; ++i) budget.request_finished();

  // Back to zero: with no requests only min_concurrent retries pass, and with 100 requests again
  // exactly 20.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(budget.try_start_retry());
  EXPECT_FALSE(budget.try_start_retry());
  for (int i = 0; i < 3; ++i) budget.retry_finished();
  for (int i = 0; i < 100; ++i) budget.request_started();
  int ok = 0;
  for (int i = 0; i < 30; ++i) ok += budget.try_start_retry() ? 1 : 0;
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(budget.rejected(), 3u + 10u);
}

TEST(RetryBudget, MinConcurrentWhenFewRequests) {
  RetryBudget budget(20, 3);
  for (int i = 0; i < 5; ++i) budget.request_started();  // 20% of 5 = 1 < 3
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(budget.try_start_retry());
  EXPECT_FALSE(budget.try_start_retry());
  EXPECT_EQ(budget.rejected(), 1u);
}

TEST(RetryBudget, ZeroMinAndNoRequestsAllowsNothing) {
  RetryBudget budget(20, 0);
  EXPECT_FALSE(budget.try_start_retry());
  for (int i = 0; i < 4; ++i) budget.request_started();  // 20% of 4 rounds down to 0
  EXPECT_FALSE(budget.try_start_retry());
  budget.request_started();
  EXPECT_TRUE(budget.try_start_retry());
  EXPECT_EQ(budget.rejected(), 2u);
}

TEST(RetryBudget, ExactUnderConcurrency) {
  for (int round = 0; round < 20; ++round) {
    RetryBudget budget(20, 3);
    for (int i = 0; i < 100; ++i) budget.request_started();
    constexpr int kThreads = 8;
    constexpr int kTries = 10;
    std::atomic<int> granted{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        while (!go.load(std::memory_order_acquire)) {
        }
        for (int i = 0; i < kTries; ++i) granted.fetch_add(budget.try_start_retry() ? 1 : 0);
      });
    }
    go.store(true, std::memory_order_release);
    for (auto& th : threads) th.join();
    EXPECT_EQ(granted.load(), 20);
    EXPECT_EQ(budget.rejected(), uint64_t{kThreads * kTries - 20});
  }
}

TEST(RetryBudget, CountersReturnToZeroUnderChurn) {
  RetryBudget budget(50, 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        budget.request_started();
        if (budget.try_start_retry()) budget.retry_finished();
        budget.request_finished();
      }
    });
  }
  for (auto& th : threads) th.join();
  // With nothing in flight exactly min_concurrent retries pass.
  EXPECT_TRUE(budget.try_start_retry());
  EXPECT_FALSE(budget.try_start_retry());
}

TEST(EjectionMs, DoublesUpToTheCap) {
  EXPECT_EQ(ejection_ms(1, 30000, 300000), 30000u);
  EXPECT_EQ(ejection_ms(2, 30000, 300000), 60000u);
  EXPECT_EQ(ejection_ms(3, 30000, 300000), 120000u);
  EXPECT_EQ(ejection_ms(4, 30000, 300000), 240000u);
  EXPECT_EQ(ejection_ms(5, 30000, 300000), 300000u);
  EXPECT_EQ(ejection_ms(6, 30000, 300000), 300000u);
  EXPECT_EQ(ejection_ms(9, 1000, 256000), 256000u);   // exactly 2^8 * base
  EXPECT_EQ(ejection_ms(9, 1000, 1000000), 256000u);  // not capped
}

TEST(EjectionMs, NoOverflowForLargeN) {
  for (uint32_t n : {63u, 64u, 65u, 100u, 1000u, std::numeric_limits<uint32_t>::max()}) {
    EXPECT_EQ(ejection_ms(n, 30000, 300000), 300000u) << n;
    EXPECT_EQ(ejection_ms(n, 1, kMax64), n <= 64 ? uint64_t{1} << (n - 1) : kMax64) << n;
  }
  EXPECT_EQ(ejection_ms(2, kMax64 / 2 + 1, kMax64), kMax64);
  EXPECT_EQ(ejection_ms(3, 1ull << 62, kMax64), kMax64);
}

TEST(EjectionMs, EdgeCases) {
  EXPECT_EQ(ejection_ms(0, 30000, 300000), 30000u);    // read as n = 1
  EXPECT_EQ(ejection_ms(1, 500000, 300000), 300000u);  // base above the cap
  EXPECT_EQ(ejection_ms(10, 0, 300000), 0u);
}

TEST(BackoffMs, WithinBounds) {
  std::mt19937_64 rng(42);
  for (uint32_t attempt = 1; attempt <= 200; ++attempt) {
    const uint64_t cap = attempt <= 8 ? std::min<uint64_t>(25ull << (attempt - 1), 3000) : 3000;
    for (int i = 0; i < 200; ++i) {
      const uint64_t v = backoff_ms(attempt, 25, 3000, rng());
      ASSERT_LE(v, cap) << attempt;
      ASSERT_LE(v, 3000u);
    }
    EXPECT_EQ(backoff_ms(attempt, 25, 3000, 0), 0u);
    EXPECT_EQ(backoff_ms(attempt, 25, 3000, kMax64), cap);
  }
}

TEST(BackoffMs, NoOverflowForLargeValues) {
  EXPECT_LE(backoff_ms(std::numeric_limits<uint32_t>::max(), 25, 3000, kMax64), 3000u);
  EXPECT_EQ(backoff_ms(100, kMax64, kMax64, 12345), 12345u);
  EXPECT_EQ(backoff_ms(1, kMax64 - 1, kMax64, kMax64), kMax64 - 1);
  EXPECT_EQ(backoff_ms(1, 0, 3000, kMax64), 0u);
  EXPECT_EQ(backoff_ms(1, 25, 0, kMax64), 0u);
}

TEST(BackoffMs, DistributionFollowsTheRandomInput) {
  std::mt19937_64 rng(7);
  constexpr int kSamples = 100000;
  constexpr uint64_t kCap = 800;  // attempt 4, base 100
  std::vector<int> histogram(kCap + 1, 0);
  double sum = 0;
  for (int i = 0; i < kSamples; ++i) {
    const uint64_t v = backoff_ms(4, 100, 10000, rng());
    ASSERT_LE(v, kCap);
    ++histogram[v];
    sum += static_cast<double>(v);
  }
  // Full jitter: uniform over [0, cap], mean cap / 2.
  EXPECT_NEAR(sum / kSamples, kCap / 2.0, 8.0);
  // Each tenth of the range gets about a tenth of the samples.
  for (uint64_t decile = 0; decile < 10; ++decile) {
    int n = 0;
    for (uint64_t v = decile * 80; v < (decile + 1) * 80; ++v) n += histogram[v];
    EXPECT_NEAR(n, kSamples / 10, kSamples / 50) << decile;
  }
  // Monotone in the random input.
  EXPECT_LT(backoff_ms(4, 100, 10000, kMax64 / 4), backoff_ms(4, 100, 10000, kMax64 / 4 * 3));
  EXPECT_EQ(backoff_ms(4, 100, 10000, kMax64 / 2), 400u);
}

}  // namespace
}  // namespace sluice::limits
