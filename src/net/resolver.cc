#include "net/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace sluice::net {

namespace {

constexpr int kTimeoutMs = 1000;
constexpr int kTries = 2;
// Reads per readiness event before yielding to the rest of the loop (see process_fd).
constexpr int kMaxReadsPerEvent = 64;

int library_init() {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  return status;
}

// "a.b.c.d[:port]", "[v6][:port]" or a bare IPv6 literal (port 53).
bool parse_server(const std::string& text, ares_addr_port_node* out) {
  std::memset(out, 0, sizeof(*out));
  std::string host = text;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) return false;
    host = text.substr(1, close - 1);
    std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port_text = rest.substr(1);
      if (port_text.empty()) return false;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    size_t colon = text.find(':');
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (port_text.empty()) return false;
  }
  int port = 53;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(),
                                             [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    port = std::stoi(port_text);
    if (port < 1 || port > 65535) return false;
  }
  if (inet_pton(AF_INET, host.c_str(), &out->addr.addr4) == 1) {
    out->family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), &out->addr.addr6) == 1) {
    out->family = AF_INET6;
  } else {
    return false;
  }
  out->udp_port = port;
  out->tcp_port = port;
  return true;
}

// Orders IPv4 before IPv6, then by address bytes (then scope); equal means the same address.
int compare_addresses(const SocketAddress& a, const SocketAddress& b) {
  if (a.family() != b.family()) return a.family() == AF_INET ? -1 : 1;
  if (a.family() == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(&a.storage);
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b.storage);
    return std::memcmp(&x->sin_addr, &y->sin_addr, sizeof(x->sin_addr));
  }
  const auto* x = reinterpret_cast<const sockaddr_in6*>(&a.storage);
  const auto* y = reinterpret_cast<const sockaddr_in6*>(&b.storage);
  int c = std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
  if (c != 0) return c;
  if (x->sin6_scope_id != y->sin6_scope_id) return x->sin6_scope_id < y->sin6_scope_id ? -1 : 1;
  return 0;
}

std::vector<SocketAddress> collect(const ares_addrinfo* res, uint16_t port) {
  std::vector<SocketAddress> out;
  for (const ares_addrinfo_node* n = res != nullptr ? res->nodes : nullptr; n != nullptr;
       n = n->ai_next) {
    SocketAddress a;
    if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(sockaddr_in)) {
      std::memcpy(&a.storage, n->ai_addr, sizeof(sockaddr_in));
      reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
      a.length = sizeof(sockaddr_in);
    } else if (n->ai_family == AF_INET6 && n->ai_addrlen >= sizeof(sockaddr_in6)) {
      std::memcpy(&a.storage, n->ai_addr, sizeof(sockaddr_in6));
      reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
      a.length = sizeof(sockaddr_in6);
    } else {
      continue;
    }
    out.push_back(a);
  }
  std::sort(out.begin(), out.end(), [](const SocketAddress& x, const SocketAddress& y) {
    return compare_addresses(x, y) < 0;
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const SocketAddress& x, const SocketAddress& y) {
                          return compare_addresses(x, y) == 0;
                        }),
            out.end());
  return out;
}

}  // namespace

// One per c-ares socket. Also a Deferred: c-ares may close its socket while we are inside
// on_io() (or while epoll still holds an event for it in this turn), so a closed handler is only
// detached and freed at the end of the loop turn.
class Resolver::SocketHandler : public core::IoHandler, public core::Deferred {
 public:
  SocketHandler(Resolver* r, int fd) : resolver_(r), fd_(fd) {}
  void on_io(uint32_t events) override {
    if (resolver_ != nullptr) resolver_->process_fd(fd_, events);
  }
  void detach() { resolver_ = nullptr; }
  bool attached() const { return resolver_ != nullptr; }
  uint32_t events = 0;

 private:
  Resolver* resolver_;
  int fd_;
};

void Resolver::Poster::on_io(uint32_t /*events*/) {
  r_.posted_ = false;
  r_.flush_ready();
}

