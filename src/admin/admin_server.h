// The admin listener, served on the control thread (never on a worker): health and readiness
// probes, the config in force, and reloads.
//   GET /healthz  200 while the process runs
//   GET /readyz   200 while serving, 503 while draining
//   GET /config   {"version":N,"hash":"…","file":"…","last_reload":{"ok":…,"errors":[…]}}
//   POST /reload  re-reads the config: 200 {"ok":true,…} or 400 {"ok":false,"errors":[…]}
//   /api/v1/…     the REST API (api/rest_api.h)
// With admin.token_file set, everything but /healthz and /readyz needs a bearer token.
// Example:
//   AdminServer admin(gateway);  admin.listen(addr, &err);  while (...) admin.loop().run_once(200);
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/rest_api.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "net/socket.h"
#include "observe/json.h"
#include "observe/metrics.h"
#include "proxy/gateway.h"
#include "proxy/overload.h"

namespace sluice::admin {

class EventStream;

// Cumulative request totals of one route, summed over workers and methods.
struct RouteTotals {
  size_t slot = 0;  // RuntimeRegistry::route_slot
  uint64_t requests = 0;
  uint64_t errors = 0;  // 5xx
  std::array<uint64_t, observe::kLatencyBounds.size() + 1> buckets{};
};

class AdminServer : public core::IoHandler {
 public:
  AdminServer(proxy::Gateway& gateway, core::EventLoop& loop);
  ~AdminServer() override;
  bool listen(const net::SocketAddress& addr, std::string* err);
  // A listening socket handed over by an upgrading process (proxy/upgrade.h).
  void adopt(int fd);
  // The old process of an upgrade: the new one answers from now on (same socket).
  void stop_listening();
  int listen_fd() const { return fd_; }
  void on_io(uint32_t events) override;
  core::EventLoop& loop() { return loop_; }
  core::BufferPool& pool() { return pool_; }
  // An admin connection closed: the descriptor reserve takes back what it lent.
  void connection_closed() {
    reserve_.refill();
    loop_.post(this);  // a probe may wait in the backlog (no new edge would come for it)
  }
  // GET /api/v1/events: when the request is acceptable the stream takes fd (out of the loop
  // already) and this returns true; else *answer is what to write on it.
  bool open_event_stream(int fd, const api::Request& req, std::string* answer);
  size_t event_streams() const { return streams_.size(); }
  void stream_opened(EventStream* s) { streams_.push_back(s); }
  void stream_closed(EventStream* s) {
    std::erase(streams_, s);
    connection_closed();
  }
  // Renders the answer to one admin request (exposed for tests).
  std::string handle(const api::Request& req);
  // GET /upstreams: every target with its health, ejection, load and the breaker state.
  std::string upstreams_json();
  // GET /metrics: Prometheus text format 0.0.4.
  std::string metrics_text();
  // GET /routes: each route's match, action and effective filter chain.
  std::string routes_json();
  // GET /stats: the last minute per route (rate, 5xx, p50/p90/p99) and the upstreams.
  std::string stats_json();

 private:
  class StatsSampler : public core::Timer {
   public:
    explicit StatsSampler(AdminServer& s) : server_(s) {}
    void on_timer() override;

   private:
    AdminServer& server_;
  };
  // Sparse: only the routes that have served a request (a config may have 100,000 routes and
  // the window holds 60 samples), by slot.
  struct Sample {
    uint64_t at_ms;
    std::vector<RouteTotals> routes;
  };
  std::vector<RouteTotals> route_totals() const;
  // nullopt when the request may go on; else the 401/403 answer (admin.token_file).
  std::optional<std::string> authorize(const api::Request& req) const;

  proxy::Gateway& gateway_;
  core::EventLoop& loop_;
  api::RestApi api_;
  StatsSampler sampler_{*this};
  std::deque<Sample> samples_;
  core::BufferPool pool_{16};
  // Held for when the process is out of descriptors, so that /healthz and /readyz (and the
  // other endpoints) still answer then: each is lent to one admin connection.
  proxy::FdReserve reserve_{4};
  std::vector<EventStream*> streams_;  // each owns itself
  int fd_ = -1;
};

// JSON string escaping for admin answers.
using observe::json_escape;

}  // namespace sluice::admin
