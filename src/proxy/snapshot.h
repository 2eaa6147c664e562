// A compiled, immutable configuration: the router, the upstreams with resolved addresses, and the
// routes' actions with their pre-rendered bytes. Workers hold a shared_ptr<const Snapshot>; a
// request keeps the one it started with, so a reload never changes a request mid-flight.
// Example:
//   SnapshotResult r = build_snapshot(std::move(cfg), version);
//   if (r.snapshot) gateway.publish(r.snapshot); else print(r.errors);
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "auth/cidr.h"
#include "balance/balancer.h"
#include "balance/target_state.h"
#include "config/config.h"
#include "filter/chain.h"
#include "http/parser_limits.h"
#include "limits/circuit_breaker.h"
#include "limits/rate_limit.h"
#include "net/socket.h"
#include "proxy/runtime.h"
#include "proxy/security.h"
#include "router/router.h"

namespace sluice::proxy {

// Resolved addresses of host-name targets, by host name (kept by the gateway's DNS refresh).
using AddressBook = std::map<std::string, std::vector<net::SocketAddress>>;

struct Target {
  std::string key;  // "host:port" as configured: identity of its state across reloads
  std::vector<net::SocketAddress> addresses;  // empty: unresolved (the target is skipped)
  std::vector<std::string> address_keys;      // "ip:port" per address
  std::vector<std::string> pool_keys;         // "upstream|ip:port": names the connection pools
  uint32_t weight = 1;
  std::shared_ptr<balance::TargetState> state;
  std::shared_ptr<limits::CircuitBreaker> breaker;  // per-target breaker, or null
};

struct Upstream {
  std::string name;
  std::vector<Target> targets;
  balance::Algorithm algorithm = balance::Algorithm::kRoundRobin;
  config::HashKeyConfig hash_key;
  config::StickyConfig sticky;
  config::OutlierConfig outlier;
  config::HealthCheckConfig health_check;
  std::shared_ptr<UpstreamRuntime> runtime;
  uint64_t connect_timeout_ms = 5000;
  uint64_t response_timeout_ms = 30000;
  uint64_t idle_timeout_ms = 60000;
  uint32_t max_idle_per_worker = 64;
  std::shared_ptr<const net::TlsClientContext> tls;  // null: plain TCP to the targets
  uint32_t max_connections = 0;                      // breaker limits, 0 = unlimited
  uint32_t max_pending = 0;
  uint32_t max_requests = 0;
};

using RatePolicy = limits::RatePolicy;

// A route's mirror (config::MirrorConfig, resolved).
struct MirrorRoute {
  int upstream = -1;  // index into Snapshot::upstreams
  uint32_t percent = 100;
  uint64_t max_body_bytes = 0;
  uint64_t timeout_ms = 0;     // for the shadow's answer
  uint32_t max_in_flight = 0;  // per worker
};

// One per route, and a config may have 100,000: what is kept per route is kept small (the
// route's config is not kept; docs/performance.md has the bytes per route).
struct Route {
  // The router's copies (Snapshot::router, which lives as long as the routes).
  std::string_view name;
  std::string_view pattern;  // the route's path pattern (http.route of its spans)
  int upstream = -1;         // index into Snapshot::upstreams, or -1 for a respond route
  std::string strip_prefix;
  std::string rewrite_prefix;
  size_t metric_slot = 0;                // RuntimeRegistry::route_slot(name)
  int respond_status = 0;                // for respond routes
  uint64_t max_body_bytes = 0;           // 0 = unlimited
  uint64_t response_timeout_ms = 30000;  // per try
  uint64_t total_timeout_ms = 0;         // all tries together, 0 = none
  config::RetryConfig retry;
  std::shared_ptr<const std::vector<RatePolicy>> policies;  // null: none (shared with the chain)
  std::optional<MirrorRoute> mirror;
  std::shared_ptr<const filter::Chain> chain;  // the route's filters (merged with the defaults)
  // config::RouteConfig::fingerprint when this can be taken as it is by a snapshot of a config
  // with the same context (config::RouteReuse); 0 when not (its filters read files).
  uint64_t fingerprint = 0;

