// Runtime state of one upstream target that all workers share and that survives reloads: in-flight
// request counts (least_connections, p2c), the active health check's verdict and the passive
// (outlier) ejection. Only atomics: workers read and update it without locks.
// Example:
//   if (state.available(now_ms)) ...;  state.active.fetch_add(1, std::memory_order_relaxed);
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace sluice::balance {

enum class Health : uint8_t { kUnknown, kHealthy, kUnhealthy };

struct TargetState {
  TargetState(std::string upstream_name, std::string target_key)
      : upstream(std::move(upstream_name)), key(std::move(target_key)) {}

  const std::string upstream;
  const std::string key;  // "host:port" as configured

  std::atomic<int32_t> active{0};       // requests in flight to this target, all workers
  std::atomic<int32_t> connections{0};  // open connections to this target, all workers
  // Active health checking (kUnknown until the first check, or when checks are off: usable).
  std::atomic<Health> health{Health::kUnknown};
  // Passive health (outlier detection).
  std::atomic<uint64_t> ejected_until_ms{0};
  std::atomic<uint32_t> ejections{0};  // times ejected (the back-off grows with it)
  std::atomic<uint32_t> consecutive_failures{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failures{0};

  bool ejected(uint64_t now_ms) const {
    return ejected_until_ms.load(std::memory_order_relaxed) > now_ms;
  }
  bool available(uint64_t now_ms) const {
    return health.load(std::memory_order_relaxed) != Health::kUnhealthy && !ejected(now_ms);
  }
};

}  // namespace sluice::balance
