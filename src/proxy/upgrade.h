// Zero-downtime binary upgrade (nginx's convention): on SIGUSR2 the running process starts the
// binary on disk with the same arguments and hands it its listening sockets (inherited across
// exec: the same sockets, so no connection waiting in an accept queue is lost); when the new
// process is ready (it writes to an inherited pipe), the old one stops accepting, drains and
// exits. If the new process fails to start, the old one goes on serving and says why.
//
// The new process finds what it inherits in the environment:
//   SLUICE_INHERIT_LISTENERS="127.0.0.1:8080=5,6;[::1]:8443=7,8"  (listener address -> fds)
//   SLUICE_INHERIT_ADMIN=9  SLUICE_INHERIT_READY=10  SLUICE_INHERIT_STATE=11
// and takes them (take_inherited() clears the variables, so its own children do not see them).
// Example (old side, control thread):
//   Upgrader up(gateway, loop, argv);   ...SIGUSR2...  up.begin(admin_fd);
// (new side): Inherited in = take_inherited();  gateway.start(&errors, &in);  in.ready();
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/event_loop.h"

namespace sluice::proxy {

class Gateway;

struct Inherited {
  std::map<std::string, std::vector<int>> listeners;  // by the listener's address as written
  int admin_fd = -1;
  int ready_fd = -1;
  int state_fd = -1;  // local rate-limit counters (limits/limiter_store.h), or -1
  bool any() const { return !listeners.empty() || admin_fd >= 0 || ready_fd >= 0; }
  // The sockets of `address`, taken out of the map (the caller owns them).
  std::vector<int> take(const std::string& address);
  // Closes what was not taken (a listener the new config dropped).
  void close_rest();
  // Tells the old process this one serves now.
  void ready();
};

// Reads (and unsets) the SLUICE_INHERIT_* variables; every descriptor gets FD_CLOEXEC back.
Inherited take_inherited();

class Upgrader : public core::IoHandler {
 public:
  // argv: the process's own arguments (argv[0] included); the binary started is the one at the
  // path this process was started from, as it is on disk then.
  Upgrader(Gateway& gateway, core::EventLoop& loop, std::vector<std::string> argv);
  ~Upgrader() override;
  // SIGUSR2: starts the new process. False (logged) when one is starting already or it cannot be
  // started.
  bool begin(int admin_fd);
  void on_io(uint32_t events) override;
  bool in_progress() const { return pid_ > 0; }

 private:
  void failed(const std::string& why);

  Gateway& gateway_;
  core::EventLoop& loop_;
  std::vector<std::string> argv_;
  std::string exe_;
  pid_t pid_ = -1;
  int ready_read_ = -1;
  std::string got_;
};

}  // namespace sluice::proxy
