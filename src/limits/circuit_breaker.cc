// Circuit breaker state machine. Every member is an atomic; allow(), on_result() and
// cancel_probe() never lock and never allocate.
//
// Races accepted by design (they cost at most a count or two, never a wrong state):
// - A bucket is reset by the thread that wins the CAS on its epoch and then zeroes its counts.
//   A result counted into the bucket between the CAS and the zeroing is lost.
// - clear_window() (on closing) zeroes the counts one by one; a result counted concurrently may
//   survive or be lost.
// - The rate rule sums the buckets without a snapshot, so a concurrent result may or may not be
//   part of the sum.
// - A probe result carries no episode: a probe of an earlier half-open period that reports late
//   counts towards the current one. Results of probes that report while the breaker is not
//   half-open are ignored.
#include "limits/circuit_breaker.h"

#include <algorithm>

namespace sluice::limits {

namespace {
constexpr uint64_t kTimeMask = (uint64_t{1} << 62) - 1;
}  // namespace

const char* breaker_state_name(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(const BreakerSettings& settings)
    : bucket_ms_(std::max<uint64_t>(1, settings.window_ms / kBuckets)),
      probes_(std::clamp<uint64_t>(settings.half_open_requests, 1, kCountMask)),
      settings_(settings) {}

uint64_t CircuitBreaker::open_word(uint64_t now_ms) {
  return ((now_ms & kTimeMask) << 2) | static_cast<uint64_t>(BreakerState::kOpen);
}

uint64_t CircuitBreaker::half_open_word(uint64_t taken, uint64_t succeeded) {
  return (succeeded << kSucceededShift) | (taken << kTakenShift) |
         static_cast<uint64_t>(BreakerState::kHalfOpen);
}

bool CircuitBreaker::cool_down_over(uint64_t w, uint64_t now_ms) const {
  // A worker whose cached clock is behind the one that opened the breaker sees "not yet".
  const uint64_t opened_at = opened_at_of(w);
  return now_ms >= opened_at && now_ms - opened_at >= settings_.open_ms;
}

CircuitBreaker::Decision CircuitBreaker::allow(uint64_t now_ms) {
  uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    switch (state_of(w)) {
      case BreakerState::kClosed:
        return Decision::kAllow;
      case BreakerState::kOpen:
        if (!cool_down_over(w, now_ms)) return Decision::kReject;
        // The first caller after the cool-down moves to half-open and takes the first probe.
        if (word_.compare_exchange_weak(w, half_open_word(1, 0), std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
          return Decision::kProbe;
        }
        break;
      case BreakerState::kHalfOpen:
        if (taken_of(w) >= probes_) return Decision::kReject;
        if (word_.compare_exchange_weak(w, w + (uint64_t{1} << kTakenShift),
                                        std::memory_order_acq_rel, std::memory_order_acquire)) {
          return Decision::kProbe;
        }
        break;
    }
  }
}

CircuitBreaker::Bucket& CircuitBreaker::touch_bucket(uint64_t now_ms) {
  const uint64_t cur = now_ms / bucket_ms_;
  Bucket& b = buckets_[cur % kBuckets];
  uint64_t e = b.epoch.load(std::memory_order_acquire);
  // A bucket from a later epoch (a worker whose clock is ahead) is counted into as is.
  if (e < cur && b.epoch.compare_exchange_strong(e, cur, std::memory_order_acq_rel)) {
    b.successes.store(0, std::memory_order_relaxed);
    b.failures.store(0, std::memory_order_relaxed);
  }
  return b;
}

bool CircuitBreaker::window_trips(uint64_t now_ms) const {
  if (settings_.error_rate_percent == 0) return false;
  const uint64_t cur = now_ms / bucket_ms_;
  uint64_t total = 0;
  uint64_t failures = 0;
  for (const Bucket& b : buckets_) {
    const uint64_t e = b.epoch.load(std::memory_order_acquire);
    if (e + kBuckets <= cur) continue;  // older than the window
    const uint64_t f = b.failures.load(std::memory_order_relaxed);
    failures += f;
    total += f + b.successes.load(std::memory_order_relaxed);
  }
  return total > 0 && total >= settings_.min_requests &&
         failures * 100 >= uint64_t{settings_.error_rate_percent} * total;
}

void CircuitBreaker::clear_window() {
  for (Bucket& b : buckets_) {
    b.successes.store(0, std::memory_order_relaxed);
    b.failures.store(0, std::memory_order_relaxed);
  }
}

std::optional<CircuitBreaker::Transition> CircuitBreaker::on_result(bool success, bool probe,
                                                                    uint64_t now_ms) {
  if (probe) return on_probe_result(success, now_ms);

  // Counted in every state: requests in flight when the breaker opened still report here, and
  // their outcomes are part of the window (they cannot close the breaker, though).
  Bucket& b = touch_bucket(now_ms);
  bool consecutive_trips = false;
  if (success) {
    b.successes.fetch_add(1, std::memory_order_relaxed);
    // Avoid a write to the shared line when there is nothing to reset.
    if (settings_.consecutive_failures != 0 && consecutive_.load(std::memory_order_relaxed) != 0) {
      consecutive_.store(0, std::memory_order_relaxed);
    }
  } else {
    b.failures.fetch_add(1, std::memory_order_relaxed);
    if (settings_.consecutive_failures != 0) {
      consecutive_trips = consecutive_.fetch_add(1, std::memory_order_relaxed) + 1 >=
                          settings_.consecutive_failures;
    }
  }

  uint64_t w = word_.load(std::memory_order_acquire);
  if (state_of(w) != BreakerState::kClosed) return std::nullopt;
  // A success can trip the rate rule too: it may be the request that reaches min_requests.
  if (!consecutive_trips && !window_trips(now_ms)) return std::nullopt;
  if (!word_.compare_exchange_strong(w, open_word(now_ms), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
    return std::nullopt;  // another thread made the transition
  }
  opened_total_.fetch_add(1, std::memory_order_relaxed);
  return Transition{BreakerState::kClosed, BreakerState::kOpen};
}

std::optional<CircuitBreaker::Transition> CircuitBreaker::on_probe_result(bool success,
                                                                          uint64_t now_ms) {
  uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if (state_of(w) != BreakerState::kHalfOpen) return std::nullopt;
    if (!success) {
      if (word_.compare_exchange_weak(w, open_word(now_ms), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        opened_total_.fetch_add(1, std::memory_order_relaxed);
        return Transition{BreakerState::kHalfOpen, BreakerState::kOpen};
      }
      continue;
    }
    const uint64_t succeeded = succeeded_of(w) + 1;
    if (succeeded >= probes_) {
      if (word_.compare_exchange_weak(w, 0, std::memory_order_acq_rel, std::memory_order_acquire)) {
        // What the window saw belongs to the incident that opened the breaker.
        clear_window();
        consecutive_.store(0, std::memory_order_relaxed);
        return Transition{BreakerState::kHalfOpen, BreakerState::kClosed};
      }
      continue;
    }
    if (word_.compare_exchange_weak(w, half_open_word(taken_of(w), succeeded),
                                    std::memory_order_acq_rel, std::memory_order_acquire)) {
      return std::nullopt;
    }
  }
}

void CircuitBreaker::cancel_probe() {
  uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    // Only slots that are taken and not yet reported can be handed back.
    if (state_of(w) != BreakerState::kHalfOpen || taken_of(w) <= succeeded_of(w)) return;
    if (word_.compare_exchange_weak(w, w - (uint64_t{1} << kTakenShift), std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      return;
    }
  }
}

BreakerState CircuitBreaker::state(uint64_t now_ms) const {
  const uint64_t w = word_.load(std::memory_order_acquire);
  const BreakerState s = state_of(w);
  if (s == BreakerState::kOpen && cool_down_over(w, now_ms)) return BreakerState::kHalfOpen;
  return s;
}

}  // namespace sluice::limits
