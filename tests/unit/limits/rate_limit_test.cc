#include "limits/rate_limit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

namespace sluice::limits {
namespace {

constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();

RateParams bucket(uint64_t limit, uint64_t period_ms, uint64_t burst = 0) {
  return RateParams{RateAlgorithm::kTokenBucket, limit, period_ms, burst};
}
RateParams fixed(uint64_t limit, uint64_t period_ms) {
  return RateParams{RateAlgorithm::kFixedWindow, limit, period_ms, 0};
}
RateParams sliding(uint64_t limit, uint64_t period_ms) {
  return RateParams{RateAlgorithm::kSlidingWindow, limit, period_ms, 0};
}

// ---- token bucket ----

TEST(TokenBucket, StartsFullAndDrains) {
  const RateParams p = bucket(10, 1000);
  RateState s = rate_init(p, 1000);
  EXPECT_TRUE(rate_idle(p, s, 1000));
  for (uint64_t i = 0; i < 10; ++i) {
    RateDecision d = rate_take(p, s, 1000);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 10u);
    EXPECT_EQ(d.remaining, 9 - i);
    EXPECT_EQ(d.reset_ms, (i + 1) * 100);  // 100 ms per missing token
    EXPECT_EQ(d.retry_after_ms, 0u);
  }
  RateDecision d = rate_take(p, s, 1000);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.reset_ms, 1000u);
  EXPECT_EQ(d.retry_after_ms, 100u);
  EXPECT_FALSE(rate_idle(p, s, 1000));
}

TEST(TokenBucket, RefillsContinuouslyWithFractions) {
  const RateParams p = bucket(10, 1000);
  RateState s = rate_init(p, 1000);
  for (int i = 0; i < 10; ++i) rate_take(p, s, 1000);
  // 250 ms = 2.5 tokens: two whole ones, half a token carried.
  RateDecision d = rate_take(p, s, 1250);
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 1u);
  EXPECT_EQ(d.reset_ms, 850u);  // 8.5 tokens missing
  ASSERT_TRUE(rate_take(p, s, 1250).allowed);
  d = rate_take(p, s, 1250);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ms, 50u);  // the other half of a token
  EXPECT_FALSE(rate_take(p, s, 1299).allowed);
  EXPECT_TRUE(rate_take(p, s, 1300).allowed);
  EXPECT_TRUE(rate_idle(p, s, 2300));
  EXPECT_FALSE(rate_idle(p, s, 2299));
}

TEST(TokenBucket, NoDriftOverManySmallSteps) {
  // 7 per second, asked every ms for 10 s after draining: exactly 70 pass.
  const RateParams p = bucket(7, 1000);
  RateState s = rate_init(p, 0);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(rate_take(p, s, 0).allowed);
  int allowed = 0;
  for (uint64_t t = 1; t <= 10000; ++t) allowed += rate_take(p, s, t).allowed;
  EXPECT_EQ(allowed, 70);
}

TEST(TokenBucket, BurstIsTheCapacity) {
  const RateParams p = bucket(10, 1000, 25);
  RateState s = rate_init(p, 0);
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(rate_take(p, s, 0).allowed);
  EXPECT_FALSE(rate_take(p, s, 0).allowed);
  RateDecision d = rate_take(p, s, 100);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reset_ms, 2500u);
  // Idle for a long time: back to 25, not more.
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(rate_take(p, s, 1000000).allowed);
  EXPECT_FALSE(rate_take(p, s, 1000000).allowed);
}

TEST(TokenBucket, CostAboveOne) {
  const RateParams p = bucket(10, 1000);
  RateState s = rate_init(p, 0);
  RateDecision d = rate_take(p, s, 0, 8);
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 2u);
  d = rate_take(p, s, 0, 3);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 2u);         // a denied request takes nothing
  EXPECT_EQ(d.retry_after_ms, 100u);  // one token short
  d = rate_take(p, s, 0, 11);         // above the capacity: never
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ms, 1000u);
  EXPECT_TRUE(rate_take(p, s, 0, 2).allowed);
}

