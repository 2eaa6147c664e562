// Active HTTP health checks, run by the control thread on its event loop. Each target gets a
// probe every interval: a non-blocking TCP connect, "GET <path>" with Connection: close, and the
// response head (the body is ignored). The verdict goes into TargetState::health, which workers
// read to skip unhealthy targets.
// Example:
//   balance::HealthChecker checker(loop);
//   checker.configure({{state, address, "api.internal", upstream_config.health_check}});
//   while (running) loop.run_once(1000);
//
// Verdicts: the first probe of a target decides at once (pass: healthy, fail: unhealthy) so that
// a target that is down at start is excluded quickly; after that healthy_threshold passes in a row
// make it healthy and unhealthy_threshold failures in a row make it unhealthy. A probe fails on a
// connect error, a timeout (timeout_ms for the whole probe), a malformed or truncated response
// head, or a status outside expected_statuses. Every change is logged to stderr as
// "health: <upstream>/<key> is now healthy|unhealthy (<reason>)".
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "balance/target_state.h"
#include "config/config.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "net/socket.h"

namespace sluice::balance {

struct HealthCheckTarget {
  std::shared_ptr<TargetState> state;  // where the verdict goes (state->health)
  net::SocketAddress address;
  std::string host_header;  // Host to send; "" = config.host, or else the address ("ip:port")
  config::HealthCheckConfig config;  // `enabled` is not looked at: every target given is checked
  bool uneject = false;              // a passing check ends the target's outlier ejection
};

class HealthChecker {
 public:
  explicit HealthChecker(core::EventLoop& loop);
  // Stops every probe (in-flight ones are abandoned); verdicts stay as they are.
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Replaces the checked set (reload, DNS change). A target whose `state` is already checked
  // keeps its consecutive counters, verdict and schedule; it takes the new address and config
  // (an in-flight probe is abandoned and redone at once if the address or the request changed;
  // otherwise it completes and counts). New targets are probed from the next loop turn on,
  // spread evenly over min(interval, 1 s) in the order given. Removed targets stop (in-flight
  // probes abandoned) and their health goes back to kUnknown, "not checked". Targets without a
  // state, and repeats of a state, are ignored. Never calls back or logs from inside.
  void configure(std::vector<HealthCheckTarget> targets);
  size_t size() const { return probes_.size(); }

 private:
  class Probe;

  core::EventLoop& loop_;
  core::BufferPool pool_{8};
  std::vector<std::unique_ptr<Probe>> probes_;
};

}  // namespace sluice::balance
