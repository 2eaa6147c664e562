// Pure rate-limiting algorithms: token bucket, sliding-window counter and fixed window, as
// functions over a small per-key state, so that one implementation serves the per-instance store
// (LimiterStore), a shared store such as Redis (the same arithmetic in a script), and the tests.
// Time is passed in (ms since the Unix epoch); nothing here reads a clock or does I/O.
// Example:
//   RateParams p{RateAlgorithm::kSlidingWindow, 100, 60000, 0};   // 100 per minute
//   RateState s = rate_init(p, now_ms);
//   RateDecision d = rate_take(p, s, now_ms);
//   if (!d.allowed) answer 429 with Retry-After: retry_after_seconds(d);
#pragma once

#include <cstdint>
#include <memory>

namespace sluice::limits {

enum class RateAlgorithm : uint8_t { kTokenBucket, kSlidingWindow, kFixedWindow };

const char* rate_algorithm_name(RateAlgorithm a);

struct RateParams {
  RateAlgorithm algorithm = RateAlgorithm::kTokenBucket;
  // Requests per period. 0 denies everything (a route switched off by config).
  uint64_t limit = 0;
  // 0 is read as 1 so that the arithmetic is defined; config validation should reject it.
  uint64_t period_ms = 1000;
  // Token bucket only: capacity; 0 means `limit`. Windows ignore it.
  uint64_t burst = 0;
};

// The sliding window counts in sub-windows of sliding_sub_ms(period) (about period / 16,
// aligned to the Unix epoch), each with the time of its last admission. A request passes when
// the units of the sub-windows with an admission inside the last period leave room for it; a
// sub-window counts whole until its last admission is a period old. So no interval of one period
// ever admits more than `limit`, whatever the traffic's shape, and a saturating client, whose
// admissions bunch where room frees, gets nearly all of `limit` in every period.
inline constexpr uint32_t kSlidingSubWindows = 16;
// Sub-window length, and how many whole sub-windows the last period may overlap besides the
// current one (ceil(period / sub) <= kSlidingSubWindows).
uint64_t sliding_sub_ms(uint64_t period_ms);
uint32_t sliding_span(uint64_t period_ms);

struct SlidingSlot {
  uint32_t count = 0;  // units admitted (saturating: too many to hold only makes it stricter)
  uint32_t last = 0;   // 1 + ms from the sub-window's start to its last admission; 0: none
};

struct SlidingSlots {
  SlidingSlot slot[kSlidingSubWindows + 1] = {};
};

// The per-key state, meaning depends on the algorithm. Windows are aligned to the Unix epoch
// (now_ms / period_ms) so that instances, and a shared store, agree on where a window starts.
// 32 bytes; a sliding window's sub-windows live apart (allocated by rate_init or its first
// decision), so the other algorithms' keys do not pay for them.
struct RateState {
  uint64_t time = 0;   // token bucket: ms of the last refill; windows: index of the current
                       // window (sliding: sub-window)
  uint64_t count = 0;  // token bucket: whole tokens; windows: units taken in the current window
                       // (sliding: in the sub-windows of the last span + 1)
  uint64_t carry = 0;  // token bucket: fraction of a token in 1/period_ms; sliding: the
                       // sub-window length the slots were counted with
  // Sliding window: sub-window i in slots->slot[i % (sliding_span + 1)].
  std::unique_ptr<SlidingSlots> slots;

  RateState() = default;
  RateState(uint64_t t, uint64_t c, uint64_t k) : time(t), count(c), carry(k) {}
  RateState(const RateState& o)
      : time(o.time),
        count(o.count),
        carry(o.carry),
        slots(o.slots ? std::make_unique<SlidingSlots>(*o.slots) : nullptr) {}
  RateState& operator=(const RateState& o) {
    if (this != &o) *this = RateState(o);
    return *this;
  }
  RateState(RateState&&) noexcept = default;
  RateState& operator=(RateState&&) noexcept = default;
};

struct RateDecision {
  bool allowed = false;
  uint64_t limit = 0;           // RateLimit-Limit: the request quota of the period
  uint64_t remaining = 0;       // RateLimit-Remaining, after this request
  uint64_t reset_ms = 0;        // until the quota is fully back (fixed window: the window's end)
  uint64_t retry_after_ms = 0;  // when denied: until a request of this cost could pass (>= 1)
};

// The state of a key that has never been seen: a full bucket, or empty windows.
RateState rate_init(const RateParams& params, uint64_t now_ms);

// Decides a request of `cost` units and consumes them when it is allowed (a denied request
// consumes nothing). A clock that goes backwards counts as no time elapsed. A request that can
// never pass (limit 0, or cost above the capacity) is denied with retry_after_ms = period_ms.
// cost 0 consumes nothing: it asks whether the key is within its limit.
RateDecision rate_take(const RateParams& params, RateState& state, uint64_t now_ms,
                       uint64_t cost = 1);

// rate_take() without consuming: whether a request of `cost` would pass now; remaining is the
// quota before it.
RateDecision rate_peek(const RateParams& params, const RateState& state, uint64_t now_ms,
                       uint64_t cost = 1);

// True when `state` behaves like rate_init() at now_ms, so that a store may forget the key.
bool rate_idle(const RateParams& params, const RateState& state, uint64_t now_ms);

// Header values: seconds rounded up. Retry-After is at least 1 when denied (0 when allowed).
inline uint64_t reset_seconds(const RateDecision& d) {
  return d.reset_ms / 1000 + (d.reset_ms % 1000 != 0);
}
inline uint64_t retry_after_seconds(const RateDecision& d) {
  if (d.allowed) return 0;
  const uint64_t s = d.retry_after_ms / 1000 + (d.retry_after_ms % 1000 != 0);
  return s == 0 ? 1 : s;
}

}  // namespace sluice::limits
