// A compiled, immutable configuration: the router, the upstreams with resolved addresses, and the
// routes' actions with their pre-rendered bytes. Workers hold a shared_ptr<const Snapshot>; a
// request keeps the one it started with, so a reload never changes a request mid-flight.
// Example:
//   SnapshotResult r = build_snapshot(std::move(cfg), version);
//   if (r.snapshot) gateway.publish(r.snapshot); else print(r.errors);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "http/parser_limits.h"
#include "net/socket.h"
#include "router/router.h"

namespace sluice::proxy {

struct Target {
  std::string key;  // "host:port": names the per-worker connection pool, stable across reloads
  net::SocketAddress address;
  uint32_t weight = 1;
};

struct Upstream {
  std::string name;
  std::vector<Target> targets;
  bool weighted = false;  // targets' weights differ: smooth weighted round robin
  uint64_t total_weight = 0;
  uint64_t connect_timeout_ms = 5000;
  uint64_t response_timeout_ms = 30000;
  uint64_t idle_timeout_ms = 60000;
  uint32_t max_idle_per_worker = 64;
};

struct Route {
  std::string name;
  int upstream = -1;         // index into Snapshot::upstreams, or -1 for a respond route
  std::string respond_head;  // "HTTP/1.1 200 OK\r\nname: value\r\n...content-length: N\r\n"
  std::string respond_body;
  std::string strip_prefix;
  std::string rewrite_prefix;
  uint64_t max_body_bytes = 0;  // 0 = unlimited
  uint64_t response_timeout_ms = 30000;
};

struct Snapshot {
  uint64_t version = 0;
  config::Config config;
  std::unique_ptr<router::Router> router;
  std::vector<Upstream> upstreams;
  std::vector<Route> routes;  // same order as config.routes and the router's specs
  http::ParserLimits limits;
};

struct SnapshotResult {
  std::shared_ptr<const Snapshot> snapshot;  // null when errors is not empty
  std::vector<config::ConfigError> errors;
};

// Compiles a validated Config. Errors found here (duplicate routes, unresolvable targets) carry
// the file, line and key of the offending node, like the loader's.
SnapshotResult build_snapshot(config::Config cfg, uint64_t version);

}  // namespace sluice::proxy
