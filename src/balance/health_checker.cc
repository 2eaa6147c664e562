#include "balance/health_checker.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "http/response_parser.h"

namespace sluice::balance {

namespace {

// A health endpoint's response head is small; a bigger one is a misbehaving target.
constexpr size_t kMaxHeadBytes = 16 * 1024;
constexpr uint64_t kMaxSpreadMs = 1000;

std::string address_authority(const net::SocketAddress& a) {
  std::string ip = net::ip_string(a.storage);
  uint16_t port = a.family() == AF_INET6
                      ? ntohs(reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_port)
                      : ntohs(reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_port);
  if (a.family() == AF_INET6) ip = "[" + ip + "]";
  return ip + ":" + std::to_string(port);
}

bool same_address(const net::SocketAddress& a, const net::SocketAddress& b) {
  return a.length == b.length && std::memcmp(&a.storage, &b.storage, a.length) == 0;
}

const char* health_name(Health h) {
  switch (h) {
    case Health::kHealthy:
      return "healthy";
    case Health::kUnhealthy:
      return "unhealthy";
    case Health::kUnknown:
      break;
  }
  return "unknown";
}

}  // namespace

// One checked target: its schedule, its in-flight probe (if any) and its counters. The timer is
// the next probe's start while idle and the probe's deadline while one is in flight. It is also
// a Deferred: a probe removed by configure() may still have an epoll event queued in this turn.
class HealthChecker::Probe : public core::Timer, public core::IoHandler, public core::Deferred {
 public:
  Probe(core::EventLoop& loop, core::BufferPool& pool, HealthCheckTarget t)
      : loop_(loop),
        pool_(pool),
        parser_(http::ParserLimits{.max_head_bytes = kMaxHeadBytes}),
        state_(std::move(t.state)) {
    update(std::move(t));
    // A verdict the target already has (handed over by a binary upgrade, proxy/handover.h)
    // stands until the thresholds change it; a new target's first check decides.
    verdict_ = state_ ? state_->health.load(std::memory_order_relaxed) : Health::kUnknown;
    decided_ = verdict_ != Health::kUnknown;
  }
  ~Probe() override { abandon(); }

  TargetState* state() const { return state_.get(); }

  // New address / config for a kept target (or the first ones for a new target).
  void update(HealthCheckTarget t) {
    std::string host = !t.host_header.empty()   ? std::move(t.host_header)
                       : !t.config.host.empty() ? t.config.host
                                                : address_authority(t.address);
    std::string request = "GET " + (t.config.path.empty() ? std::string("/") : t.config.path) +
                          " HTTP/1.1\r\nHost: " + host +
                          "\r\nUser-Agent: sluice-health\r\nConnection: close\r\n\r\n";
    bool changed = !same_address(address_, t.address) || request != request_;
    bool redo = phase_ != Phase::kIdle && changed;
    if (redo) abandon();  // the probe in flight asks the old question (or the old address)
    address_ = t.address;
    config_ = std::move(t.config);
    uneject_ = t.uneject;
    request_ = std::move(request);
    if (redo) {
      loop_.timers().schedule(*this, loop_.now_ms());
    } else if (phase_ == Phase::kIdle && armed() && started_ms_ != 0) {
      // A new interval applies from the last probe's start.
      loop_.timers().schedule(*this, std::max(started_ms_ + interval(), loop_.now_ms()));
    }
  }

  // The first probe of a new target: the i-th of n new ones starts i/n into min(interval, 1 s).
  void start_first(size_t i, size_t n) {
    uint64_t span = std::min(kMaxSpreadMs, interval());
    loop_.timers().schedule(*this, loop_.now_ms() + span * i / n);
  }

  // Stops an in-flight probe and the schedule, without a verdict.
  void abandon() {
    close_connection();
    loop_.timers().cancel(*this);
  }

  void on_timer() override {
    if (phase_ != Phase::kIdle) {
      finish(false, Reason::kTimeout, 0);
    } else {
      start();
    }
  }

