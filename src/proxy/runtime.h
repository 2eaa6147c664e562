// State that outlives a snapshot: per upstream (breaker, retry budget, admission counters, panic
// flag) and per target (balance::TargetState, per-target breaker). The control thread looks them
// up by name when it compiles a snapshot, so a reload that changes one target's weight keeps every
// other target's health, ejections and counters. Workers use them through the snapshot; every
// field they touch is atomic.
// Example:
//   RuntimeRegistry reg;
//   auto up = reg.upstream(cfg.upstreams[0]);  auto t = reg.target("users", "10.0.0.1:80");
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "auth/nonce_cache.h"
#include "balance/target_state.h"
#include "config/config.h"
#include "limits/circuit_breaker.h"
#include "limits/limiter_store.h"
#include "limits/rate_policy.h"
#include "limits/retry_budget.h"
#include "observe/access_log.h"
#include "observe/span_ring.h"

namespace sluice::auth {
class JwksFetcher;
}

namespace sluice::proxy {

limits::BreakerSettings breaker_settings(const config::BreakerConfig& c);

struct UpstreamRuntime {
  UpstreamRuntime(std::string upstream_name, const config::UpstreamConfig& cfg);

  const std::string name;
  std::unique_ptr<limits::CircuitBreaker> breaker;  // null when the breaker is off
  limits::RetryBudget retry_budget;
  std::atomic<int32_t> active_requests{0};  // all workers
  std::atomic<int32_t> pending{0};          // waiting for an upstream connection
  std::atomic<int32_t> connections{0};      // open upstream connections
  std::atomic<bool> in_panic{false};
  std::atomic<uint64_t> panics{0};
  std::atomic<uint64_t> rejected{0};  // answered 503 by the breaker or a limit
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> timeouts{0};
  // What the breaker and budget were built from: a reload with other values rebuilds them.
  config::BreakerConfig breaker_config;
  uint32_t budget_percent;
  uint32_t budget_min;
};

// One rate-limit policy's state across reloads: the local store (exact across workers) and the
// decision counters. Keyed by route and policy name, so a reload that changes the limit keeps
// the keys' counters.
using RateLimitRuntime = limits::RateLimitRuntime;

// Per-worker queues for spans and access-log lines (indexed by worker). The gateway creates them
// when a config first turns tracing or access logs on and keeps them for the life of the process,
// so any snapshot may point at them; a snapshot whose config has the feature off does not.
struct ObserveSinks {
  std::vector<observe::SpanRing*> span_rings;
  std::vector<observe::AccessLogBuffer*> access_logs;
};

class RuntimeRegistry {
 public:
  // The HMAC nonce cache: one per process, shared by every worker and kept across reloads.
  std::shared_ptr<auth::NonceCache> nonce_cache();
  // How snapshots get the JWKS fetcher of a provider (set by the gateway, which runs them).
  using JwksLookup =
      std::function<auth::JwksFetcher*(const config::JwtProviderConfig&, std::string*)>;
  void set_jwks_lookup(JwksLookup f) { jwks_lookup_ = std::move(f); }
  const JwksLookup& jwks_lookup() const { return jwks_lookup_; }
  void set_sinks(ObserveSinks sinks) {
    std::lock_guard<std::mutex> lock(mu_);
    sinks_ = std::move(sinks);
  }
  ObserveSinks sinks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sinks_;
  }
  std::shared_ptr<UpstreamRuntime> upstream(const config::UpstreamConfig& cfg);
  std::shared_ptr<balance::TargetState> target(const std::string& upstream, const std::string& key);
  // nullptr unless cfg.breaker.enabled && cfg.breaker.per_target.
  std::shared_ptr<limits::CircuitBreaker> target_breaker(const config::UpstreamConfig& cfg,
                                                         const std::string& key);
  // The runtime of a route's policy; a new one when max_keys changed.
  std::shared_ptr<RateLimitRuntime> rate_limit(const std::string& route, const std::string& policy,
                                               size_t max_keys);
  // Every rate-limit runtime with its route, policy and max_keys (an upgrade's handover).
  void for_each_rate_limit(
      const std::function<void(const std::string& route, const std::string& policy, size_t max_keys,
                               RateLimitRuntime& runtime)>& fn);
  // Every target's shared state (an upgrade's handover), and one by upstream and key (null when
  // no snapshot has it).
  void for_each_target(const std::function<void(balance::TargetState& state)>& fn);
  std::shared_ptr<balance::TargetState> find_target(const std::string& upstream,
                                                    const std::string& key);
  // Metric slot of a route name: stable for the life of the process (0 = no route).
  size_t route_slot(const std::string& route_name);
  // Route names by slot, for rendering metrics.
  std::vector<std::string> route_names() const;
  size_t route_slot_count() const;
  // Forgets entries no snapshot uses any more.
  void prune();

 private:
  mutable std::mutex mu_;
  ObserveSinks sinks_;
  std::shared_ptr<auth::NonceCache> nonces_;
  JwksLookup jwks_lookup_;
  std::map<std::string, size_t> slots_;
  std::vector<std::string> slot_names_{""};
  std::map<std::string, std::shared_ptr<UpstreamRuntime>> upstreams_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<balance::TargetState>> targets_;
  struct TargetBreaker {
    config::BreakerConfig config;
    std::shared_ptr<limits::CircuitBreaker> breaker;
  };
  std::map<std::pair<std::string, std::string>, TargetBreaker> breakers_;
  struct RateLimitEntry {
    size_t max_keys;
    std::shared_ptr<RateLimitRuntime> runtime;
  };
  std::map<std::pair<std::string, std::string>, RateLimitEntry> rate_limits_;
};

}  // namespace sluice::proxy
