// Rate-limit arithmetic. All of it is integer: the token bucket keeps whole tokens plus a
// remainder in 1/period_ms of a token, so refill is exact (no drift however often it is called),
// and the sliding window counts whole units in sub-windows. Products of two 64-bit inputs are taken
// in 128 bits and results saturate, so that huge limits and periods (config "unlimited" as 2^64-1)
// stay correct.
#include "limits/rate_limit.h"

#include <algorithm>
#include <iterator>
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

// Sliding window: the sub-windows i of the last period are span+1 slots, ring-indexed.
struct SlidingGeometry {
  uint64_t period;
  uint64_t sub;   // sub-window length, ms
  uint32_t span;  // whole sub-windows that may overlap the period besides the current one
  uint32_t ring;  // span + 1
};

SlidingGeometry sliding_geometry(const RateParams& p) {
  const uint64_t period = period_of(p);
  const uint32_t span = sliding_span(period);
  return {period, sliding_sub_ms(period), span, span + 1};
}

// Moves the state to sub-window `index`, dropping the sub-windows that can no longer overlap
// the last period. An earlier index (the clock went back) keeps the state. A state counted with
// another sub-window length (a reload changed the period) keeps its total as the current
// sub-window's, admitted now: counted for a whole new period, never less.
void slide(const SlidingGeometry& g, RateState& s, uint64_t index, uint64_t now_ms) {
  if (!s.slots) s.slots = std::make_unique<SlidingSlots>();
  SlidingSlot* slots = s.slots->slot;
  if (s.carry != g.sub) {
    std::fill(slots, slots + kSlidingSubWindows + 1, SlidingSlot{});
    if (s.count > 0) {
      slots[index % g.ring] = {static_cast<uint32_t>(std::min<uint64_t>(s.count, UINT32_MAX)),
                               static_cast<uint32_t>(now_ms - index * g.sub + 1)};
    }
    s.carry = g.sub;
    s.time = index;
    return;
  }
  if (index <= s.time) return;
  if (index - s.time >= g.ring) {
    std::fill(slots, slots + kSlidingSubWindows + 1, SlidingSlot{});
    s.count = 0;
  } else {
    for (uint64_t i = s.time + 1; i <= index; ++i) {
      SlidingSlot& slot = slots[i % g.ring];  // held sub-window i - ring: out of the period
      s.count -= std::min<uint64_t>(slot.count, s.count);
      slot = {};
    }
  }
  s.time = index;
}

// When sub-window `index`'s units stop counting: a period after its last admission (ms).
uint64_t sliding_exit(const SlidingGeometry& g, uint64_t index, const SlidingSlot& slot) {
  const u128 last = static_cast<u128>(index) * g.sub + (slot.last == 0 ? 0 : slot.last - 1);
  return saturate(last + g.period + 1);
}

// The oldest sub-window that still counts at `now` (as j: sub-window s.time - j) once the
// state is brought to sub-window `index` (>= s.time), or -1 when none does. Exits grow with the
// sub-window, so every newer one with units counts too.
int oldest_live(const SlidingGeometry& g, const RateState& s, uint64_t index, uint64_t now) {
  for (int j = static_cast<int>(std::min<uint64_t>(g.span, s.time)); j >= 0; --j) {
    const uint64_t i = s.time - static_cast<uint64_t>(j);
    if (i + g.ring <= index) continue;  // gone when the state reaches `index`
    const SlidingSlot& slot = s.slots->slot[i % g.ring];
    if (slot.count != 0 && sliding_exit(g, i, slot) > now) return j;
  }
  return -1;
}

