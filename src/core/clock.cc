#include "core/clock.h"

#include <cstdio>
#include <ctime>

namespace sluice::core {

uint64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

uint64_t wall_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

std::string iso8601_utc(uint64_t time_ms) {
  const time_t secs = static_cast<time_t>(time_ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(time_ms % 1000));
  return buf;
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
