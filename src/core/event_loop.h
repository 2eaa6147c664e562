// The per-worker event loop: edge-triggered epoll, a cached clock, a timer wheel, a wake-up
// eventfd for other threads, and deferred destruction so an object closed during one batch of
// events is freed only after the batch.
// Example:
//   EventLoop loop;  loop.add(fd, EPOLLIN | EPOLLOUT, &handler);
//   while (running) loop.run_once(1000);
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/clock.h"
#include "core/timer_wheel.h"

namespace sluice::core {

class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual void on_io(uint32_t events) = 0;
};

// Something destroyed at the end of the current loop turn.
class Deferred {
 public:
  virtual ~Deferred() = default;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  bool add(int fd, uint32_t events, IoHandler* handler);
  bool modify(int fd, uint32_t events, IoHandler* handler);
  void remove(int fd);

  // Waits at most max_wait_ms (or less, for timers), dispatches I/O, fires due timers, frees
  // deferred objects. Returns the number of I/O events handled.
  int run_once(int max_wait_ms);
  // Thread-safe: interrupts a run_once() waiting in another thread.
  void wake();
  // Called on the loop thread after a wake() (and on every turn; must be cheap).
  void set_wake_handler(std::function<void()> fn) { on_wake_ = std::move(fn); }

  void destroy_later(std::unique_ptr<Deferred> obj) { graveyard_.push_back(std::move(obj)); }

  // Calls handler->on_io(0) on the next turn, which then does not block in epoll_wait. For a
  // handler that stopped early to be fair to others while its sockets still have work (with
  // edge-triggered epoll no new event would come). A handler going away must unpost() itself.
  void post(IoHandler* handler) { posted_.push_back(handler); }
  void unpost(IoHandler* handler);

  Clock& clock() { return clock_; }
  const Clock& clock() const { return clock_; }
  uint64_t now_ms() const { return clock_.now_ms(); }
  TimerWheel& timers() { return timers_; }

 private:
  class WakeHandler : public IoHandler {
   public:
    explicit WakeHandler(EventLoop& loop) : loop_(loop) {}
    void on_io(uint32_t events) override;

   private:
    EventLoop& loop_;
  };

  int epfd_ = -1;
  int wake_fd_ = -1;
  Clock clock_;
  TimerWheel timers_;
  WakeHandler wake_handler_{*this};
  std::function<void()> on_wake_;
  std::vector<std::unique_ptr<Deferred>> graveyard_;
  std::vector<IoHandler*> posted_;
  std::vector<IoHandler*> running_posted_;
  epoll_event events_[256];
};

}  // namespace sluice::core
