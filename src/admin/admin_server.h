// The admin listener, served on the control thread (never on a worker): health and readiness
// probes, the config in force, and reloads.
//   GET /healthz  200 while the process runs
//   GET /readyz   200 while serving, 503 while draining
//   GET /config   {"version":N,"hash":"…","file":"…","last_reload":{"ok":…,"errors":[…]}}
//   POST /reload  re-reads the config: 200 {"ok":true,…} or 400 {"ok":false,"errors":[…]}
// Example:
//   AdminServer admin(gateway);  admin.listen(addr, &err);  while (...) admin.loop().run_once(200);
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "net/socket.h"
#include "proxy/gateway.h"

namespace sluice::admin {

class AdminServer : public core::IoHandler {
 public:
  AdminServer(proxy::Gateway& gateway, core::EventLoop& loop);
  ~AdminServer() override;
  bool listen(const net::SocketAddress& addr, std::string* err);
  void on_io(uint32_t events) override;
  core::EventLoop& loop() { return loop_; }
  core::BufferPool& pool() { return pool_; }
  // Renders the answer to one admin request (exposed for tests).
  std::string handle(std::string_view method, std::string_view path);
  // GET /upstreams: every target with its health, ejection, load and the breaker state.
  std::string upstreams_json();
  // GET /metrics: Prometheus text format 0.0.4.
  std::string metrics_text();

 private:
  proxy::Gateway& gateway_;
  core::EventLoop& loop_;
  core::BufferPool pool_{16};
  int fd_ = -1;
};

// JSON string escaping for admin answers.
std::string json_escape(std::string_view s);

}  // namespace sluice::admin