  std::span<const RatePolicy> rate_limits() const {
    return policies ? std::span<const RatePolicy>(*policies) : std::span<const RatePolicy>();
  }
};

// A snapshot's routes: shared (not copied) by the snapshots a DNS change derives from it, so
// the route table exists once however often the targets' addresses change. Filled while the
// snapshot is built, read-only once it is published.
class RouteTable {
 public:
  RouteTable() : v_(std::make_shared<std::vector<Route>>()) {}
  const Route& operator[](size_t i) const { return (*v_)[i]; }
  Route& operator[](size_t i) { return (*v_)[i]; }
  size_t size() const { return v_->size(); }
  bool empty() const { return v_->empty(); }
  std::vector<Route>::const_iterator begin() const { return v_->cbegin(); }
  std::vector<Route>::const_iterator end() const { return v_->cend(); }
  void reserve(size_t n) { v_->reserve(n); }
  void push_back(Route r) { v_->push_back(std::move(r)); }

 private:
  std::shared_ptr<std::vector<Route>> v_;
};

struct Snapshot {
  uint64_t version = 0;     // config version: 1 at start, +1 per successful reload
  uint64_t generation = 0;  // +1 per publication (reloads and DNS changes)
  config::Config config;    // as loaded, less its routes (compiled into router, routes, chains)
  std::shared_ptr<const router::Router> router;  // shared like routes
  std::vector<Upstream> upstreams;
  RouteTable routes;  // same order as the config's routes and the router's specs
  http::ParserLimits limits;
  // Log phase: where this snapshot's requests send spans and access-log lines (empty when the
  // config has the feature off), and the compiled line format.
  ObserveSinks sinks;
  auth::CidrSet trusted_proxies;                   // client_ip.trusted_proxies
  std::shared_ptr<const SecurityTables> security;  // routes[i] ↔ security->routes[i]
  std::optional<observe::AccessLogFormat> access_log_format;
  uint64_t context_fingerprint = 0;  // config::Config::context_fingerprint
  bool observed() const { return !sinks.span_rings.empty() || !sinks.access_logs.empty(); }
};

struct SnapshotResult {
  std::shared_ptr<const Snapshot> snapshot;  // null when errors is not empty
  std::vector<config::ConfigError> errors;
  size_t reused = 0;  // routes taken from `previous` as compiled
};

// Compiles a validated Config. Errors found here (duplicate routes, unresolvable targets) carry
// the file, line and key of the offending node, like the loader's.
// Host-name targets take their addresses from `book` (missing: unresolved); state that outlives
// the snapshot comes from `registry`.
// previous: the snapshot that reuse_of() described to the loader, whose compiled routes the
// config's reused ones (config::RouteConfig::reuse) are taken from; null when none is.
SnapshotResult build_snapshot(config::Config cfg, uint64_t version, uint64_t generation,
                              RuntimeRegistry& registry, const AddressBook& book,
                              const Snapshot* previous = nullptr);

// What a loader may take from `s` as compiled (every route with a fingerprint), for the next
// config: load it with this, then build it with `previous` = &s.
config::RouteReuse reuse_of(const Snapshot& s);

// The snapshot `now` with its targets' addresses taken again from `book` (a DNS change): the
// upstreams are rebuilt, the routes, router and chains are shared with `now`.
std::shared_ptr<const Snapshot> with_addresses(const Snapshot& now, uint64_t generation,
                                               RuntimeRegistry& registry, const AddressBook& book);

// The host names of targets in a config (what the DNS refresh resolves).
std::vector<std::pair<std::string, uint16_t>> target_host_names(const config::Config& cfg);

}  // namespace sluice::proxy