TEST(TokenBucket, ClockGoingBackwardsRefillsNothing) {
  const RateParams p = bucket(10, 1000);
  RateState s = rate_init(p, 10000);
  for (int i = 0; i < 10; ++i) rate_take(p, s, 10000);
  EXPECT_FALSE(rate_take(p, s, 5000).allowed);
  EXPECT_EQ(rate_take(p, s, 5000).retry_after_ms, 100u);
  // Back to where it was: the interval 5000..10000 must not count.
  EXPECT_FALSE(rate_take(p, s, 10050).allowed);
  EXPECT_TRUE(rate_take(p, s, 10100).allowed);
}

TEST(TokenBucket, PeekDoesNotConsume) {
  const RateParams p = bucket(2, 1000);
  RateState s = rate_init(p, 0);
  RateDecision d = rate_peek(p, s, 0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 2u);
  EXPECT_EQ(d.reset_ms, 0u);
  rate_take(p, s, 0);
  rate_take(p, s, 0);
  d = rate_peek(p, s, 0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ms, 500u);
}

TEST(TokenBucket, HugeValues) {
  RateParams p = bucket(kMax64, 1);
  RateState s = rate_init(p, kMax64 - 10);
  EXPECT_TRUE(rate_take(p, s, kMax64, kMax64 - 1).allowed);
  EXPECT_TRUE(rate_take(p, s, kMax64).allowed);
  p = bucket(1, kMax64);
  s = rate_init(p, 0);
  EXPECT_TRUE(rate_take(p, s, 0).allowed);
  RateDecision d = rate_take(p, s, kMax64 - 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ms, 1u);
  EXPECT_TRUE(rate_take(p, s, kMax64).allowed);
  // limit * elapsed needs 128 bits
  p = bucket(uint64_t{1} << 40, 1000, uint64_t{1} << 50);
  s = rate_init(p, 0);
  EXPECT_TRUE(rate_take(p, s, 0, uint64_t{1} << 50).allowed);
  d = rate_take(p, s, uint64_t{1} << 30, 1);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, (uint64_t{1} << 50) - 1);
}

TEST(TokenBucket, PeriodZeroIsOneMs) {
  const RateParams p = bucket(1, 0);
  RateState s = rate_init(p, 0);
  EXPECT_TRUE(rate_take(p, s, 0).allowed);
  EXPECT_FALSE(rate_take(p, s, 0).allowed);
  EXPECT_TRUE(rate_take(p, s, 1).allowed);
}

// ---- fixed window ----

TEST(FixedWindow, LimitPerEpochAlignedWindow) {
  const RateParams p = fixed(3, 1000);
  RateState s = rate_init(p, 5200);
  for (uint64_t i = 0; i < 3; ++i) {
    RateDecision d = rate_take(p, s, 5200);
    ASSERT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 2 - i);
    EXPECT_EQ(d.reset_ms, 800u);  // the window is [5000, 6000)
  }
  RateDecision d = rate_take(p, s, 5999);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ms, 1u);
  EXPECT_EQ(d.reset_ms, 1u);
  EXPECT_FALSE(rate_idle(p, s, 5999));
  EXPECT_TRUE(rate_idle(p, s, 6000));
  d = rate_take(p, s, 6000);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 2u);
  EXPECT_EQ(d.reset_ms, 1000u);
}

TEST(FixedWindow, ClockGoingBackwards) {
  const RateParams p = fixed(2, 1000);
  RateState s = rate_init(p, 5500);
  rate_take(p, s, 5500);
  rate_take(p, s, 5500);
  RateDecision d = rate_take(p, s, 4900);  // an earlier window: still this one
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ms, 1000u);
  EXPECT_FALSE(rate_take(p, s, 5100).allowed);
  EXPECT_TRUE(rate_take(p, s, 6000).allowed);
}

TEST(FixedWindow, CostAndLoweredLimit) {
  RateParams p = fixed(10, 1000);
  RateState s = rate_init(p, 0);
  EXPECT_TRUE(rate_take(p, s, 0, 7).allowed);
  RateDecision d = rate_take(p, s, 0, 4);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 3u);
  EXPECT_TRUE(rate_take(p, s, 0, 3).allowed);
  EXPECT_EQ(rate_take(p, s, 10, 11).retry_after_ms, 1000u);  // never
  p.limit = 5;                                               // a reload lowered it below the count
  d = rate_take(p, s, 10);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.retry_after_ms, 990u);
}

