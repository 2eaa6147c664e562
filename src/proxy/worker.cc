#include "proxy/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "net/socket.h"
#include "proxy/connection.h"
#include "proxy/gateway.h"

namespace sluice::proxy {
namespace {

ClientConnection* client_of(ListNode* n) {
  return static_cast<ClientConnection*>(n->owner);
}

UpstreamConnection* upstream_of(ListNode* n) {
  return static_cast<UpstreamConnection*>(n->owner);
}

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

Worker::Worker(Gateway& gateway, int index, const std::vector<int>& listen_fds)
    : gateway_(gateway), index_(index) {
  for (int fd : listen_fds) {
    listeners_.push_back(std::make_unique<Listener>(*this, fd));
    loop_.add(fd, EPOLLIN, listeners_.back().get());
  }
  std::random_device rd;
  uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(index);
  rng_[0] = splitmix(seed);
  rng_[1] = splitmix(seed);
  loop_.set_wake_handler([this] { on_turn(); });
}

Worker::~Worker() {
  for (auto& l : listeners_) l->close_fd();
  while (clients_.linked()) client_of(clients_.next)->close_now();
  for (auto& [key, pool] : pools_) {
    while (pool.idle.linked()) upstream_of(pool.idle.next)->close_now();
  }
}

void Worker::Listener::close_fd() {
  if (fd_ >= 0) {
    worker_.loop_.remove(fd_);
    close(fd_);
    fd_ = -1;
  }
}

void Worker::Listener::on_io(uint32_t /*events*/) {
  for (int i = 0; i < 256 && fd_ >= 0; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: the pending connections stay queued; try again shortly (no new
        // edge would come for them).
        uint64_t now = worker_.loop_.now_ms();
        if (now - last_warning_ms_ >= 1000) {
          last_warning_ms_ = now;
          std::fprintf(stderr, "worker %d: accept: %s (raise ulimit -n); retrying\n",
                       worker_.index_, std::strerror(errno));
        }
        worker_.loop_.timers().schedule(*this, now + 100);
      }
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto* conn = new ClientConnection(worker_, fd, peer);
    worker_.clients_.push_front(conn->node);
  }
  // Edge-triggered: more may be pending; look again on the next turn.
  worker_.loop_.modify(fd_, EPOLLIN, this);
}

void Worker::client_closed(ClientConnection* conn) {
  conn->node.unlink();
}

void Worker::on_turn() {
  uint64_t v = gateway_.version();
  if (v != snapshot_version_) {
    snapshot_ = gateway_.current();
    snapshot_version_ = snapshot_->version;
    round_robin_.assign(snapshot_->upstreams.size(), static_cast<uint32_t>(index_));
    weighted_current_.assign(snapshot_->upstreams.size(), {});
  }
  if (!draining_ && gateway_.draining()) begin_drain();
  if (draining_) {
    if (drained() != reported_drained_) {
      reported_drained_ = drained();
      gateway_.set_worker_drained(reported_drained_);
    }
    if (gateway_.all_drained() || loop_.now_ms() >= gateway_.drain_deadline_ms()) stop_ = true;
  }
}

void Worker::begin_drain() {
  draining_ = true;
  for (auto& l : listeners_) l->close_fd();
  // Idle keep-alive connections stay open until the worker stops, so that a request racing the
  // drain is answered (with Connection: close) rather than reset.
  for (ListNode* n = clients_.next; n != &clients_;) {
    ListNode* next = n->next;
    client_of(n)->drain_notice();
    n = next;
  }
}

bool Worker::drained() const {
  return active_exchanges_ == 0;
}

void Worker::run() {
  on_turn();
  while (!stop_) loop_.run_once(draining_ ? 50 : 1000);
}

const Target& Worker::pick_target(const Snapshot& snap, int upstream) {
  const Upstream& up = snap.upstreams[static_cast<size_t>(upstream)];
  if (!up.weighted) {
    uint32_t& rr = round_robin_[static_cast<size_t>(upstream)];
    const Target& t = up.targets[rr % up.targets.size()];
    ++rr;
    return t;
  }
  // Smooth weighted round robin (as in nginx): weights 5/1/1 give a a b a c a a, not a burst.
  std::vector<int64_t>& current = weighted_current_[static_cast<size_t>(upstream)];
  if (current.size() != up.targets.size()) current.assign(up.targets.size(), 0);
  size_t best = 0;
  for (size_t i = 0; i < up.targets.size(); ++i) {
    current[i] += up.targets[i].weight;
    if (current[i] > current[best]) best = i;
  }
  current[best] -= static_cast<int64_t>(up.total_weight);
  return up.targets[best];
}

UpstreamConnection* Worker::acquire_upstream(const Target& target, const Upstream& upstream,
                                             bool* reused) {
  TargetPool& pool = pools_[target.key];
  while (pool.idle.linked()) {
    UpstreamConnection* conn = upstream_of(pool.idle.next);
    conn->pool_node.unlink();
    --pool.idle_count;
    if (conn->eof() || conn->failed() || !conn->in().empty()) {
      conn->close_now();
      continue;
    }
    *reused = true;
    return conn;
  }
  *reused = false;
  int err = 0;
  int fd = net::connect_tcp(target.address, &err);
  if (fd < 0) return nullptr;
  auto* conn = new UpstreamConnection(*this, fd, target.key);
  conn->set_connect_timeout(upstream.connect_timeout_ms);
  return conn;
}

void Worker::release_upstream(UpstreamConnection* conn, const Upstream& upstream) {
  TargetPool& pool = pools_[conn->key()];
  if (draining_ || pool.idle_count >= upstream.max_idle_per_worker) {
    conn->close_now();
    return;
  }
  conn->park(upstream.idle_timeout_ms);
  pool.idle.push_front(conn->pool_node);
  ++pool.idle_count;
}

std::unique_ptr<Exchange> Worker::take_exchange() {
  if (free_exchanges_.empty()) return std::make_unique<Exchange>();
  std::unique_ptr<Exchange> ex = std::move(free_exchanges_.back());
  free_exchanges_.pop_back();
  return ex;
}

void Worker::recycle_exchange(std::unique_ptr<Exchange> ex) {
  if (!ex || free_exchanges_.size() >= 256) return;
  ex->reset();
  free_exchanges_.push_back(std::move(ex));
}

void Worker::make_request_id(char out[32]) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int half = 0; half < 2; ++half) {
    // xorshift128+
    uint64_t s1 = rng_[0];
    const uint64_t s0 = rng_[1];
    rng_[0] = s0;
    s1 ^= s1 << 23;
    rng_[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    uint64_t v = rng_[1] + s0;
    for (int i = 0; i < 16; ++i) {
      out[half * 16 + i] = kHex[v & 15];
      v >>= 4;
    }
  }
}

}  // namespace sluice::proxy
