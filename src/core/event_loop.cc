#include "core/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

namespace sluice::core {

EventLoop::EventLoop() : timers_(monotonic_ms()) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wake_fd_ < 0) throw std::runtime_error("cannot create epoll/eventfd");
  add(wake_fd_, EPOLLIN, &wake_handler_);
}

EventLoop::~EventLoop() {
  graveyard_.clear();
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epfd_ >= 0) close(epfd_);
}

bool EventLoop::add(int fd, uint32_t events, IoHandler* handler) {
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.ptr = handler;
  return epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::modify(int fd, uint32_t events, IoHandler* handler) {
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.ptr = handler;
  return epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) {
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::wake() {
  uint64_t one = 1;
  ssize_t r = write(wake_fd_, &one, sizeof(one));
  (void)r;
}

void EventLoop::WakeHandler::on_io(uint32_t /*events*/) {
  uint64_t v;
  while (read(loop_.wake_fd_, &v, sizeof(v)) > 0) {
  }
}

void EventLoop::unpost(IoHandler* handler) {
  std::erase(posted_, handler);
  for (IoHandler*& h : running_posted_) {
    if (h == handler) h = nullptr;
  }
}

int EventLoop::run_once(int max_wait_ms) {
  int wait = timers_.next_timeout_ms();
  if (wait < 0 || wait > max_wait_ms) wait = max_wait_ms;
  if (!posted_.empty()) wait = 0;
  int n = epoll_wait(epfd_, events_, static_cast<int>(std::size(events_)), wait);
  clock_.update();
  if (n < 0) n = 0;  // EINTR
  for (int i = 0; i < n; ++i) {
    static_cast<IoHandler*>(events_[i].data.ptr)->on_io(events_[i].events);
  }
  timers_.advance(clock_.now_ms());
  running_posted_.swap(posted_);
  for (IoHandler* h : running_posted_) {
    if (h != nullptr) h->on_io(0);
  }
  running_posted_.clear();
  if (on_wake_) on_wake_();
  while (!graveyard_.empty()) {
    std::vector<std::unique_ptr<Deferred>> dead;
    dead.swap(graveyard_);
  }
  return n;
}

}  // namespace sluice::core