TEST(FixedWindow, HugePeriod) {
  const RateParams p = fixed(1, kMax64);
  RateState s = rate_init(p, kMax64 - 1);
  EXPECT_TRUE(rate_take(p, s, kMax64 - 1).allowed);
  RateDecision d = rate_take(p, s, kMax64 - 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ms, 1u);
  EXPECT_TRUE(rate_take(p, s, kMax64).allowed);  // window 1 begins at 2^64 - 1
}

// ---- sliding window ----

// The most units admitted in any interval of `period` ms (admissions at whole ms).
uint64_t max_in_any_period(const std::vector<std::pair<uint64_t, uint64_t>>& admitted,
                           uint64_t period) {
  uint64_t best = 0;
  uint64_t in = 0;
  size_t first = 0;
  for (size_t i = 0; i < admitted.size(); ++i) {
    in += admitted[i].second;
    while (admitted[first].first + period <= admitted[i].first) in -= admitted[first++].second;
    best = std::max(best, in);
  }
  return best;
}

TEST(SlidingWindow, Geometry) {
  EXPECT_EQ(sliding_sub_ms(1000), 63u);  // 16 sub-windows of 63 ms cover a second
  EXPECT_EQ(sliding_span(1000), 16u);
  EXPECT_EQ(sliding_sub_ms(60000), 3750u);
  EXPECT_EQ(sliding_span(60000), 16u);
  EXPECT_EQ(sliding_sub_ms(4000), 250u);
  EXPECT_EQ(sliding_span(4000), 16u);
  EXPECT_EQ(sliding_sub_ms(10), 1u);  // short periods: 1 ms sub-windows
  EXPECT_EQ(sliding_span(10), 10u);
  EXPECT_EQ(sliding_sub_ms(0), 1u);
}

TEST(SlidingWindow, LimitThenRetryAPeriodAfterTheLastAdmission) {
  const RateParams p = sliding(10, 1000);
  RateState s = rate_init(p, 5000);
  for (uint64_t i = 0; i < 10; ++i) {
    RateDecision d = rate_take(p, s, 5000);
    ASSERT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 9 - i);
    EXPECT_EQ(d.reset_ms, 1001u);  // from 6001 the admissions at 5000 are a period old
  }
  RateDecision d = rate_take(p, s, 5500);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ms, 501u);
  EXPECT_FALSE(rate_take(p, s, 6000).allowed);
  d = rate_take(p, s, 6001);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 9u);
}

TEST(SlidingWindow, ASubWindowCountsUntilItsLastAdmissionLeaves) {
  const RateParams p = sliding(10, 1000);  // sub-windows of 63 ms: 5040..5102 is one
  RateState s = rate_init(p, 5040);
  for (int i = 0; i < 5; ++i) rate_take(p, s, 5040);
  for (int i = 0; i < 5; ++i) rate_take(p, s, 5090);
  // The five at 5040 are out of (6040, 7040] but their sub-window counts whole until the
  // five at 5090 leave too: never more than 10 in any second.
  EXPECT_FALSE(rate_take(p, s, 6041).allowed);
  RateDecision d = rate_take(p, s, 6091);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 9u);
}

TEST(SlidingWindow, BurstAtAWindowsEndThenAtTheNextsStart) {
  // What overshot by 48% with the weighted two-window estimate: a full burst just before a
  // period boundary and another right after it.
  const RateParams p = sliding(1000, 4000);
  RateState s = rate_init(p, 0);
  std::vector<std::pair<uint64_t, uint64_t>> admitted;
  for (uint64_t t = 3900; t < 4100; ++t) {
    for (int i = 0; i < 20; ++i) {
      if (rate_take(p, s, t).allowed) admitted.emplace_back(t, 1);
    }
  }
  EXPECT_EQ(admitted.size(), 1000u);
  EXPECT_EQ(max_in_any_period(admitted, 4000), 1000u);
  // Nothing more until the burst is a period old.
  const uint64_t last = admitted.back().first;
  EXPECT_FALSE(rate_take(p, s, last + 4000).allowed);
  EXPECT_TRUE(rate_take(p, s, last + 4001).allowed);
}