  void on_io(uint32_t events) override {
    if (fd_ < 0) return;  // abandoned or finished earlier in this turn
    if (phase_ == Phase::kConnecting) {
      if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
      int err = 0;
      socklen_t len = sizeof(err);
      if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) return finish(false, Reason::kConnect, err);
      phase_ = Phase::kWriting;
    }
    if (phase_ == Phase::kWriting) {
      while (written_ < request_.size()) {
        ssize_t n =
            ::send(fd_, request_.data() + written_, request_.size() - written_, MSG_NOSIGNAL);
        if (n > 0) {
          written_ += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          return;  // the next EPOLLOUT edge resumes
        } else {
          return finish(false, Reason::kSend, n < 0 ? errno : EPIPE);
        }
      }
      phase_ = Phase::kReading;
    }
    read_response((events & EPOLLRDHUP) != 0);
  }

 private:
  enum class Phase : uint8_t { kIdle, kConnecting, kWriting, kReading };
  enum class Reason : uint8_t {
    kStatus,   // a complete head; detail = status (passes or not by expected_statuses)
    kConnect,  // detail = errno
    kSend,     // detail = errno
    kRead,     // detail = errno
    kClosed,   // EOF before a complete head
    kBadHead,  // parser error; text = reason
    kTimeout,
  };

  uint64_t interval() const { return std::max<uint64_t>(config_.interval_ms, 1); }

  void start() {
    started_ms_ = loop_.now_ms();
    int err = 0;
    int fd = net::connect_tcp(address_, &err);
    if (fd < 0) return finish(false, Reason::kConnect, err);
    if (!loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this)) {
      err = errno;
      ::close(fd);
      return finish(false, Reason::kConnect, err);
    }
    fd_ = fd;
    phase_ = Phase::kConnecting;
    written_ = 0;
    loop_.timers().schedule(*this, started_ms_ + std::max<uint64_t>(config_.timeout_ms, 1));
  }

  void read_response(bool peer_closing) {
    core::ReadOutcome r = core::read_into(fd_, in_, pool_, kMaxHeadBytes + 1, peer_closing);
    int read_errno = errno;
    while (true) {
      http::ParseStatus st = parser_.parse(in_.view(), http::Method::kGet, head_);
      if (st == http::ParseStatus::kError) {
        bad_head_reason_ = head_.error_reason;
        return finish(false, Reason::kBadHead, 0);
      }
      if (st == http::ParseStatus::kIncomplete) break;
      if (head_.status >= 100 && head_.status < 200 && head_.status != 101) {
        in_.consume(parser_.head_length());  // interim response: the final one follows
        parser_.reset();
        head_.clear();
        continue;
      }
      return finish(status_expected(head_.status), Reason::kStatus, head_.status);
    }
    if (r.error) return finish(false, Reason::kRead, read_errno);
    if (r.eof) return finish(false, Reason::kClosed, 0);
    if (in_.size() > kMaxHeadBytes) {
      bad_head_reason_ = "response head too large";
      return finish(false, Reason::kBadHead, 0);
    }
  }

  bool status_expected(int status) const {
    for (const auto& [lo, hi] : config_.expected_statuses) {
      if (status >= lo && status <= hi) return true;
    }
    return false;
  }

  void close_connection() {
    if (fd_ >= 0) {
      loop_.remove(fd_);
      ::close(fd_);
      fd_ = -1;
    }
    phase_ = Phase::kIdle;
    in_.release(pool_);
    parser_.reset();
    head_.clear();
  }

  void finish(bool pass, Reason reason, int detail) {
    close_connection();
    record(pass, reason, detail);
    loop_.timers().schedule(*this, std::max(started_ms_ + interval(), loop_.now_ms()));
  }

  void record(bool pass, Reason reason, int detail) {
    if (pass) {
      failures_ = 0;
      if (passes_ < UINT32_MAX) ++passes_;
    } else {
      passes_ = 0;
      if (failures_ < UINT32_MAX) ++failures_;
    }
    Health next = verdict_;
    if (!decided_) {
      next = pass ? Health::kHealthy : Health::kUnhealthy;
      decided_ = true;
    } else if (pass && passes_ >= std::max<uint32_t>(config_.healthy_threshold, 1)) {
      next = Health::kHealthy;
    } else if (!pass && failures_ >= std::max<uint32_t>(config_.unhealthy_threshold, 1)) {
      next = Health::kUnhealthy;
    }
    const bool ejected = state_->ejected(loop_.now_ms());
    if (!ejected) down_while_ejected_ = false;
    if (!pass && ejected) down_while_ejected_ = true;
    if (pass && uneject_ && down_while_ejected_ && next == Health::kHealthy) {
      // The target failed its checks while ejected and passes them again (a restarted
      // backend): the passive verdict that ejected it is out of date, so traffic returns now
      // rather than when the ejection ends. A target whose checks pass all along while its
      // traffic fails stays ejected.
      down_while_ejected_ = false;
      state_->ejected_until_ms.store(0, std::memory_order_relaxed);
      state_->consecutive_failures.store(0, std::memory_order_relaxed);
      std::fprintf(stderr, "health: %s/%s passes its health check again: ejection ended\n",
                   state_->upstream.c_str(), state_->key.c_str());
    }
    if (next == verdict_) return;
    verdict_ = next;
    state_->health.store(next, std::memory_order_relaxed);
    log_change(reason, detail);
  }

  void log_change(Reason reason, int detail) {
    char why[160];
    switch (reason) {
      case Reason::kStatus:
        std::snprintf(why, sizeof(why), "status %d", detail);
        break;
      case Reason::kConnect:
        std::snprintf(why, sizeof(why), "connect: %s", std::strerror(detail));
        break;
      case Reason::kSend:
        std::snprintf(why, sizeof(why), "send: %s", std::strerror(detail));
        break;
      case Reason::kRead:
        std::snprintf(why, sizeof(why), "read: %s", std::strerror(detail));
        break;
      case Reason::kClosed:
        std::snprintf(why, sizeof(why), "connection closed before the response head");
        break;
      case Reason::kBadHead:
        std::snprintf(why, sizeof(why), "bad response: %s", bad_head_reason_);
        break;
      case Reason::kTimeout:
        std::snprintf(why, sizeof(why), "no response within %llu ms",
                      static_cast<unsigned long long>(config_.timeout_ms));
        break;
    }
    std::fprintf(stderr, "health: %s/%s is now %s (%s)\n", state_->upstream.c_str(),
                 state_->key.c_str(), health_name(verdict_), why);
  }

  core::EventLoop& loop_;
  core::BufferPool& pool_;
  http::ResponseParser parser_;
  http::ResponseHead head_;
  core::Buffer in_;
  std::shared_ptr<TargetState> state_;
  net::SocketAddress address_;
  config::HealthCheckConfig config_;
  bool uneject_ = false;
  bool down_while_ejected_ = false;  // a check failed during the current ejection
  std::string request_;
  int fd_ = -1;
  Phase phase_ = Phase::kIdle;
  size_t written_ = 0;
  uint64_t started_ms_ = 0;
  uint32_t passes_ = 0;
  uint32_t failures_ = 0;
  bool decided_ = false;
  Health verdict_ = Health::kUnknown;
  const char* bad_head_reason_ = "";
};

