// Limits retries to a share of the requests in flight to an upstream, so that retries cannot
// multiply load when an upstream is failing (Envoy's retry budget). Shared by all workers.
// Example:
//   RetryBudget budget(20, 3);  budget.request_started();
//   if (budget.try_start_retry()) { ...retry...; budget.retry_finished(); }
//   budget.request_finished();
#pragma once

#include <atomic>
#include <cstdint>

namespace sluice::limits {

class RetryBudget {
 public:
  // A retry is allowed while retries in flight < max(min_concurrent, percent% of requests in
  // flight).
  RetryBudget(uint32_t percent, uint32_t min_concurrent);
  void request_started();
  void request_finished();
  bool try_start_retry();
  void retry_finished();
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  uint32_t percent_;
  uint32_t min_concurrent_;
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> retries_{0};
  std::atomic<uint64_t> rejected_{0};
};

// Ejection time of the n-th consecutive ejection (n >= 1): base * 2^(n-1), at most max.
uint64_t ejection_ms(uint32_t n, uint64_t base_ms, uint64_t max_ms);

// Exponential back-off with full jitter for retry `attempt` (1 = first retry): a value in
// [0, min(max_ms, base_ms * 2^(attempt-1))], from `random`.
uint64_t backoff_ms(uint32_t attempt, uint64_t base_ms, uint64_t max_ms, uint64_t random);

}  // namespace sluice::limits
