// Request metrics, sharded per worker: each worker writes only its own WorkerMetrics (relaxed
// atomics, no contention); the admin thread merges the shards when /metrics is scraped. Route
// labels come from config route names (bounded by the config), never from raw paths.
// Example:
//   RouteMetrics& m = worker_metrics.route(route_slot);
//   m.record(method, status, total_us, upstream_us);
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "http/method.h"

namespace sluice::observe {

// Upper bounds (seconds) of the latency histogram buckets; +Inf is implicit.
// Listeners with their own TLS handshake counters (the rest share the last slot).
inline constexpr size_t kMaxTlsListeners = 16;

inline constexpr std::array<double, 14> kLatencyBounds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct Histogram {
  std::array<std::atomic<uint64_t>, kLatencyBounds.size() + 1> buckets{};  // not cumulative
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> sum_us{0};
  void observe(uint64_t us);
};

// Why a request was refused by a security filter (label `reason` of sluice_auth_failures_total).
enum class AuthFailure : uint8_t {
  kMissing,       // no credential
  kInvalidToken,  // JWT malformed, bad signature, wrong issuer/audience, missing claim
  kExpired,       // JWT expired or not yet valid
  kUnknownKey,    // JWT kid not in the key set (a JWKS refresh is requested)
  kInvalidApiKey,
  kInvalidSignature,  // HMAC
  kStale,             // HMAC timestamp outside the window
  kReplayed,          // HMAC nonce seen before
  kForbidden,         // authenticated, but without a required role
  kAddress,           // IP rules
  kCount
};
inline constexpr std::array<const char*, static_cast<size_t>(AuthFailure::kCount)>
    kAuthFailureNames = {
        "missing",           "invalid_token", "expired",  "unknown_key", "invalid_api_key",
        "invalid_signature", "stale",         "replayed", "forbidden",   "address"};

struct RouteMetrics {
  // [method][status class 1xx..5xx]
  std::array<std::array<std::atomic<uint64_t>, 5>, http::kMethodCount> requests{};
  Histogram duration;  // request head received → response complete
  Histogram upstream;  // request sent upstream → response head received (last try)
  void record(http::Method method, int status, uint64_t total_us, uint64_t upstream_us);
  std::array<std::atomic<uint64_t>, static_cast<size_t>(AuthFailure::kCount)> auth_failures{};
  // Mirrored copies of the route's requests (proxy/mirror.h): answered by the shadow, failed
  // there (no valid answer), dropped (never sent), and in flight on this worker.
  std::atomic<uint64_t> mirror_answered{0};
  std::atomic<uint64_t> mirror_failed{0};
  std::atomic<uint64_t> mirror_dropped{0};
  std::atomic<int64_t> mirror_in_flight{0};
  void auth_failure(AuthFailure why) {
    auth_failures[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  }
};

class WorkerMetrics {
 public:
  static constexpr size_t kChunk = 256;
  static constexpr size_t kMaxSlots = kChunk * 256;  // route slots (names) a process can see

  WorkerMetrics();
  ~WorkerMetrics();
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // Worker thread only; allocates the route's counters on its first request.
  RouteMetrics& route(size_t slot);
  // Any thread: the route's counters, or null when this worker never served it.
  const RouteMetrics* find(size_t slot) const;

  std::atomic<int64_t> connections_active{0};
  std::atomic<uint64_t> connections_total{0};
  // TLS handshakes per listener index (listeners past the last slot share it).
  std::array<std::atomic<uint64_t>, kMaxTlsListeners> tls_handshakes_ok{};
  std::array<std::atomic<uint64_t>, kMaxTlsListeners> tls_handshakes_failed{};
  std::atomic<uint64_t> headers_dropped_underscore{0};  // limits.headers_with_underscores: drop
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> loop_lag_us{0};      // last measured lateness of a 100 ms timer
  std::atomic<uint64_t> loop_lag_max_us{0};  // largest since start
  std::atomic<int> redis_connected{0};       // this worker's Redis connection is up
  std::atomic<uint64_t> redis_commands{0};   // copies of its RedisClient counters
  std::atomic<uint64_t> redis_errors{0};
  std::atomic<uint64_t> redis_timeouts{0};
  std::atomic<uint64_t> redis_reconnects{0};

  // Requests refused before an exchange began (unparsable head, header timeout): they have no
  // route or method, so they are counted by status alone.
  static constexpr std::array<int, 8> kRefusedStatuses = {400, 408, 413, 414, 431, 501, 505, 0};
  std::array<std::atomic<uint64_t>, kRefusedStatuses.size()> refused{};  // 0: any other status
  void refuse(int status);

 private:
  std::array<std::atomic<std::atomic<RouteMetrics*>*>, kMaxSlots / kChunk> chunks_{};
  std::atomic<RouteMetrics*> overflow_{nullptr};  // slots beyond kMaxSlots share this
};

}  // namespace sluice::observe