HealthChecker::HealthChecker(core::EventLoop& loop) : loop_(loop) {}

HealthChecker::~HealthChecker() {
  for (auto& p : probes_) {
    p->abandon();
    loop_.destroy_later(std::move(p));
  }
}

void HealthChecker::configure(std::vector<HealthCheckTarget> targets) {
  std::unordered_map<TargetState*, std::unique_ptr<Probe>> old;
  old.reserve(probes_.size());
  for (auto& p : probes_) {
    TargetState* key = p->state();
    old.emplace(key, std::move(p));
  }
  probes_.clear();

  std::unordered_set<TargetState*> seen;
  std::vector<Probe*> fresh;
  for (HealthCheckTarget& t : targets) {
    TargetState* key = t.state.get();
    if (key == nullptr || !seen.insert(key).second) continue;
    auto it = old.find(key);
    if (it != old.end()) {
      it->second->update(std::move(t));
      probes_.push_back(std::move(it->second));
      old.erase(it);
    } else {
      probes_.push_back(std::make_unique<Probe>(loop_, pool_, std::move(t)));
      fresh.push_back(probes_.back().get());
    }
  }

  for (auto& [state, probe] : old) {
    probe->abandon();
    state->health.store(Health::kUnknown, std::memory_order_relaxed);
    loop_.destroy_later(std::move(probe));
  }

  // Spread the first probes of new targets so that a large config does not probe all at once.
  for (size_t i = 0; i < fresh.size(); ++i) fresh[i]->start_first(i, fresh.size());
}

}  // namespace sluice::balance
