#include "proxy/runtime.h"

namespace sluice::proxy {
namespace {

bool same_breaker(const config::BreakerConfig& a, const config::BreakerConfig& b) {
  return a.enabled == b.enabled && a.error_rate_percent == b.error_rate_percent &&
         a.min_requests == b.min_requests && a.window_ms == b.window_ms &&
         a.consecutive_failures == b.consecutive_failures && a.open_ms == b.open_ms &&
         a.half_open_requests == b.half_open_requests;
}

}  // namespace

limits::BreakerSettings breaker_settings(const config::BreakerConfig& c) {
  limits::BreakerSettings s;
  s.error_rate_percent = c.error_rate_percent;
  s.min_requests = c.min_requests;
  s.window_ms = c.window_ms;
  s.consecutive_failures = c.consecutive_failures;
  s.open_ms = c.open_ms;
  s.half_open_requests = c.half_open_requests;
  return s;
}

UpstreamRuntime::UpstreamRuntime(std::string upstream_name, const config::UpstreamConfig& cfg)
    : name(std::move(upstream_name)),
      retry_budget(cfg.retry_budget_percent, cfg.retry_budget_min),
      breaker_config(cfg.breaker),
      budget_percent(cfg.retry_budget_percent),
      budget_min(cfg.retry_budget_min) {
  if (cfg.breaker.enabled) {
    breaker = std::make_unique<limits::CircuitBreaker>(breaker_settings(cfg.breaker));
  }
}

std::shared_ptr<UpstreamRuntime> RuntimeRegistry::upstream(const config::UpstreamConfig& cfg) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<UpstreamRuntime>& slot = upstreams_[cfg.name];
  if (!slot || !same_breaker(slot->breaker_config, cfg.breaker) ||
      slot->budget_percent != cfg.retry_budget_percent ||
      slot->budget_min != cfg.retry_budget_min) {
    // New settings: a fresh breaker and budget (old snapshots keep the old object until their
    // last request ends).
    slot = std::make_shared<UpstreamRuntime>(cfg.name, cfg);
  }
  return slot;
}

std::shared_ptr<balance::TargetState> RuntimeRegistry::target(const std::string& upstream,
                                                              const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<balance::TargetState>& slot = targets_[{upstream, key}];
  if (!slot) slot = std::make_shared<balance::TargetState>(upstream, key);
  return slot;
}

std::shared_ptr<limits::CircuitBreaker> RuntimeRegistry::target_breaker(
    const config::UpstreamConfig& cfg, const std::string& key) {
  if (!cfg.breaker.enabled || !cfg.breaker.per_target) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  TargetBreaker& slot = breakers_[{cfg.name, key}];
  if (!slot.breaker || !same_breaker(slot.config, cfg.breaker)) {
    slot.config = cfg.breaker;
    slot.breaker = std::make_shared<limits::CircuitBreaker>(breaker_settings(cfg.breaker));
  }
  return slot.breaker;
}

std::shared_ptr<RateLimitRuntime> RuntimeRegistry::rate_limit(const std::string& route,
                                                              const std::string& policy,
                                                              size_t max_keys) {
  std::lock_guard<std::mutex> lock(mu_);
  RateLimitEntry& e = rate_limits_[{route, policy}];
  if (!e.runtime || e.max_keys != max_keys) {
    e.max_keys = max_keys;
    e.runtime = std::make_shared<RateLimitRuntime>(max_keys);
  }
  return e.runtime;
}

void RuntimeRegistry::for_each_rate_limit(
    const std::function<void(const std::string& route, const std::string& policy, size_t max_keys,
                             RateLimitRuntime& runtime)>& fn) {
  std::vector<std::pair<std::pair<std::string, std::string>, RateLimitEntry>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [k, e] : rate_limits_) all.emplace_back(k, e);
  }
  for (auto& [k, e] : all) fn(k.first, k.second, e.max_keys, *e.runtime);
}

void RuntimeRegistry::for_each_target(const std::function<void(balance::TargetState&)>& fn) {
  std::vector<std::shared_ptr<balance::TargetState>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [k, t] : targets_) all.push_back(t);
  }
  for (const auto& t : all) fn(*t);
}

std::shared_ptr<balance::TargetState> RuntimeRegistry::find_target(const std::string& upstream,
                                                                   const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = targets_.find({upstream, key});
  return it == targets_.end() ? nullptr : it->second;
}

std::shared_ptr<auth::NonceCache> RuntimeRegistry::nonce_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!nonces_) nonces_ = std::make_shared<auth::NonceCache>();
  return nonces_;
}

size_t RuntimeRegistry::route_slot(const std::string& route_name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, added] = slots_.emplace(route_name, slot_names_.size());
  if (added) slot_names_.push_back(route_name);
  return it->second;
}

size_t RuntimeRegistry::route_slot_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot_names_.size();
}

std::vector<std::string> RuntimeRegistry::route_names() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot_names_;
}

void RuntimeRegistry::prune() {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(upstreams_, [](const auto& kv) { return kv.second.use_count() == 1; });
  std::erase_if(targets_, [](const auto& kv) { return kv.second.use_count() == 1; });
  std::erase_if(breakers_, [](const auto& kv) { return kv.second.breaker.use_count() == 1; });
  std::erase_if(rate_limits_, [](const auto& kv) { return kv.second.runtime.use_count() == 1; });
}

}  // namespace sluice::proxy
