#include "core/timer_wheel.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace sluice::core {
namespace {

struct Recorder : Timer {
  std::vector<uint64_t>* fired = nullptr;
  uint64_t* now = nullptr;
  int count = 0;
  void on_timer() override {
    ++count;
    if (fired) fired->push_back(*now);
  }
};

TEST(TimerWheel, FiresAtDeadlineNotBefore) {
  uint64_t now = 1000;
  TimerWheel wheel(now);
  std::vector<uint64_t> fired;
  Recorder t;
  t.fired = &fired;
  t.now = &now;
  wheel.schedule(t, 1250);
  EXPECT_TRUE(t.armed());
  for (now = 1000; now < 1250; ++now) wheel.advance(now);
  EXPECT_TRUE(fired.empty());
  now = 1250;
  wheel.advance(now);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0], 1250u);
  EXPECT_FALSE(t.armed());
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheel, CancelAndReschedule) {
  TimerWheel wheel(0);
  Recorder a;
  Recorder b;
  wheel.schedule(a, 100);
  wheel.schedule(b, 100);
  wheel.cancel(a);
  wheel.schedule(b, 5000);  // re-arm moves it
  wheel.advance(4999);
  EXPECT_EQ(a.count, 0);
  EXPECT_EQ(b.count, 0);
  wheel.advance(5000);
  EXPECT_EQ(b.count, 1);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheel, PastDeadlineFiresOnNextAdvance) {
  TimerWheel wheel(500);
  Recorder t;
  wheel.schedule(t, 10);
  wheel.advance(500);
  EXPECT_EQ(t.count, 1);
}

TEST(TimerWheel, LongRangeAcrossLevels) {
  // Timers at every level (ms, s, minutes, hours) fire at their exact tick when advanced in
  // irregular jumps.
  uint64_t now = 12345;
  TimerWheel wheel(now);
  std::mt19937_64 rng(7);
  std::vector<Recorder> timers(500);
  std::vector<uint64_t> deadlines;
  std::vector<std::vector<uint64_t>> fired(timers.size());
  for (size_t i = 0; i < timers.size(); ++i) {
    uint64_t range = uint64_t{1} << (rng() % 27);  // up to ~37 hours
    uint64_t at = now + rng() % range;
    deadlines.push_back(at);
    timers[i].fired = &fired[i];
    timers[i].now = &now;
    wheel.schedule(timers[i], at);
  }
  uint64_t end = now + (uint64_t{1} << 27);
  while (now < end) {
    now += 1 + rng() % 5000;
    wheel.advance(now);
  }
  for (size_t i = 0; i < timers.size(); ++i) {
    ASSERT_EQ(fired[i].size(), 1u) << i;
    // Fired in the advance() call that covered the deadline: never early, at most one jump late.
    EXPECT_GE(fired[i][0], deadlines[i]);
    EXPECT_LE(fired[i][0], deadlines[i] + 5000);
  }
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheel, NextTimeoutBoundsTheWait) {
  TimerWheel wheel(0);
  EXPECT_EQ(wheel.next_timeout_ms(), -1);
  Recorder t;
  wheel.schedule(t, 30);
  EXPECT_EQ(wheel.next_timeout_ms(), 30);
  wheel.schedule(t, 100000);
  int wait = wheel.next_timeout_ms();
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 64);
}

struct Rearming : Timer {
  TimerWheel* wheel = nullptr;
  int count = 0;
  void on_timer() override {
    if (++count < 3) wheel->schedule(*this, 0);  // due "now": must not loop within one tick
  }
};

TEST(TimerWheel, TimerRearmedWhileFiringRunsOnLaterTick) {
  TimerWheel wheel(0);
  Rearming t;
  t.wheel = &wheel;
  wheel.schedule(t, 5);
  wheel.advance(5);
  EXPECT_EQ(t.count, 1);  // re-armed for "now" while firing: lands on the next tick
  wheel.advance(6);
  EXPECT_EQ(t.count, 2);
  wheel.advance(7);
  EXPECT_EQ(t.count, 3);
  wheel.advance(100);
  EXPECT_EQ(t.count, 3);
}

TEST(TimerWheel, DestroyedTimerUnlinksItself) {
  TimerWheel wheel(0);
  {
    Recorder t;
    wheel.schedule(t, 10);
    EXPECT_EQ(wheel.size(), 1u);
  }
  EXPECT_EQ(wheel.size(), 0u);
  wheel.advance(100);
}

}  // namespace
}  // namespace sluice::core
