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
  // ... implementation-defined members (rolling buckets, atomics)
  BreakerSettings settings_;
  std::atomic<uint64_t> opened_total_{0};
};

}  // namespace sluice::limits
