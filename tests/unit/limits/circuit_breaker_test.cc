#include "limits/circuit_breaker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstring>
#include <thread>
#include <vector>

namespace sluice::limits {
namespace {

using Decision = CircuitBreaker::Decision;

BreakerSettings rate_settings() {
  BreakerSettings s;
  s.error_rate_percent = 50;
  s.min_requests = 20;
  s.window_ms = 10000;
  s.consecutive_failures = 0;
  s.open_ms = 30000;
  s.half_open_requests = 1;
  return s;
}

// Reports `n` outcomes at `now` through allow(), as a worker would.
void report(CircuitBreaker& b, int n, bool success, uint64_t now) {
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(b.allow(now), Decision::kAllow);
    ASSERT_FALSE(b.on_result(success, false, now).has_value());
  }
}

// Opens `b` (rate settings) at `now` and checks the transition.
void open_breaker(CircuitBreaker& b, uint64_t now) {
  report(b, 19, false, now);
  auto t = b.on_result(false, false, now);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::kClosed);
  EXPECT_EQ(t->to, BreakerState::kOpen);
}

TEST(CircuitBreaker, StateNames) {
  EXPECT_STREQ(breaker_state_name(BreakerState::kClosed), "closed");
  EXPECT_STREQ(breaker_state_name(BreakerState::kOpen), "open");
  EXPECT_STREQ(breaker_state_name(BreakerState::kHalfOpen), "half_open");
}

TEST(CircuitBreaker, StaysClosedUnderMinRequests) {
  CircuitBreaker b(rate_settings());
  report(b, 19, false, 1000);
  EXPECT_EQ(b.state(1000), BreakerState::kClosed);
  EXPECT_EQ(b.allow(1000), Decision::kAllow);
  EXPECT_EQ(b.opened_total(), 0u);
}

TEST(CircuitBreaker, OpensAtRateThresholdExactly) {
  CircuitBreaker b(rate_settings());
  report(b, 11, true, 1000);
  report(b, 9, false, 1000);  // 9 of 20: 45%
  report(b, 1, false, 1000);  // 10 of 21: 47.6%
  EXPECT_EQ(b.state(1000), BreakerState::kClosed);
  ASSERT_EQ(b.allow(1000), Decision::kAllow);
  auto t = b.on_result(false, false, 1000);  // 11 of 22: exactly 50%
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::kClosed);
  EXPECT_EQ(t->to, BreakerState::kOpen);
  EXPECT_EQ(b.state(1000), BreakerState::kOpen);
  EXPECT_EQ(b.allow(1000), Decision::kReject);
  EXPECT_EQ(b.opened_total(), 1u);
}

TEST(CircuitBreaker, OpensExactlyAtMinRequests) {
  CircuitBreaker b(rate_settings());
  report(b, 10, true, 500);
  report(b, 9, false, 500);
  auto t = b.on_result(false, false, 500);  // 10 of 20
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, BreakerState::kOpen);
}

TEST(CircuitBreaker, SuccessThatReachesMinRequestsOpens) {
  CircuitBreaker b(rate_settings());
  report(b, 19, false, 500);
  auto t = b.on_result(true, false, 500);  // 19 of 20 failed
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, BreakerState::kOpen);
}

TEST(CircuitBreaker, RateRuleDisabledByZero) {
  BreakerSettings s = rate_settings();
  s.error_rate_percent = 0;
  CircuitBreaker b(s);
  report(b, 100, false, 500);
  EXPECT_EQ(b.state(500), BreakerState::kClosed);
}

TEST(CircuitBreaker, OldBucketsExpire) {
  CircuitBreaker b(rate_settings());  // 10 buckets of 1000 ms
  report(b, 15, false, 0);
  // 9999 ms later the first bucket is still in the window...
  {
    CircuitBreaker c(rate_settings());
    report(c, 15, false, 0);
    report(c, 4, false, 9999);
    auto t = c.on_result(false, false, 9999);
    ASSERT_TRUE(t.has_value());
  }
  // ...at 10000 ms it is not, and its slot starts afresh for epoch 10: 19 failures of 40 stay
  // under 50%; the 15 old failures, if counted, would make it 34 of 55.
  report(b, 21, true, 10000);
  report(b, 19, false, 10000);
  EXPECT_EQ(b.state(10000), BreakerState::kClosed);
  // Once the failing bucket leaves, successes alone never open it.
  report(b, 30, true, 20500);
  EXPECT_EQ(b.state(20500), BreakerState::kClosed);
  EXPECT_EQ(b.opened_total(), 0u);
}

