#include "observe/webhooks.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/clock.h"
#include "net/socket.h"

namespace sluice::observe {
namespace {

constexpr uint64_t kFirstBackoffMs = 250;
constexpr uint64_t kLogEveryMs = 10000;

// Waits until fd is ready for `events` or the deadline passes; false on timeout or error.
bool wait_for(int fd, short events, uint64_t deadline_ms) {
  for (;;) {
    const uint64_t now = core::monotonic_ms();
    if (now >= deadline_ms) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<uint64_t>(deadline_ms - now, 1000)));
    if (n > 0) return (p.revents & (events | POLLHUP | POLLERR)) != 0;
    if (n < 0 && errno != EINTR) return false;
  }
}

// Closes the descriptor when the attempt ends, however it ends.
struct Fd {
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd; }
  int fd;
};

}  // namespace

bool WebhookTarget::wants(std::string_view kind) const {
  return kinds.empty() || std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

WebhookSender::WebhookSender() : thread_([this] { run(); }) {}

WebhookSender::~WebhookSender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
    queue_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

void WebhookSender::configure(std::vector<WebhookTarget> targets) {
  std::vector<std::shared_ptr<const WebhookTarget>> next;
  next.reserve(targets.size());
  for (WebhookTarget& t : targets) next.push_back(std::make_shared<WebhookTarget>(std::move(t)));
  std::lock_guard<std::mutex> lock(mu_);
  targets_ = std::move(next);
}

void WebhookSender::enqueue(const Event& e) {
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& t : targets_) {
      if (!t->wants(e.kind)) continue;
      if (queue_.size() >= kMaxQueued) {
        queue_.pop_front();
        dropped_.fetch_add(1, std::memory_order_relaxed);
      }
      queue_.push_back(Delivery{t, e.id, e.kind, e.json});
      queued = true;
    }
  }
  if (queued) cv_.notify_all();
}

bool WebhookSender::flush(uint64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [this] { return queue_.empty() && !busy_; });
}

void WebhookSender::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Delivery d = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    uint64_t backoff = kFirstBackoffMs;
    for (uint32_t attempt_no = 0;; ++attempt_no) {
      lock.unlock();
      std::string why;
      const bool ok = attempt(d, &why);
      lock.lock();
      if (ok) {
        delivered_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      failed_.fetch_add(1, std::memory_order_relaxed);
      const bool last = attempt_no >= d.target->retries;
      log_failure(d, why, last);
      if (last) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      if (cv_.wait_for(lock, std::chrono::milliseconds(backoff), [this] { return stop_; })) {
        busy_ = false;
        return;
      }
      backoff *= 2;
    }
    busy_ = false;
    cv_.notify_all();  // flush() may wait for this
  }
}

bool WebhookSender::attempt(const Delivery& d, std::string* why) {
  const WebhookTarget& t = *d.target;
  const uint64_t deadline = core::monotonic_ms() + t.timeout_ms;
  net::SocketAddress addr;
  if (!net::resolve_address(t.host, t.port, &addr, why)) return false;
  int err_no = 0;
  Fd fd(net::connect_tcp(addr, &err_no));
  if (fd.get() < 0) {
    *why = std::string("connect: ") + std::strerror(err_no);
    return false;
  }
  if (!wait_for(fd.get(), POLLOUT, deadline)) {
    *why = "connect: timed out";
    return false;
  }
  int so_error = 0;
  socklen_t len = sizeof so_error;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    *why = std::string("connect: ") + std::strerror(so_error);
    return false;
  }
  std::string req =
      "POST " + t.path + " HTTP/1.1\r\nhost: " + t.host + ":" + std::to_string(t.port) +
      "\r\nuser-agent: sluice\r\ncontent-type: application/json\r\nx-sluice-event: " + d.kind +
      "\r\nx-sluice-event-id: " + std::to_string(d.event_id);
  for (const auto& [name, value] : t.headers) req += "\r\n" + name + ": " + value;
  req += "\r\ncontent-length: " + std::to_string(d.body.size()) + "\r\nconnection: close\r\n\r\n";
  req += d.body;
  size_t sent = 0;
  while (sent < req.size()) {
    const ssize_t n = ::send(fd.get(), req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_for(fd.get(), POLLOUT, deadline)) {
        *why = "send: timed out";
        return false;
      }
    } else {
      *why = std::string("send: ") + std::strerror(errno);
      return false;
    }
  }
  // The status line is all that is needed: "HTTP/1.1 204 …\r\n".
  std::string head;
  while (head.find("\r\n") == std::string::npos && head.size() < 1024) {
    char buf[512];
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      head.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(fd.get(), POLLIN, deadline)) {
        *why = "no answer in time";
        return false;
      }
    } else {
      *why = std::string("recv: ") + std::strerror(errno);
      return false;
    }
  }
  if (head.size() < 12 || !head.starts_with("HTTP/1.") || head[8] != ' ') {
    *why = "the answer is not HTTP/1.x";
    return false;
  }
  if (head[9] != '2') {
    *why = "answered " + head.substr(9, 3);
    return false;
  }
  return true;
}

void WebhookSender::log_failure(const Delivery& d, const std::string& why, bool dropping) {
  const uint64_t now = core::monotonic_ms();
  if (last_log_ms_ != 0 && now - last_log_ms_ < kLogEveryMs) return;
  last_log_ms_ = now;
  std::fprintf(stderr, "webhook %s: event %llu (%s): %s%s\n", d.target->url.c_str(),
               static_cast<unsigned long long>(d.event_id), d.kind.c_str(), why.c_str(),
               dropping ? "; dropped" : "; retrying");
}

}  // namespace sluice::observe
