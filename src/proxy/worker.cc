#include "proxy/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>

#include "balance/target_state.h"
#include "net/socket.h"
#include "proxy/connection.h"
#include "proxy/gateway.h"
#include "proxy/mirror.h"

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
    listeners_.push_back(std::make_unique<Listener>(*this, fd, listeners_.size()));
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
  while (mirrors_.linked()) static_cast<Mirror*>(mirrors_.next->owner)->drop();
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
  const std::shared_ptr<const Snapshot>& snap = worker_.snapshot();
  const std::vector<config::ListenerConfig>& ls = snap->config.listeners;
  const uint32_t listener_max = index_ < ls.size() ? ls[index_].max_connections : 0;
  const bool tls = index_ < ls.size() && ls[index_].tls.context != nullptr;
  const uint32_t per_client = snap->config.limits.max_connections_per_client;
  ConnectionLimits& limits = worker_.gateway_.connection_limits();
  for (int i = 0; i < 256 && fd_ >= 0; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      const bool no_fd = errno == EMFILE || errno == ENFILE;
      if (no_fd && worker_.refuse_without_descriptor(fd_, tls)) continue;
      if (no_fd || errno == ENOBUFS || errno == ENOMEM) {
        // No reserve to spend, or no memory: the pending connections stay queued; try again
        // shortly (no new edge would come for them).
        worker_.loop_.timers().schedule(*this, worker_.loop_.now_ms() + 100);
      }
      return;
    }
    worker_.descriptors_available();
    const ConnectionLimits::Admit a = limits.admit(index_, peer, listener_max, per_client);
    if (a.refused != Refusal::kNone) {
      refuse_connection(fd, a.refused, tls);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto* conn = new ClientConnection(worker_, fd, peer, index_);
    conn->set_counted_client(a.counted_client);
    worker_.clients_.push_front(conn->node);
  }
  // Edge-triggered: more may be pending; look again on the next turn.
  worker_.loop_.modify(fd_, EPOLLIN, this);
}

bool Worker::refuse_without_descriptor(int listen_fd, bool tls) {
  if (!fd_exhausted_) {
    fd_exhausted_ = true;  // logged once per episode, however often the accept is retried
    std::fprintf(
        stderr,
        "worker %d: accept: %s: new connections get 503 until descriptors are free "
        "(raise ulimit -n; counted in sluice_connections_refused_total{reason=\"fd_limit\"})\n",
        index_, std::strerror(errno));
  }
  // A reserved descriptor lets the waiting client have its 503 now rather than hang queued.
  if (!fd_reserve_.release_one()) return false;
  const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  const bool got = fd >= 0;
  if (got) {
    ++fd_refusals_;
    gateway_.connection_limits().count_refusal(Refusal::kFdLimit);
    refuse_connection(fd, Refusal::kFdLimit, tls);
  }
  fd_reserve_.refill();
  return got && fd_reserve_.held() > 0;
}

void Worker::descriptors_available() {
  if (!fd_exhausted_) return;
  fd_exhausted_ = false;
  std::fprintf(stderr,
               "worker %d: accept: descriptors available again (%llu connections refused)\n",
               index_, static_cast<unsigned long long>(fd_refusals_));
  fd_refusals_ = 0;
  fd_reserve_.refill();
}

void Worker::client_closed(ClientConnection* conn) {
  conn->node.unlink();
  gateway_.connection_limits().release(conn->listener(), conn->peer(), conn->counted_client());
}

