// Driving a core::EventLoop from a unit test: until a condition holds (with a deadline), or for
// a while. Header-only; include it in any test binary.
// Example:
//   ASSERT_TRUE(sluice::test::run_until(loop, [&] { return done; }));
#pragma once

#include <chrono>

#include "core/event_loop.h"

namespace sluice::test {

using Clock = std::chrono::steady_clock;

template <class Pred>
bool run_until(core::EventLoop& loop, Pred pred, int timeout_ms = 5000) {
  auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (Clock::now() > end) return false;
    loop.run_once(5);
  }
  return true;
}

inline void run_for(core::EventLoop& loop, int ms) {
  auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) loop.run_once(5);
}

}  // namespace sluice::test