TEST(SlidingWindow, SaturatingLoadGetsMostOfTheLimitAndNeverMore) {
  for (uint64_t period : {1000u, 4000u, 60000u}) {
    const RateParams p = sliding(1000, period);
    RateState s = rate_init(p, 1234567);
    std::vector<std::pair<uint64_t, uint64_t>> admitted;
    const uint64_t start = 1234567;
    const uint64_t end = start + 9 * period;
    std::mt19937_64 rng(period);
    for (uint64_t t = start; t < end; t += 1 + rng() % (period / 500)) {
      while (rate_take(p, s, t).allowed) admitted.emplace_back(t, 1);
    }
    SCOPED_TRACE(period);
    EXPECT_EQ(max_in_any_period(admitted, period), 1000u);
    // After the first period every period gets nearly the limit.
    const double per_period = static_cast<double>(admitted.size() - 1000) /
                              (static_cast<double>(end - start) / period - 1);
    EXPECT_GE(per_period, 990.0) << per_period;
  }
}

TEST(SlidingWindow, IdleWhenEveryAdmissionIsAPeriodOld) {
  const RateParams p = sliding(5, 1000);
  RateState s = rate_init(p, 0);
  EXPECT_TRUE(rate_idle(p, s, 0));
  rate_take(p, s, 500);
  EXPECT_FALSE(rate_idle(p, s, 999));
  EXPECT_FALSE(rate_idle(p, s, 1500));
  EXPECT_TRUE(rate_idle(p, s, 1501));
  EXPECT_TRUE(rate_idle(p, s, 100000));
  RateDecision d = rate_take(p, s, 100000);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 4u);
}

TEST(SlidingWindow, ClockGoingBackwards) {
  const RateParams p = sliding(1, 1000);
  RateState s = rate_init(p, 5500);  // sub-window 87 (5481..5543)
  EXPECT_TRUE(rate_take(p, s, 5500).allowed);
  RateDecision d = rate_take(p, s, 3000);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ms, 6501u - 5481);  // seen as sub-window 87's start
  EXPECT_FALSE(rate_take(p, s, 6500).allowed);
  EXPECT_TRUE(rate_take(p, s, 6501).allowed);
}

TEST(SlidingWindow, AReloadKeepsTheCount) {
  RateParams p = sliding(10, 1000);
  RateState s = rate_init(p, 0);
  for (int i = 0; i < 8; ++i) rate_take(p, s, 100);
  p.limit = 5;  // lowered: nothing passes until the 8 are gone
  EXPECT_FALSE(rate_take(p, s, 200).allowed);
  p.limit = 10;
  p.period_ms = 2000;  // another sub-window length: the 8 count for a whole new period
  RateDecision d = rate_take(p, s, 300);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 1u);
  EXPECT_FALSE(rate_take(p, s, 300, 2).allowed);
  EXPECT_FALSE(rate_take(p, s, 2300, 2).allowed);
  EXPECT_TRUE(rate_take(p, s, 2301, 2).allowed);
}

// ---- all algorithms ----

TEST(RateLimit, LimitZeroDeniesAll) {
  for (RateAlgorithm a :
       {RateAlgorithm::kTokenBucket, RateAlgorithm::kSlidingWindow, RateAlgorithm::kFixedWindow}) {
    const RateParams p{a, 0, 1000, 5};
    RateState s = rate_init(p, 0);
    for (uint64_t t : {0, 1000, 100000}) {
      RateDecision d = rate_take(p, s, t);
      EXPECT_FALSE(d.allowed) << rate_algorithm_name(a);
      EXPECT_EQ(d.remaining, 0u);
      EXPECT_EQ(d.limit, 0u);
      EXPECT_EQ(d.retry_after_ms, 1000u);
    }
    EXPECT_TRUE(rate_idle(p, s, 0));
  }
}

