// Rate-limit arithmetic. All of it is integer: the token bucket keeps whole tokens plus a
// remainder in 1/period_ms of a token, so refill is exact (no drift however often it is called),
// and the sliding window compares estimate * period against limit * period so that no division
// rounds a decision. Products of two 64-bit inputs are taken in 128 bits and results saturate,
// so that huge limits and periods (config "unlimited" as 2^64-1) stay correct.
#include "limits/rate_limit.h"

#include <algorithm>
#include <limits>

namespace sluice::limits {

namespace {

using u128 = unsigned __int128;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

uint64_t period_of(const RateParams& p) {
  return p.period_ms == 0 ? 1 : p.period_ms;
}

uint64_t capacity_of(const RateParams& p) {
  return p.burst > 0 ? p.burst : p.limit;
}

uint64_t saturate(u128 v) {
  return v > kMax ? kMax : static_cast<uint64_t>(v);
}

uint64_t ceil_div(u128 n, uint64_t d) {
  return saturate(n / d + (n % d != 0));
}

uint64_t sat_add(uint64_t a, uint64_t b) {
  return a > kMax - b ? kMax : a + b;
}

// Only reachable with counts and periods near 2^64 (a reload that lowered a huge limit).
u128 sat_add(u128 a, u128 b) {
  return a > ~u128{0} - b ? ~u128{0} : a + b;
}

// ---- token bucket ----------------------------------------------------------------------------

// Brings the bucket to now_ms. The stamp never moves backwards: a clock that jumps back and
// forth again must not refill the same interval twice.
void refill(const RateParams& p, RateState& s, uint64_t now_ms) {
  const uint64_t period = period_of(p);
  const uint64_t cap = capacity_of(p);
  if (s.count >= cap) {  // full, or the capacity was lowered by a reload
    s.count = cap;
    s.carry = 0;
    s.time = std::max(s.time, now_ms);
    return;
  }
  const uint64_t elapsed = now_ms > s.time ? now_ms - s.time : 0;
  if (elapsed == 0 && s.carry < period) return;  // the hot path of a busy key
  uint64_t whole;
  uint64_t rest;
  uint64_t add;
  // The 64-bit division is several times cheaper than the 128-bit one; it covers all realistic
  // limits (elapsed * limit < 2^64).
  if (!__builtin_mul_overflow(elapsed, p.limit, &add) &&
      !__builtin_add_overflow(add, s.carry, &add)) {
    whole = add / period;
    rest = add % period;
  } else {
    const u128 wide = static_cast<u128>(elapsed) * p.limit + s.carry;
    const u128 w = wide / period;
    whole = saturate(w);
    rest = static_cast<uint64_t>(wide % period);
  }
  if (whole >= cap - s.count) {
    s.count = cap;
    s.carry = 0;
  } else {
    s.count += whole;
    s.carry = rest;
  }
  s.time = std::max(s.time, now_ms);
}

RateDecision bucket_decide(const RateParams& p, RateState& s, uint64_t now_ms, uint64_t cost,
                           bool consume) {
  const uint64_t period = period_of(p);
  const uint64_t cap = capacity_of(p);
  refill(p, s, now_ms);
  RateDecision d;
  d.limit = p.limit;
  d.allowed = cost <= s.count;
  if (d.allowed && consume) s.count -= cost;
  d.remaining = s.count;
  // Time for the missing (cap - count) tokens less the fraction already accrued; carry < period
  // here because refill() normalised it.
  if (s.count < cap) {
    d.reset_ms = ceil_div(static_cast<u128>(cap - s.count) * period - s.carry, p.limit);
  }
  if (!d.allowed) {
    d.retry_after_ms = ceil_div(static_cast<u128>(cost - s.count) * period - s.carry, p.limit);
  }
  return d;
}

bool bucket_idle(const RateParams& p, const RateState& s, uint64_t now_ms) {
  RateState copy = s;
  refill(p, copy, now_ms);
  return copy.count >= capacity_of(p);
}

// ---- windows ---------------------------------------------------------------------------------

// Moves the state to the window of now_ms; an earlier window (clock went back) keeps the state.
void roll(RateState& s, uint64_t window) {
  if (window <= s.time) return;
  s.carry = window == s.time + 1 ? s.count : 0;
  s.count = 0;
  s.time = window;
}

struct WindowClock {
  uint64_t elapsed;  // ms since the current window began, in [0, period)
  uint64_t to_end;   // ms until it ends, >= 1
};

WindowClock window_clock(uint64_t period, const RateState& s, uint64_t now_ms) {
  const uint64_t start = saturate(static_cast<u128>(s.time) * period);
  const uint64_t now = std::max(now_ms, start);  // clock went back: no time elapsed
  const uint64_t elapsed = std::min(now - start, period - 1);
  return {elapsed, period - elapsed};
}

RateDecision fixed_decide(const RateParams& p, RateState& s, uint64_t now_ms, uint64_t cost,
                          bool consume) {
  const uint64_t period = period_of(p);
  roll(s, now_ms / period);
  const WindowClock c = window_clock(period, s, now_ms);
  RateDecision d;
  d.limit = p.limit;
  const uint64_t left = p.limit - std::min(s.count, p.limit);  // a reload may lower the limit
  d.allowed = cost <= left;
  if (d.allowed && consume) s.count += cost;
  d.remaining = p.limit - std::min(s.count, p.limit);
  d.reset_ms = c.to_end;
  if (!d.allowed) d.retry_after_ms = c.to_end;
  return d;
}

RateDecision sliding_decide(const RateParams& p, RateState& s, uint64_t now_ms, uint64_t cost,
                            bool consume) {
  const uint64_t period = period_of(p);
  roll(s, now_ms / period);
  const WindowClock c = window_clock(period, s, now_ms);
  // Everything below is scaled by `period`: used = estimate * period.
  const u128 cap = static_cast<u128>(p.limit) * period;
  u128 used = sat_add(static_cast<u128>(s.carry) * (period - c.elapsed),
                      static_cast<u128>(s.count) * period);
  const u128 want = static_cast<u128>(cost) * period;
  RateDecision d;
  d.limit = p.limit;
  d.allowed = sat_add(used, want) <= cap;
  if (d.allowed && consume) {
    s.count += cost;  // no overflow: count + cost <= limit
    used += want;
  }
  d.remaining = used >= cap ? 0 : saturate((cap - used) / period);
  // The estimate reaches 0 when neither the current nor the previous count weighs any more.
  if (s.count > 0) {
    d.reset_ms = sat_add(c.to_end, period);
  } else if (s.carry > 0) {
    d.reset_ms = c.to_end;
  }
  if (d.allowed) return d;
  // The first ms at which the estimate leaves room for `cost`: solve
  // prev * (period - e) + (count + cost) * period <= limit * period for the elapsed time e,
  // in this window if this window's own count leaves room, else in the next one (where the
  // current count becomes the previous one and the new count is 0).
  const auto first_elapsed = [&](uint64_t prev, u128 slack) -> uint64_t {
    if (prev == 0) return 0;
    const u128 q = slack / prev;
    return q >= period ? 0 : period - static_cast<uint64_t>(q);
  };
  if (s.count <= p.limit && cost <= p.limit - s.count) {
    const uint64_t e = first_elapsed(s.carry, static_cast<u128>(p.limit - s.count - cost) * period);
    d.retry_after_ms = e > c.elapsed ? e - c.elapsed : 1;
  } else if (cost <= p.limit) {
    const uint64_t e = first_elapsed(s.count, static_cast<u128>(p.limit - cost) * period);
    d.retry_after_ms = sat_add(c.to_end, e);
  }
  return d;
}

bool windows_idle(const RateParams& p, const RateState& s, uint64_t now_ms) {
  const uint64_t window = now_ms / period_of(p);
  if (p.algorithm == RateAlgorithm::kFixedWindow) return window > s.time || s.count == 0;
  // Sliding: the current count still weighs in the next window, the previous one no longer.
  if (window > s.time) return window - s.time >= 2 || s.count == 0;
  return s.count == 0 && s.carry == 0;
}

}  // namespace

const char* rate_algorithm_name(RateAlgorithm a) {
  switch (a) {
    case RateAlgorithm::kTokenBucket:
      return "token_bucket";
    case RateAlgorithm::kSlidingWindow:
      return "sliding_window";
    case RateAlgorithm::kFixedWindow:
      return "fixed_window";
  }
  return "unknown";
}

RateState rate_init(const RateParams& params, uint64_t now_ms) {
  if (params.algorithm == RateAlgorithm::kTokenBucket) {
    return RateState{now_ms, capacity_of(params), 0};
  }
  return RateState{now_ms / period_of(params), 0, 0};
}

namespace {

RateDecision decide(const RateParams& p, RateState& s, uint64_t now_ms, uint64_t cost,
                    bool consume) {
  RateDecision d;
  if (p.limit == 0) {
    d.retry_after_ms = period_of(p);
    return d;
  }
  switch (p.algorithm) {
    case RateAlgorithm::kTokenBucket:
      d = bucket_decide(p, s, now_ms, cost, consume);
      break;
    case RateAlgorithm::kSlidingWindow:
      d = sliding_decide(p, s, now_ms, cost, consume);
      break;
    case RateAlgorithm::kFixedWindow:
      d = fixed_decide(p, s, now_ms, cost, consume);
      break;
  }
  const uint64_t capacity = p.algorithm == RateAlgorithm::kTokenBucket ? capacity_of(p) : p.limit;
  if (cost > capacity) d.retry_after_ms = period_of(p);  // never: do not invite a retry storm
  return d;
}

}  // namespace

RateDecision rate_take(const RateParams& params, RateState& state, uint64_t now_ms, uint64_t cost) {
  return decide(params, state, now_ms, cost, true);
}

RateDecision rate_peek(const RateParams& params, const RateState& state, uint64_t now_ms,
                       uint64_t cost) {
  RateState copy = state;
  return decide(params, copy, now_ms, cost, false);
}

bool rate_idle(const RateParams& params, const RateState& state, uint64_t now_ms) {
  if (params.limit == 0) return true;
  if (params.algorithm == RateAlgorithm::kTokenBucket) return bucket_idle(params, state, now_ms);
  return windows_idle(params, state, now_ms);
}

}  // namespace sluice::limits
