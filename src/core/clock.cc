#include "core/clock.h"

#include <ctime>

namespace sluice::core {

uint64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void Clock::update() {
  timespec mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  now_us_ =
      static_cast<uint64_t>(mono.tv_sec) * 1000000 + static_cast<uint64_t>(mono.tv_nsec) / 1000;
  now_ms_ = now_us_ / 1000;
  timespec wall{};
  clock_gettime(CLOCK_REALTIME_COARSE, &wall);
  if (wall.tv_sec != date_second_) {
    date_second_ = wall.tv_sec;
    tm parts{};
    time_t secs = wall.tv_sec;
    gmtime_r(&secs, &parts);
    strftime(date_, sizeof(date_), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  }
}

}  // namespace sluice::core
