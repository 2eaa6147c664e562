// Retry budget and back-off arithmetic. try_start_retry() is a CAS loop so that the limit is
// exact under concurrency (a fetch_add-then-undo would spuriously reject concurrent callers).
#include "limits/retry_budget.h"

#include <algorithm>
#include <limits>

namespace sluice::limits {

namespace {

// base * 2^(n-1), saturating at `cap` (n >= 1; n == 0 is read as 1).
uint64_t doubled(uint32_t n, uint64_t base, uint64_t cap) {
  const uint32_t shift = n == 0 ? 0 : n - 1;
  if (base == 0) return 0;
  if (shift >= 64 || base > (cap >> shift)) return cap;
  return base << shift;
}

}  // namespace

RetryBudget::RetryBudget(uint32_t percent, uint32_t min_concurrent)
    : percent_(percent), min_concurrent_(min_concurrent) {}

void RetryBudget::request_started() {
  requests_.fetch_add(1, std::memory_order_relaxed);
}

void RetryBudget::request_finished() {
  requests_.fetch_sub(1, std::memory_order_relaxed);
}

bool RetryBudget::try_start_retry() {
  // Workers' started/finished calls may interleave so that the count dips below zero briefly.
  const int64_t requests = std::max<int64_t>(0, requests_.load(std::memory_order_relaxed));
  const int64_t limit = std::max<int64_t>(min_concurrent_, requests * percent_ / 100);
  int64_t r = retries_.load(std::memory_order_relaxed);
  do {
    if (r >= limit) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } while (!retries_.compare_exchange_weak(r, r + 1, std::memory_order_relaxed));
  return true;
}

void RetryBudget::retry_finished() {
  retries_.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t ejection_ms(uint32_t n, uint64_t base_ms, uint64_t max_ms) {
  return std::min(doubled(n, base_ms, max_ms), max_ms);
}

uint64_t backoff_ms(uint32_t attempt, uint64_t base_ms, uint64_t max_ms, uint64_t random) {
  const uint64_t cap = std::min(doubled(attempt, base_ms, max_ms), max_ms);
  if (cap == std::numeric_limits<uint64_t>::max()) return random;
  // Multiply-high maps `random` onto [0, cap] evenly and uses its high bits, which are the
  // better ones for cheap generators; random = 0 gives 0 and random = 2^64 - 1 gives cap.
  return static_cast<uint64_t>((static_cast<unsigned __int128>(random) * (cap + 1)) >> 64);
}

}  // namespace sluice::limits