TEST(CircuitBreaker, ConsecutiveRule) {
  BreakerSettings s = rate_settings();
  s.min_requests = 1000;  // rate rule out of the way
  s.consecutive_failures = 5;
  CircuitBreaker b(s);
  report(b, 4, false, 100);
  report(b, 1, true, 100);  // resets the run
  report(b, 4, false, 100);
  EXPECT_EQ(b.state(100), BreakerState::kClosed);
  ASSERT_EQ(b.allow(100), Decision::kAllow);
  auto t = b.on_result(false, false, 100);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::kClosed);
  EXPECT_EQ(t->to, BreakerState::kOpen);
  EXPECT_EQ(b.opened_total(), 1u);
}

TEST(CircuitBreaker, OpenRejectsDuringCoolDown) {
  CircuitBreaker b(rate_settings());
  open_breaker(b, 1000);
  for (uint64_t now : {1000u, 2000u, 30999u}) {
    EXPECT_EQ(b.state(now), BreakerState::kOpen) << now;
    EXPECT_EQ(b.allow(now), Decision::kReject) << now;
  }
  // Reported half-open once the cool-down is over, before any allow() moved it.
  EXPECT_EQ(b.state(31000), BreakerState::kHalfOpen);
  // A worker whose cached clock is behind still sees it open.
  EXPECT_EQ(b.state(999), BreakerState::kOpen);
  EXPECT_EQ(b.allow(31000), Decision::kProbe);
  EXPECT_EQ(b.allow(31000), Decision::kReject);
  EXPECT_EQ(b.state(31000), BreakerState::kHalfOpen);
}

TEST(CircuitBreaker, InFlightResultsWhileOpenDoNotTransition) {
  CircuitBreaker b(rate_settings());
  open_breaker(b, 1000);
  EXPECT_FALSE(b.on_result(false, false, 1001).has_value());
  EXPECT_FALSE(b.on_result(true, false, 1001).has_value());
  EXPECT_EQ(b.state(1001), BreakerState::kOpen);
  EXPECT_EQ(b.opened_total(), 1u);
}

TEST(CircuitBreaker, HalfOpenClosesAfterNSuccesses) {
  BreakerSettings s = rate_settings();
  s.half_open_requests = 3;
  CircuitBreaker b(s);
  open_breaker(b, 1000);
  const uint64_t now = 31000;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(b.allow(now), Decision::kProbe);
  EXPECT_EQ(b.allow(now), Decision::kReject);
  // Successes of non-probe requests (in flight since before the opening) cannot close it.
  EXPECT_FALSE(b.on_result(true, false, now).has_value());
  EXPECT_FALSE(b.on_result(true, false, now).has_value());
  EXPECT_FALSE(b.on_result(true, false, now).has_value());
  EXPECT_EQ(b.state(now), BreakerState::kHalfOpen);

  EXPECT_FALSE(b.on_result(true, true, now).has_value());
  EXPECT_FALSE(b.on_result(true, true, now).has_value());
  EXPECT_EQ(b.state(now), BreakerState::kHalfOpen);
  auto t = b.on_result(true, true, now);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::kHalfOpen);
  EXPECT_EQ(t->to, BreakerState::kClosed);
  EXPECT_EQ(b.state(now), BreakerState::kClosed);
  EXPECT_EQ(b.allow(now), Decision::kAllow);
  // The window was cleared: the 20 failures at 1000 ms are still inside it by time, yet 19
  // more failures do not reach min_requests.
  report(b, 19, false, 1500);
  EXPECT_EQ(b.state(1500), BreakerState::kClosed);
  EXPECT_EQ(b.opened_total(), 1u);
}

TEST(CircuitBreaker, ProbeFailureReopensWithFreshCoolDown) {
  BreakerSettings s = rate_settings();
  s.half_open_requests = 2;
  CircuitBreaker b(s);
  open_breaker(b, 1000);
  ASSERT_EQ(b.allow(40000), Decision::kProbe);
  ASSERT_EQ(b.allow(40000), Decision::kProbe);
  EXPECT_FALSE(b.on_result(true, true, 40000).has_value());
  auto t = b.on_result(false, true, 40001);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::kHalfOpen);
  EXPECT_EQ(t->to, BreakerState::kOpen);
  EXPECT_EQ(b.opened_total(), 2u);
  EXPECT_EQ(b.state(40001 + 29999), BreakerState::kOpen);
  EXPECT_EQ(b.allow(40001 + 29999), Decision::kReject);
  EXPECT_EQ(b.state(70001), BreakerState::kHalfOpen);
  // A fresh half-open period: all slots and no successes carried over.
  ASSERT_EQ(b.allow(70001), Decision::kProbe);
  ASSERT_EQ(b.allow(70001), Decision::kProbe);
  EXPECT_EQ(b.allow(70001), Decision::kReject);
  EXPECT_FALSE(b.on_result(true, true, 70001).has_value());
  auto c = b.on_result(true, true, 70002);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->to, BreakerState::kClosed);
}

TEST(CircuitBreaker, StaleProbeResultsAreIgnored) {
  CircuitBreaker b(rate_settings());
  EXPECT_FALSE(b.on_result(false, true, 10).has_value());
  EXPECT_EQ(b.state(10), BreakerState::kClosed);
  open_breaker(b, 1000);
  EXPECT_FALSE(b.on_result(true, true, 1001).has_value());
  EXPECT_EQ(b.state(1001), BreakerState::kOpen);
}