void Resolver::TimeoutTimer::on_timer() {
  if (r_.channel_ == nullptr) return;
  ares_process_fd(r_.channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  r_.rearm_timer();
}

Resolver::Resolver(core::EventLoop& loop, const std::vector<std::string>& servers,
                   std::string* error)
    : loop_(loop) {
  auto fail = [&](std::string why) {
    init_error_ = std::move(why);
    if (error != nullptr) *error = init_error_;
  };
  std::vector<ares_addr_port_node> nodes(servers.size());
  for (size_t i = 0; i < servers.size(); ++i) {
    if (!parse_server(servers[i], &nodes[i])) {
      fail("bad DNS server '" + servers[i] + "' (expected IP[:port] or [IPv6]:port)");
      return;
    }
    if (i > 0) nodes[i - 1].next = &nodes[i];
  }
  int rc = library_init();
  if (rc != ARES_SUCCESS) {
    fail(std::string("c-ares: ") + ares_strerror(rc));
    return;
  }

  ares_options opts{};
  opts.timeout = kTimeoutMs;
  opts.tries = kTries;
  char lookups[] = "fb";  // /etc/hosts, then DNS
  opts.lookups = lookups;
  opts.sock_state_cb = &Resolver::on_sock_state;
  opts.sock_state_cb_data = this;
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB;
  ares_channel channel = nullptr;
  rc = ares_init_options(&channel, &opts, mask);
  if (rc != ARES_SUCCESS) {
    if (channel != nullptr) ares_destroy(channel);
    fail(std::string("c-ares init: ") + ares_strerror(rc));
    return;
  }
  if (!nodes.empty()) {
    rc = ares_set_servers_ports(channel, nodes.data());
    if (rc != ARES_SUCCESS) {
      ares_destroy(channel);
      fail(std::string("c-ares servers: ") + ares_strerror(rc));
      return;
    }
  }
  channel_ = channel;
}

Resolver::~Resolver() {
  destroying_ = true;
  if (channel_ != nullptr) {
    // Completes every query with ARES_EDESTRUCTION (on_addrinfo frees them silently) and closes
    // the sockets (on_sock_state detaches their handlers).
    ares_destroy(channel_);
    channel_ = nullptr;
  }
  loop_.timers().cancel(timer_);
  if (posted_) loop_.unpost(&poster_);
  for (auto& [fd, handler] : sockets_) {
    loop_.remove(fd);
    loop_.unpost(handler.get());
    handler->detach();
    loop_.destroy_later(std::move(handler));
  }
}

void Resolver::resolve(const std::string& host, uint16_t port, Callback cb) {
  ++pending_;
  ++in_resolve_;
  SocketAddress literal;
  if (host.empty()) {
    deliver(std::move(cb), false, {}, "cannot resolve an empty host name");
  } else if (parse_ip_literal(host, port, &literal)) {
    deliver(std::move(cb), true, {literal}, "");
  } else if (channel_ == nullptr) {
    deliver(std::move(cb), false, {}, "cannot resolve '" + host + "': " + init_error_);
  } else {
    auto* q = new Query{this, host, port, std::move(cb)};
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT;  // we sort ourselves, deterministically
    ares_getaddrinfo(channel_, host.c_str(), nullptr, &hints, &Resolver::on_addrinfo, q);
    rearm_timer();
  }
  --in_resolve_;
}

void Resolver::on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
  std::unique_ptr<Query> q(static_cast<Query*>(arg));
  Resolver* self = q->owner;
  if (self->destroying_) {
    if (res != nullptr) ares_freeaddrinfo(res);
    return;
  }
  if (status == ARES_SUCCESS) {
    std::vector<SocketAddress> addrs = collect(res, q->port);
    if (res != nullptr) ares_freeaddrinfo(res);
    if (addrs.empty()) {
      self->deliver(std::move(q->cb), false, {}, "cannot resolve '" + q->host + "': no addresses");
    } else {
      self->deliver(std::move(q->cb), true, std::move(addrs), "");
    }
    return;
  }
  if (res != nullptr) ares_freeaddrinfo(res);
  self->deliver(std::move(q->cb), false, {},
                "cannot resolve '" + q->host + "': " + ares_strerror(status));
}

void Resolver::deliver(Callback cb, bool ok, std::vector<SocketAddress> addresses,
                       std::string error) {
  if (in_resolve_ > 0) {
    ready_.push_back(Ready{std::move(cb), ok, std::move(addresses), std::move(error)});
    if (!posted_) {
      posted_ = true;
      loop_.post(&poster_);
    }
    return;
  }
  --pending_;
  if (cb) cb(ok, std::move(addresses), error);
}

void Resolver::flush_ready() {
  std::vector<Ready> batch;
  batch.swap(ready_);
  for (Ready& r : batch) {
    --pending_;
    if (r.cb) r.cb(r.ok, std::move(r.addresses), r.error);
  }
}

void Resolver::on_sock_state(void* data, int fd, int readable, int writable) {
  static_cast<Resolver*>(data)->sock_state(fd, readable != 0, writable != 0);
}

void Resolver::sock_state(int fd, bool readable, bool writable) {
  auto it = sockets_.find(fd);
  if (!readable && !writable) {
    if (it == sockets_.end()) return;
    loop_.remove(fd);
    loop_.unpost(it->second.get());
    it->second->detach();
    loop_.destroy_later(std::move(it->second));
    sockets_.erase(it);
    return;
  }
  uint32_t events = (readable ? uint32_t{EPOLLIN} : 0u) | (writable ? uint32_t{EPOLLOUT} : 0u);
  if (it == sockets_.end()) {
    auto handler = std::make_unique<SocketHandler>(this, fd);
    handler->events = events;
    loop_.add(fd, events, handler.get());
    sockets_.emplace(fd, std::move(handler));
  } else if (it->second->events != events) {
    it->second->events = events;
    loop_.modify(fd, events, it->second.get());
  }
}

void Resolver::process_fd(int fd, uint32_t events) {
  if (channel_ == nullptr) return;
  bool read = (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0 || events == 0;
  bool write = (events & EPOLLOUT) != 0;
  ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, write ? fd : ARES_SOCKET_BAD);
  // Edge-triggered epoll reports a readable socket once, but c-ares may stop reading before the
  // socket is drained (one TCP chunk per call; a UDP datagram from an unexpected address ends
  // its loop). Keep feeding it while data is queued, then yield and come back next turn.
  for (int i = 0;; ++i) {
    auto it = sockets_.find(fd);
    if (it == sockets_.end()) break;  // closed (possibly reused: then its own events come)
    int queued = 0;
    if (ioctl(fd, FIONREAD, &queued) != 0 || queued <= 0) break;
    if (i == kMaxReadsPerEvent) {
      loop_.post(it->second.get());
      break;
    }
    ares_process_fd(channel_, fd, ARES_SOCKET_BAD);
  }
  rearm_timer();
}

void Resolver::rearm_timer() {
  if (channel_ == nullptr) return;
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) {
    loop_.timers().cancel(timer_);
    return;
  }
  // Rounded up so that the timer does not fire just before c-ares considers the query late.
  uint64_t ms =
      static_cast<uint64_t>(tv.tv_sec) * 1000 + (static_cast<uint64_t>(tv.tv_usec) + 999) / 1000;
  loop_.timers().schedule(timer_, loop_.now_ms() + std::max<uint64_t>(ms, 1));
}

}  // namespace sluice::net