RateDecision sliding_decide(const RateParams& p, RateState& s, uint64_t now_ms, uint64_t cost,
                            bool consume) {
  const SlidingGeometry g = sliding_geometry(p);
  slide(g, s, now_ms / g.sub, now_ms);
  const uint64_t start = saturate(static_cast<u128>(s.time) * g.sub);
  const uint64_t now = std::max(now_ms, start);  // clock went back: the sub-window's start
  const auto slot_at = [&](uint32_t j) -> SlidingSlot& {
    return s.slots->slot[(s.time + g.ring - j) % g.ring];
  };
  // The oldest sub-windows whose last admission is already a period old count no more.
  // (The current sub-window counts whenever it has units, so "none" leaves only it: empty.)
  const uint32_t live = static_cast<uint32_t>(std::max(oldest_live(g, s, s.time, now), 0));
  uint64_t counted = s.count;
  for (uint32_t j = g.span; j > live; --j) counted -= std::min<uint64_t>(slot_at(j).count, counted);
  RateDecision d;
  d.limit = p.limit;
  const uint64_t left = p.limit - std::min(counted, p.limit);  // a reload may lower the limit
  d.allowed = cost <= left;
  if (d.allowed && consume && cost > 0) {
    SlidingSlot& slot = slot_at(0);
    slot.count = static_cast<uint32_t>(std::min<uint64_t>(sat_add(slot.count, cost), UINT32_MAX));
    slot.last = static_cast<uint32_t>(std::min<uint64_t>(now - start, g.sub - 1) + 1);
    s.count += cost;  // no overflow: counted + cost <= limit
    counted += cost;
  }
  d.remaining = p.limit - std::min(counted, p.limit);
  if (counted > 0) {
    // Back in full when the newest sub-window with units leaves.
    for (uint32_t j = 0; j <= live; ++j) {
      if (slot_at(j).count != 0) {
        d.reset_ms = sliding_exit(g, s.time - j, slot_at(j)) - now;
        break;
      }
    }
    if (d.reset_ms == 0) d.reset_ms = g.period + 1;  // saturated counts: a whole period
  }
  if (d.allowed || cost > p.limit) return d;
  // Denied: the first moment from which enough of the oldest sub-windows are gone.
  for (uint32_t j = live;; --j) {
    const SlidingSlot& slot = slot_at(j);
    counted -= std::min<uint64_t>(slot.count, counted);
    if (slot.count != 0 && counted <= p.limit && cost <= p.limit - counted) {
      d.retry_after_ms = sliding_exit(g, s.time - j, slot) - now;
      break;
    }
    if (j == 0) {
      d.retry_after_ms = g.period + 1;  // saturated counts: a whole period
      break;
    }
  }
  return d;
}

bool windows_idle(const RateParams& p, const RateState& s, uint64_t now_ms) {
  if (p.algorithm == RateAlgorithm::kFixedWindow) {
    return now_ms / period_of(p) > s.time || s.count == 0;
  }
  // What sliding_decide would count at now_ms, without touching the state (the sweep asks
  // this of every key).
  const SlidingGeometry g = sliding_geometry(p);
  if (s.count == 0) return true;
  if (!s.slots || s.carry != g.sub) return false;  // counted anew at the next decision
  const uint64_t now = std::max(now_ms, saturate(static_cast<u128>(s.time) * g.sub));
  return oldest_live(g, s, std::max(now_ms / g.sub, s.time), now) < 0;
}

}  // namespace

uint64_t sliding_sub_ms(uint64_t period_ms) {
  const uint64_t period = period_ms == 0 ? 1 : period_ms;
  return period / kSlidingSubWindows + (period % kSlidingSubWindows != 0);
}

uint32_t sliding_span(uint64_t period_ms) {
  const uint64_t period = period_ms == 0 ? 1 : period_ms;
  const uint64_t sub = sliding_sub_ms(period);
  return static_cast<uint32_t>(period / sub + (period % sub != 0));
}

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
    return RateState(now_ms, capacity_of(params), 0);
  }
  if (params.algorithm == RateAlgorithm::kSlidingWindow) {
    const uint64_t sub = sliding_sub_ms(period_of(params));
    RateState s(now_ms / sub, 0, sub);
    s.slots = std::make_unique<SlidingSlots>();
    return s;
  }
  return RateState(now_ms / period_of(params), 0, 0);
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