TEST(CircuitBreaker, CancelProbeFreesASlot) {
  CircuitBreaker b(rate_settings());
  open_breaker(b, 1000);
  ASSERT_EQ(b.allow(31000), Decision::kProbe);
  EXPECT_EQ(b.allow(31000), Decision::kReject);
  b.cancel_probe();
  EXPECT_EQ(b.allow(31000), Decision::kProbe);
  EXPECT_EQ(b.allow(31000), Decision::kReject);
  // Cancelling when no slot is taken changes nothing.
  b.cancel_probe();
  b.cancel_probe();
  EXPECT_EQ(b.allow(31000), Decision::kProbe);
  EXPECT_EQ(b.allow(31000), Decision::kReject);
  b.cancel_probe();  // nothing in flight now: no slot is created
  auto t = b.on_result(true, true, 31000);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, BreakerState::kClosed);
  b.cancel_probe();  // closed: no effect
  EXPECT_EQ(b.allow(31000), Decision::kAllow);
}

TEST(CircuitBreaker, HalfOpenLetsExactlyNProbesThroughConcurrently) {
  BreakerSettings s = rate_settings();
  s.half_open_requests = 3;
  for (int round = 0; round < 20; ++round) {
    CircuitBreaker b(s);
    open_breaker(b, 1000);
    constexpr int kThreads = 8;
    std::atomic<int> probes{0};
    std::atomic<int> rejects{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        while (!go.load(std::memory_order_acquire)) {
        }
        for (int i = 0; i < 4; ++i) {
          Decision d = b.allow(31000);
          EXPECT_NE(d, Decision::kAllow);
          (d == Decision::kProbe ? probes : rejects).fetch_add(1);
        }
      });
    }
    go.store(true, std::memory_order_release);
    for (auto& th : threads) th.join();
    EXPECT_EQ(probes.load(), 3);
    EXPECT_EQ(rejects.load(), kThreads * 4 - 3);
  }
}

// Four workers hammer one breaker with a deterministic outcome pattern in three phases:
// mostly succeeding, all failing, all succeeding. Each keeps its own cached clock, derived from
// its iteration, so the workers' clocks drift apart a little as real ones do.
TEST(CircuitBreaker, ManyThreads) {
  BreakerSettings s;
  s.error_rate_percent = 50;
  s.min_requests = 20;
  s.window_ms = 1000;
  s.open_ms = 50;
  s.half_open_requests = 2;
  CircuitBreaker b(s);

  constexpr int kThreads = 4;
  constexpr int kPhase = 10000;  // iterations; 10 per simulated ms
  std::barrier sync(kThreads);
  std::atomic<uint64_t> probes{0};
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> opens{0};
  std::atomic<uint64_t> closes{0};
  std::atomic<uint64_t> trips{0};  // closed -> open

  auto worker = [&](int id) {
    for (int phase = 0; phase < 3; ++phase) {
      sync.arrive_and_wait();
      for (int i = phase * kPhase; i < (phase + 1) * kPhase; ++i) {
        const uint64_t now = static_cast<uint64_t>(i / 10);
        const bool success = phase == 2 || (phase == 0 && (i + id) % 4 != 0);
        const Decision d = b.allow(now);
        if (d == Decision::kReject) continue;
        (d == Decision::kProbe ? probes : allowed).fetch_add(1, std::memory_order_relaxed);
        if (auto t = b.on_result(success, d == Decision::kProbe, now)) {
          EXPECT_NE(t->from, t->to);
          (t->to == BreakerState::kOpen ? opens : closes).fetch_add(1);
          if (t->from == BreakerState::kClosed) trips.fetch_add(1);
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();

  // Every half-open period ends in exactly one transition (re-open or close) and lets at most
  // half_open_requests probes through. (Probes in flight at once may exceed it: a probe of a
  // period that a failing probe ended can still be running when the next period starts.)
  EXPECT_GE(probes.load(), 1u);
  EXPECT_LE(probes.load(), 2 * (opens.load() - trips.load() + closes.load()));
  EXPECT_GE(b.opened_total(), 1u);
  EXPECT_EQ(b.opened_total(), opens.load());
  EXPECT_GE(closes.load(), 1u);
  // Every trip of a closed breaker was followed by a closing: the last phase only succeeds and
  // lasts far longer than the cool-down, so it ends closed.
  EXPECT_EQ(trips.load(), closes.load());
  EXPECT_EQ(b.state(3 * kPhase / 10), BreakerState::kClosed);
  EXPECT_EQ(b.allow(3 * kPhase / 10), Decision::kAllow);
  EXPECT_GT(allowed.load(), 0u);
}

}  // namespace
}  // namespace sluice::limits
