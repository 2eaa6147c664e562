// A non-blocking socket's epoll registration on behalf of an owner that may go away first: a
// Deferred, so that an event already queued for it in this loop turn finds it alive (and
// detached, doing nothing) after the owner closed it or was destroyed. For the control thread's
// one-request-at-a-time HTTP clients (JWKS fetcher, OTLP exporter).
// Example:
//   auto s = std::make_unique<OwnedSocket<Fetcher>>(this, fd);  loop.add(fd, EPOLLIN | EPOLLOUT,
//   s.get());
//   ...  s->detach(&loop);  loop.destroy_later(std::move(s));
#pragma once

#include <unistd.h>

#include "core/event_loop.h"

namespace sluice::net {

template <typename Owner>
class OwnedSocket : public core::IoHandler, public core::Deferred {
 public:
  OwnedSocket(Owner* owner, int fd) : owner_(owner), fd_(fd) {}
  ~OwnedSocket() override { detach(nullptr); }
  OwnedSocket(const OwnedSocket&) = delete;
  OwnedSocket& operator=(const OwnedSocket&) = delete;

  void on_io(uint32_t events) override {
    if (owner_ != nullptr && fd_ >= 0) owner_->on_io(events);
  }
  int fd() const { return fd_; }
  // Closes the socket (removing it from `loop` when given) and forgets the owner.
  void detach(core::EventLoop* loop) {
    if (fd_ >= 0) {
      if (loop != nullptr) loop->remove(fd_);
      ::close(fd_);
      fd_ = -1;
    }
    owner_ = nullptr;
  }

 private:
  Owner* owner_;
  int fd_;
};

}  // namespace sluice::net
