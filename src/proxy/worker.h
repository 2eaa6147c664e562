// One worker thread: its event loop, its listening sockets, the client connections it accepted,
// and its own upstream connection pools. Nothing here is shared with other workers; the only
// cross-thread inputs are the gateway's snapshot version and drain flag, read once per loop turn.
// Example:
//   Worker w(gateway, 0, {listen_fd});  std::thread t([&] { w.run(); });  ...  w.notify();
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "balance/balancer.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "http/request_parser.h"
#include "http/response_parser.h"
#include "limits/cluster_quota.h"
#include "net/redis_client.h"
#include "net/redis_quota_backend.h"
#include "observe/metrics.h"
#include "observe/span.h"
#include "observe/trace_context.h"
#include "proxy/overload.h"
#include "proxy/snapshot.h"

namespace sluice::proxy {

class Gateway;
class ClientConnection;
class UpstreamConnection;
class Mirror;
struct Exchange;

// Intrusive list membership for connections (idle pools, all-connections lists).
struct ListNode {
  explicit ListNode(void* o = nullptr) : owner(o) {}
  void* owner;  // the object this node is embedded in
  ListNode* prev = this;
  ListNode* next = this;
  bool linked() const { return next != this; }
  void unlink() {
    prev->next = next;
    next->prev = prev;
    prev = next = this;
  }
  void push_front(ListNode& n) {
    n.next = next;
    n.prev = this;
    next->prev = &n;
    next = &n;
  }
};

// Idle keep-alive connections to one target address, most recently used first.
struct TargetPool {
  ListNode idle;
  uint32_t idle_count = 0;
};

class Worker {
 public:
  Worker(Gateway& gateway, int index, const std::vector<int>& listen_fds);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void run();
  // Thread-safe: makes the worker look at the gateway's state now.
  void notify() { loop_.wake(); }

  // For connections of this worker.
  core::EventLoop& loop() { return loop_; }
  core::BufferPool& pool() { return pool_; }
  const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }
  bool draining() const { return draining_; }
  // Draining as the old process of a binary upgrade (Gateway::drain(true)).
  bool upgrade_drain() const;
  http::RequestHead& request_head() { return request_head_; }
  http::ResponseHead& response_head() { return response_head_; }
  std::string& path_scratch() { return path_scratch_; }
  std::string& head_scratch() { return head_scratch_; }
  int index() const { return index_; }
  observe::WorkerMetrics& metrics() { return metrics_; }
  const observe::WorkerMetrics& metrics() const { return metrics_; }

  // select_upstream: a target of the upstream for a request of `snap`, or -1 when no target has
  // an address. Eligible are resolved, healthy, not ejected targets not in tried_mask; when none
  // is, the tried ones again; when none is healthy, all resolved ones (panic mode, logged).
  // sticky: the target a valid sticky cookie names, or -1. hash: consistent_hash's key hash.
  int select_target(const Snapshot& snap, int upstream, uint64_t tried_mask, int sticky,
                    uint64_t hash);
  // A connected idle connection to the target, or a new connecting one (nullptr if socket()
  // fails or max_connections is reached: *limited is then true).
  UpstreamConnection* acquire_upstream(const Target& target, const Upstream& upstream, bool* reused,
                                       bool* limited);
  void release_upstream(UpstreamConnection* conn, const Upstream& upstream);
  TargetPool& target_pool(const std::string& key) { return pools_[key]; }

  // A mirror of a request of `route` (its `mirror:`), or null when max_in_flight copies of the
  // route are in flight on this worker (counted as dropped). Mirrors are recycled like exchanges.
  Mirror* start_mirror(const std::shared_ptr<const Snapshot>& snap, const Route& route);
  void mirror_finished(Mirror* m);

  // Exchanges are recycled per worker: no allocation per request in the steady state.
  std::unique_ptr<Exchange> take_exchange();
  void recycle_exchange(std::unique_ptr<Exchange> ex);
  void exchange_started() { ++active_exchanges_; }
  void exchange_finished() { --active_exchanges_; }
  void client_closed(ClientConnection* conn);
  void make_request_id(char out[32]);
  // Unix time in ms for this loop turn (rate-limit windows are aligned to the epoch).
  uint64_t unix_ms() const { return to_unix_us(loop_.clock().now_us()) / 1000; }
  // A loop-clock time in µs as Unix time (the offset is re-read every 100 ms, so log and span
  // times cost no clock read of their own).
  uint64_t to_unix_us(uint64_t loop_us) const { return loop_us + unix_offset_us_; }
  // The worker's lease of a cluster-scope policy (its Redis connection is made on first use and
  // remade when the snapshot's redis section changes).
  limits::ClusterQuota& cluster_quota(const Snapshot& snap, const RatePolicy& policy);
  void ensure_redis(const Snapshot& snap);
  // Verifies a token for a provider with this worker's cache and copy of its JWKS keys (checked
  // against the fetcher's generation, one atomic load), then its inline keys.
  // The result lives in the cache (or a scratch slot) until this worker verifies again.
  const auth::JwtResult& verify_jwt(const JwtProvider& provider, std::string_view token,
                                    uint64_t now_s);
  // Log phase scratch: trace ids, the span being filled, the access-log line being formatted.
  observe::IdGenerator& ids() { return ids_; }
  observe::Span& span_scratch() { return span_; }
  std::string& log_scratch() { return log_line_; }

