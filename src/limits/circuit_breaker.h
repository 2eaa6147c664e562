// A circuit breaker shared by all workers (atomics only). Closed: requests pass and outcomes are
// counted in a rolling window. It opens when, over the window, at least min_requests finished
// and the failure share reached error_rate_percent, or after consecutive_failures failures in a
// row. Open: requests are rejected until open_ms has passed. Half-open: half_open_requests
// probes pass; all succeeding closes it, any failing re-opens it.
// Example:
//   CircuitBreaker b(settings);
//   auto d = b.allow(now);  if (d == Decision::kReject) answer 503;
//   ... b.on_result(ok, d == Decision::kProbe, now);
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>

namespace sluice::limits {

struct BreakerSettings {
  uint32_t error_rate_percent = 50;   // 1..100; 0 disables the rate rule
  uint32_t min_requests = 20;         // in the window, before the rate rule applies
  uint64_t window_ms = 10000;         // rolling window (10 buckets)
  uint32_t consecutive_failures = 0;  // 0 disables the consecutive rule
  uint64_t open_ms = 30000;           // cool-down before half-open
  uint32_t half_open_requests = 1;    // probes allowed while half-open
};

enum class BreakerState : uint8_t { kClosed, kOpen, kHalfOpen };
const char* breaker_state_name(BreakerState s);

class CircuitBreaker {
 public:
  enum class Decision : uint8_t { kAllow, kProbe, kReject };
  struct Transition {
    BreakerState from;
    BreakerState to;
  };

  explicit CircuitBreaker(const BreakerSettings& settings);

  // Well under a microsecond: a few relaxed atomic loads in the closed state.
  Decision allow(uint64_t now_ms);
  // Reports the outcome of a request that allow() let through. Returns the state change it
  // caused, if any (the caller logs and counts it).
  std::optional<Transition> on_result(bool success, bool probe, uint64_t now_ms);
  // A probe that was let through but never ran (request cancelled): frees its slot.
  void cancel_probe();

  BreakerState state(uint64_t now_ms) const;
  const BreakerSettings& settings() const { return settings_; }
  uint64_t opened_total() const { return opened_total_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kBuckets = 10;

  // One tenth of the window. `epoch` is the bucket's start time / bucket length; a bucket whose
  // epoch is stale is reset by whoever first moves it on (see touch_bucket()).
  struct Bucket {
    std::atomic<uint64_t> epoch{0};
    std::atomic<uint32_t> successes{0};
    std::atomic<uint32_t> failures{0};
  };

  // The whole state machine lives in one 64-bit word so that a reader never sees a state with
  // another state's data (e.g. "open" with the previous opening's time):
  //   bits 0-1   BreakerState
  //   kOpen:     bits 2-63 opened_at (ms)
  //   kHalfOpen: bits 2-31 probes let through, bits 32-61 probes that succeeded
  //   kClosed:   all other bits 0
  static constexpr uint64_t kStateMask = 3;
  static constexpr uint32_t kCountBits = 30;
  static constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
  static constexpr uint32_t kTakenShift = 2;
  static constexpr uint32_t kSucceededShift = 32;

  static BreakerState state_of(uint64_t w) { return static_cast<BreakerState>(w & kStateMask); }
  static uint64_t opened_at_of(uint64_t w) { return w >> 2; }
  static uint64_t taken_of(uint64_t w) { return (w >> kTakenShift) & kCountMask; }
  static uint64_t succeeded_of(uint64_t w) { return (w >> kSucceededShift) & kCountMask; }
  static uint64_t open_word(uint64_t now_ms);
  static uint64_t half_open_word(uint64_t taken, uint64_t succeeded);

  bool cool_down_over(uint64_t w, uint64_t now_ms) const;
  Bucket& touch_bucket(uint64_t now_ms);
  bool window_trips(uint64_t now_ms) const;
  void clear_window();
  std::optional<Transition> on_probe_result(bool success, uint64_t now_ms);

  // Read by every allow(); written only on transitions, so it gets a cache line of its own.
  alignas(64) std::atomic<uint64_t> word_{0};
  alignas(64) std::array<Bucket, kBuckets> buckets_;
  std::atomic<uint32_t> consecutive_{0};
  uint64_t bucket_ms_;
  uint64_t probes_;  // half_open_requests, clamped to [1, 2^30 - 1]
  BreakerSettings settings_;
  std::atomic<uint64_t> opened_total_{0};
};

}  // namespace sluice::limits
