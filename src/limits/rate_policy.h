// A route's rate-limit policy, compiled: what it counts (the key), how (algorithm, limit,
// period), where (this worker's store, or the cluster's through Redis) and its counters, which
// outlive reloads (RuntimeRegistry keeps them by route and policy name).
// Example:
//   RateDecision d = policy.runtime->store.take(key, policy.params, now_ms);
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "limits/limiter_store.h"
#include "limits/rate_limit.h"

namespace sluice::limits {

struct RateLimitRuntime {
  explicit RateLimitRuntime(size_t max_keys) : store(max_keys) {}
  LimiterStore store;  // scope: local
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> denied{0};
  std::atomic<uint64_t> errors{0};  // cluster: Redis unavailable (on_error applied)
  size_t max_keys() const { return store.capacity(); }
};

struct RatePolicy {
  std::string name;
  config::RateLimitConfig::Key key = config::RateLimitConfig::Key::kClientIp;
  std::string key_name;
  RateParams params;
  bool cluster = false;
  bool exact = false;
  std::string policy_id;      // cluster: "<route>:<policy>", names the Redis keys
  std::string policy_header;  // RateLimit-Policy value: "<limit>;w=<seconds>"
  std::shared_ptr<RateLimitRuntime> runtime;
};

}  // namespace sluice::limits