 private:
  class Listener : public core::IoHandler, public core::Timer {
   public:
    // index: position in config.listeners (which TLS context its connections use).
    Listener(Worker& worker, int fd, size_t index) : worker_(worker), fd_(fd), index_(index) {}
    void on_io(uint32_t events) override;
    void on_timer() override { on_io(0); }
    int fd() const { return fd_; }
    void close_fd();

   private:
    Worker& worker_;
    int fd_;
    size_t index_;
  };
  // Out of descriptors while `listen_fd` has clients waiting: spends a reserved descriptor to
  // accept one and answer it 503 (logged once per episode, counted). False when it could not.
  bool refuse_without_descriptor(int listen_fd, bool tls);
  void descriptors_available();  // an accept worked: the episode, if any, is over

  void on_turn();
  void begin_drain();
  bool drained() const;

  // Measures how late a 100 ms timer fires: the worker's loop lag.
  class LagProbe : public core::Timer {
   public:
    explicit LagProbe(Worker& w) : worker_(w) {}
    void on_timer() override;

   private:
    Worker& worker_;
  };

  Gateway& gateway_;
  int index_;
  core::EventLoop loop_;
  observe::WorkerMetrics metrics_;
  LagProbe lag_probe_{*this};
  core::BufferPool pool_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::shared_ptr<const Snapshot> snapshot_;
  uint64_t snapshot_version_ = 0;
  // The current snapshot's upstreams as this worker balances them.
  struct Balancing {
    std::vector<balance::Endpoint> endpoints;
    std::unique_ptr<balance::Balancer> balancer;
    std::vector<uint8_t> eligible;
  };
  std::vector<Balancing> balancing_;
  std::vector<uint8_t> eligible_scratch_;
  uint32_t rotation_ = 0;  // spreads over a host name's addresses, and over old-snapshot retries
  std::unordered_map<std::string, TargetPool> pools_;
  ListNode clients_;  // every open client connection (for drain)
  std::vector<std::unique_ptr<Exchange>> free_exchanges_;
  ListNode mirrors_;  // mirrors in flight (owned: freed by mirror_finished)
  std::vector<std::unique_ptr<Mirror>> free_mirrors_;
  uint64_t active_exchanges_ = 0;
  bool draining_ = false;
  bool reported_drained_ = false;
  bool stop_ = false;
  http::RequestHead request_head_;
  http::ResponseHead response_head_;
  std::string path_scratch_;
  std::string head_scratch_;
  uint64_t rng_[2] = {};
  FdReserve fd_reserve_{1};
  bool fd_exhausted_ = false;  // an out-of-descriptors episode is on (and was logged)
  uint64_t fd_refusals_ = 0;   // clients refused in it
  uint64_t unix_offset_us_ = 0;
  // Cluster rate limits (declared in this order so that quotas go before their backend and
  // client).
  std::string redis_identity_;
  uint64_t redis_generation_ = 0;  // snapshot generation ensure_redis() last looked at
  net::RedisStats redis_base_;     // counters of the clients replaced before redis_
  std::unique_ptr<net::RedisClient> redis_;
  std::unique_ptr<net::RedisQuotaBackend> redis_backend_;
  std::unordered_map<std::string, std::unique_ptr<limits::ClusterQuota>> quotas_;
  uint64_t next_quota_sweep_ms_ = 0;
  struct JwtState {
    const JwtProvider* provider = nullptr;  // the cache is cleared when the provider changes
    uint64_t jwks_generation = ~uint64_t{0};
    std::shared_ptr<const auth::KeySet> jwks;
    auth::JwtCache cache;
  };
  std::unordered_map<std::string, std::unique_ptr<JwtState>> jwt_;
  auth::JwtResult jwt_scratch_;  // the last result that was not cached
  observe::IdGenerator ids_;
  observe::Span span_;
  std::string log_line_;
};

}  // namespace sluice::proxy