TEST(RateLimit, HeaderSeconds) {
  RateDecision d{false, 10, 0, 1001, 1};
  EXPECT_EQ(reset_seconds(d), 2u);
  EXPECT_EQ(retry_after_seconds(d), 1u);
  d.retry_after_ms = 0;
  EXPECT_EQ(retry_after_seconds(d), 1u);
  d.retry_after_ms = 3000;
  EXPECT_EQ(retry_after_seconds(d), 3u);
  d.allowed = true;
  EXPECT_EQ(retry_after_seconds(d), 0u);
  EXPECT_STREQ(rate_algorithm_name(RateAlgorithm::kSlidingWindow), "sliding_window");
}

// Random traffic against every algorithm, checking the promises of the decision at each step by
// peeking at copies of the state: retry_after_ms is the first ms at which the request passes,
// reset_ms the first at which the full quota is back, and the limit is never exceeded.
TEST(RateLimit, RandomTrafficKeepsThePromises) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 300; ++round) {
    const auto algorithm = static_cast<RateAlgorithm>(rng() % 3);
    RateParams p{algorithm, 1 + rng() % 20, 1 + rng() % 2000, rng() % 2 ? 0 : 1 + rng() % 30};
    const uint64_t full = algorithm == RateAlgorithm::kTokenBucket && p.burst ? p.burst : p.limit;
    uint64_t now = rng() % 1000000;
    RateState s = rate_init(p, now);
    uint64_t allowed_in_window = 0;
    uint64_t window = now / p.period_ms;
    std::vector<std::pair<uint64_t, uint64_t>> admitted;  // (ms, units)
    for (int step = 0; step < 200; ++step) {
      now += rng() % 4 == 0 ? rng() % (2 * p.period_ms) : rng() % 3;
      const uint64_t cost = 1 + rng() % 3;
      if (now / p.period_ms != window) {
        window = now / p.period_ms;
        allowed_in_window = 0;
      }
      const RateState before = s;
      const RateDecision d = rate_take(p, s, now, cost);
      SCOPED_TRACE(::testing::Message()
                   << rate_algorithm_name(algorithm) << " limit " << p.limit << " period "
                   << p.period_ms << " burst " << p.burst << " now " << now << " cost " << cost);
      if (d.allowed) {
        allowed_in_window += cost;
        if (algorithm == RateAlgorithm::kFixedWindow) {
          ASSERT_LE(allowed_in_window, p.limit);
        } else if (algorithm == RateAlgorithm::kSlidingWindow) {
          admitted.emplace_back(now, cost);
          ASSERT_LE(max_in_any_period(admitted, p.period_ms), p.limit);
        }
        ASSERT_EQ(d.retry_after_ms, 0u);
      } else {
        RateState untouched = before;
        rate_take(p, untouched, now, 0);  // brought to `now`, nothing taken
        ASSERT_EQ(s.count, untouched.count);
        ASSERT_GE(d.retry_after_ms, 1u);
        if (cost <= full) {
          ASSERT_FALSE(rate_peek(p, s, now + d.retry_after_ms - 1, cost).allowed);
          ASSERT_TRUE(rate_peek(p, s, now + d.retry_after_ms, cost).allowed);
        }
      }
      ASSERT_LE(d.remaining, full);
      if (algorithm == RateAlgorithm::kFixedWindow) {
        ASSERT_EQ(d.reset_ms, p.period_ms - now % p.period_ms);  // the window's end
      } else if (d.reset_ms > 0) {
        ASSERT_LT(rate_peek(p, s, now + d.reset_ms - 1).remaining, full);
      } else {
        ASSERT_EQ(d.remaining, full);
      }
      ASSERT_EQ(rate_peek(p, s, now + d.reset_ms).remaining, full);
      // A full quota: remaining says what can pass at once.
      if (d.remaining > 0) {
        ASSERT_TRUE(rate_peek(p, s, now, d.remaining).allowed);
      }
      ASSERT_FALSE(rate_peek(p, s, now, d.remaining + 1).allowed);
    }
  }
}

}  // namespace
}  // namespace sluice::limits
