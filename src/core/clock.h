// Time as the worker sees it: one monotonic read per loop turn (cached), plus a cached IMF-fixdate
// string for Date headers that changes once per second.
// Example: uint64_t t = clock.now_ms(); out.append(clock.http_date());
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::core {

uint64_t monotonic_ms();
// Milliseconds since the Unix epoch (the wall clock: for records people read, never for timeouts).
uint64_t wall_ms();
// "2026-12-02T14:26:00.001Z" for milliseconds since the epoch.
std::string iso8601_utc(uint64_t time_ms);

class Clock {
 public:
  Clock() { update(); }
  // Re-reads the clocks; call once per loop turn.
  void update();
  uint64_t now_ms() const { return now_ms_; }
  uint64_t now_us() const { return now_us_; }
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  std::string_view http_date() const { return {date_, 29}; }

 private:
  uint64_t now_ms_ = 0;
  uint64_t now_us_ = 0;
  int64_t date_second_ = -1;
  char date_[32] = {};
};

}  // namespace sluice::core