void Worker::on_turn() {
  uint64_t v = gateway_.generation();
  if (v != snapshot_version_) {
    snapshot_ = gateway_.current();
    snapshot_version_ = snapshot_->generation;
    // Balancers are built on first use: a config with many upstreams costs nothing here, and
    // a Maglev table is built only for upstreams that get traffic.
    balancing_.clear();
    balancing_.resize(snapshot_->upstreams.size());
    // Connect now rather than on the first limited request, which would otherwise find no
    // connection yet and fall back to on_error.
    if (snapshot_->config.redis.enabled) ensure_redis(*snapshot_);
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

bool Worker::upgrade_drain() const {
  return gateway_.upgrade_drain();
}

bool Worker::drained() const {
  // An upgrade also waits for the keep-alive clients to leave (told to on their next answer),
  // since the new process takes over: a request racing the close would be reset.
  return active_exchanges_ == 0 && (!gateway_.upgrade_drain() || clients_.next == &clients_);
}

namespace {

uint64_t unix_offset_us(uint64_t loop_us) {
  timespec wall{};
  clock_gettime(CLOCK_REALTIME, &wall);
  const uint64_t unix_us =
      static_cast<uint64_t>(wall.tv_sec) * 1000000 + static_cast<uint64_t>(wall.tv_nsec) / 1000;
  return unix_us > loop_us ? unix_us - loop_us : 0;
}

}  // namespace

void Worker::ensure_redis(const Snapshot& snap) {
  if (redis_ && snap.generation == redis_generation_) return;  // checked for this snapshot
  redis_generation_ = snap.generation;
  const config::RedisConfig& rc = snap.config.redis;
  std::string identity = rc.host + "|" + std::to_string(rc.port) + "|" + std::to_string(rc.db) +
                         "|" + rc.password + "|" + std::to_string(rc.connect_timeout_ms) + "|" +
                         std::to_string(rc.command_timeout_ms) + "|" + rc.key_prefix;
  if (!redis_ || identity != redis_identity_) {
    // Stopping first answers the waiting requests ("unavailable"; they resume on their own
    // loop turn), so no quota is destroyed with waiters linked.
    if (redis_) {
      redis_->stop();
      const net::RedisStats& rs = redis_->stats();
      redis_base_.commands += rs.commands;
      redis_base_.errors += rs.errors;
      redis_base_.timeouts += rs.timeouts;
      redis_base_.reconnects += rs.reconnects;
    }
    quotas_.clear();
    redis_backend_.reset();
    redis_.reset();
    net::RedisOptions o;
    o.host = rc.host;
    o.port = rc.port;
    o.password = rc.password;
    o.db = rc.db;
    o.connect_timeout_ms = rc.connect_timeout_ms;
    o.command_timeout_ms = rc.command_timeout_ms;
    redis_ = std::make_unique<net::RedisClient>(loop_, o);
    redis_backend_ = std::make_unique<net::RedisQuotaBackend>(*redis_, loop_);
    redis_->start();
    redis_identity_ = std::move(identity);
  }
}

limits::ClusterQuota& Worker::cluster_quota(const Snapshot& snap, const RatePolicy& policy) {
  ensure_redis(snap);
  const config::RedisConfig& rc = snap.config.redis;
  auto it = quotas_.find(policy.policy_id);
  if (it == quotas_.end()) {
    limits::ClusterQuotaOptions o;
    o.prefix = rc.key_prefix;
    o.policy_id = policy.policy_id;
    o.exact = policy.exact;
    it = quotas_
             .emplace(policy.policy_id, std::make_unique<limits::ClusterQuota>(*redis_backend_, o))
             .first;
  }
  return *it->second;
}

const auth::JwtResult& Worker::verify_jwt(const JwtProvider& provider, std::string_view token,
                                          uint64_t now_s) {
  std::unique_ptr<JwtState>& st = jwt_[provider.name];
  if (!st) st = std::make_unique<JwtState>();
  if (st->provider != &provider) {  // a new snapshot: its policy may differ
    st->provider = &provider;
    st->cache.clear();
  }
  // A hit is served from the cache without copying the claims.
  auto verify = [&](const auth::KeySet& keys) -> const auth::JwtResult& {
    if (token.size() <= provider.policy.max_token_bytes) {
      if (const auth::JwtResult* hit = st->cache.find(token, keys.generation(), now_s)) {
        return *hit;
      }
    }
    jwt_scratch_ = auth::verify_jwt(token, keys, provider.policy, now_s);
    if (jwt_scratch_.ok) st->cache.insert(token, keys.generation(), jwt_scratch_, now_s);
    return jwt_scratch_;
  };
  if (provider.jwks != nullptr) {
    const uint64_t g = provider.jwks->generation();
    if (g != st->jwks_generation) {
      st->jwks = provider.jwks->keys();
      st->jwks_generation = g;
    }
    const auth::JwtResult& r = verify(*st->jwks);
    // A kid only the inline keys know is tried there.
    if (r.ok || !provider.inline_keys || r.error != auth::JwtError::kUnknownKid) return r;
  }
  if (provider.inline_keys) return verify(*provider.inline_keys);
  jwt_scratch_ = auth::JwtResult{};
  jwt_scratch_.error = auth::JwtError::kUnknownKid;
  return jwt_scratch_;
}

void Worker::LagProbe::on_timer() {
  const uint64_t now_us = worker_.loop_.clock().now_us();
  worker_.unix_offset_us_ = unix_offset_us(worker_.loop_.clock().now_us());
  if (worker_.redis_) {
    observe::WorkerMetrics& m = worker_.metrics_;
    const net::RedisStats& rs = worker_.redis_->stats();
    m.redis_connected.store(worker_.redis_->connected() ? 1 : 0, std::memory_order_relaxed);
    // Cumulative over the worker's clients (a redis config change makes a new one).
    m.redis_commands.store(worker_.redis_base_.commands + rs.commands, std::memory_order_relaxed);
    m.redis_errors.store(worker_.redis_base_.errors + rs.errors, std::memory_order_relaxed);
    m.redis_timeouts.store(worker_.redis_base_.timeouts + rs.timeouts, std::memory_order_relaxed);
    m.redis_reconnects.store(worker_.redis_base_.reconnects + rs.reconnects,
                             std::memory_order_relaxed);
  }
  if (worker_.loop_.now_ms() >= worker_.next_quota_sweep_ms_) {
    worker_.next_quota_sweep_ms_ = worker_.loop_.now_ms() + 1000;
    for (auto& [id, quota] : worker_.quotas_) quota->sweep(worker_.loop_.now_ms());
  }
  const uint64_t due_us = expires_ms() * 1000;
  const uint64_t lag = now_us > due_us ? now_us - due_us : 0;
  worker_.metrics_.loop_lag_us.store(lag, std::memory_order_relaxed);
  if (lag > worker_.metrics_.loop_lag_max_us.load(std::memory_order_relaxed)) {
    worker_.metrics_.loop_lag_max_us.store(lag, std::memory_order_relaxed);
  }
  worker_.loop_.timers().schedule(*this, worker_.loop_.now_ms() + 100);
}

void Worker::run() {
  unix_offset_us_ = unix_offset_us(loop_.clock().now_us());
  loop_.timers().schedule(lag_probe_, loop_.now_ms() + 100);
  on_turn();
  while (!stop_) loop_.run_once(draining_ ? 50 : 1000);
}

int Worker::select_target(const Snapshot& snap, int upstream, uint64_t tried_mask, int sticky,
                          uint64_t hash) {
  const Upstream& up = snap.upstreams[static_cast<size_t>(upstream)];
  const size_t n = up.targets.size();
  const bool current = &snap == snapshot_.get();
  std::vector<uint8_t>& eligible =
      current ? balancing_[static_cast<size_t>(upstream)].eligible : eligible_scratch_;
  eligible.assign(n, 0);
  const uint64_t now = loop_.now_ms();
  auto tried = [&](size_t i) { return i < 64 && ((tried_mask >> i) & 1) != 0; };
  size_t count = 0;
  size_t healthy = 0;
  for (size_t i = 0; i < n; ++i) {
    const Target& t = up.targets[i];
    if (t.addresses.empty() || !t.state->available(now)) continue;
    ++healthy;
    if (tried(i)) continue;
    eligible[i] = 1;
    ++count;
  }
  if (count == 0 && healthy > 0) {
    // Every healthy target was tried: try them again rather than fail.
    for (size_t i = 0; i < n; ++i) {
      const Target& t = up.targets[i];
      if (!t.addresses.empty() && t.state->available(now)) eligible[i] = 1;
    }
    count = healthy;
  }
  UpstreamRuntime& rt = *up.runtime;
  if (count == 0) {
    // Panic mode: no healthy target; using all of them beats answering 503 to everyone.
    for (size_t i = 0; i < n; ++i) {
      if (!up.targets[i].addresses.empty()) {
        eligible[i] = 1;
        ++count;
      }
    }
    if (count == 0) return -1;
    if (!rt.in_panic.exchange(true)) {
      rt.panics.fetch_add(1, std::memory_order_relaxed);
      std::fprintf(stderr, "upstream %s: no healthy target, panic mode: using all %zu targets\n",
                   up.name.c_str(), count);
    }
  } else if (rt.in_panic.load(std::memory_order_relaxed) && rt.in_panic.exchange(false)) {
    std::fprintf(stderr, "upstream %s: healthy targets again, panic mode over\n", up.name.c_str());
  }
  if (sticky >= 0 && static_cast<size_t>(sticky) < n && eligible[static_cast<size_t>(sticky)]) {
    return sticky;
  }
  if (current) {
    Balancing& b = balancing_[static_cast<size_t>(upstream)];
    if (!b.balancer) {
      for (const Target& t : up.targets) {
        b.endpoints.push_back(balance::Endpoint{t.weight, t.state.get(), t.key});
      }
      b.balancer = balance::make_balancer(
          up.algorithm, b.endpoints,
          static_cast<uint64_t>(index_) * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(upstream));
    }
    return static_cast<int>(b.balancer->pick(eligible, hash));
  }
  // A retry of a request that started on an older snapshot: plain rotation over its targets.
  for (size_t k = 0; k < n; ++k) {
    size_t i = (rotation_ + k) % n;
    if (eligible[i]) {
      rotation_ = static_cast<uint32_t>(i + 1);
      return static_cast<int>(i);
    }
  }
  return -1;
}

UpstreamConnection* Worker::acquire_upstream(const Target& target, const Upstream& upstream,
                                             bool* reused, bool* limited) {
  *limited = false;
  // Several addresses (a host name): rotate.
  size_t a = 0;
  if (target.addresses.size() > 1) {
    a = rotation_++ % target.addresses.size();
  }
  const std::string& key = target.pool_keys[a];
  TargetPool& pool = pools_[key];
  while (pool.idle.linked()) {
    UpstreamConnection* conn = upstream_of(pool.idle.next);
    conn->pool_node.unlink();
    --pool.idle_count;
    // A reload may have switched the upstream's TLS on or off: such a connection is not reused.
    if (conn->eof() || conn->failed() || !conn->in().empty() ||
        conn->tls() != (upstream.tls != nullptr)) {
      conn->close_now();
      continue;
    }
    *reused = true;
    return conn;
  }
  *reused = false;
  UpstreamRuntime& rt = *upstream.runtime;
  // Envoy-style limits, counted over all workers: open connections, and connects in progress.
  if ((upstream.max_connections != 0 && rt.connections.load(std::memory_order_relaxed) >=
                                            static_cast<int32_t>(upstream.max_connections)) ||
      (upstream.max_pending != 0 &&
       rt.pending.load(std::memory_order_relaxed) >= static_cast<int32_t>(upstream.max_pending))) {
    *limited = true;
    return nullptr;
  }
  int err = 0;
  int fd = net::connect_tcp(target.addresses[a], &err);
  if (fd < 0) return nullptr;
  auto* conn = new UpstreamConnection(*this, fd, key, upstream.runtime, target.state);
  if (upstream.tls) {
    // SNI and the verified name: the target's host (server_name overrides it in the context).
    std::string_view host = target.key;
    if (size_t colon = host.rfind(':'); colon != std::string_view::npos)
      host = host.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    std::unique_ptr<net::TlsStream> tls = upstream.tls->new_stream(fd, host);
    if (!tls) {
      conn->close_now();
      return nullptr;
    }
    conn->start_tls(std::move(tls));
  }
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

Mirror* Worker::start_mirror(const std::shared_ptr<const Snapshot>& snap, const Route& route) {
  observe::RouteMetrics& m = metrics_.route(route.metric_slot);
  if (m.mirror_in_flight.load(std::memory_order_relaxed) >=
      static_cast<int64_t>(route.mirror->max_in_flight)) {
    m.mirror_dropped.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  std::unique_ptr<Mirror> mirror;
  if (free_mirrors_.empty()) {
    mirror = std::make_unique<Mirror>(*this);
  } else {
    mirror = std::move(free_mirrors_.back());
    free_mirrors_.pop_back();
  }
  Mirror* p = mirror.release();  // owned by mirrors_ while in flight
  mirrors_.push_front(p->node);
  p->open(snap, route, m);
  return p;
}

void Worker::mirror_finished(Mirror* m) {
  m->node.unlink();
  std::unique_ptr<Mirror> owned(m);
  if (free_mirrors_.size() < 256) {
    free_mirrors_.push_back(std::move(owned));
  } else {
    // It may be finishing from inside its own callback: freed after this loop turn.
    loop_.destroy_later(std::move(owned));
  }
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
