// A cluster-wide rate limit shared through a store (Redis) without a round trip per request: one
// ClusterQuota per worker and rate-limit policy.
//
// How: each key's quota is LEASED from the store in batches by one atomic Lua script per
// algorithm (the store's clock decides windows and refills, so instance clocks do not matter).
// The worker admits requests from its lease locally; when the lease falls below half it fetches
// the next one in the background. Only when the lease is empty while a fetch is in flight does a
// request wait (kWait); it is answered, in arrival order, when the fetch returns. A lease belongs
// to the window it was granted in and is discarded when that window ends (a grant counted in
// window W must not admit a request in W+1); for the sliding window that is the sub-window of
// the grant and lives a quarter of a sub-window at most, measured from when the fetch was sent
// (so never later than the store's end of it); the store counts its sub-window until a period
// after the lease's end, and the units it did not use are refunded (kRefundScript). When the store
// said the quota is exhausted, requests are denied locally until it can have changed (the
// window's end; for the sliding window the sub-window's; for the bucket, the time one unit takes
// to come back). Every admission is backed by a grant of the store,
// so the instances together never admit more than the limit; they may admit less by what sits in
// unused leases (at most ~1.5 lease per worker and key). With `exact` the lease is 1 and each
// request costs a round trip (concurrent waiters share one).
// Lease size: clamp(limit / lease_divisor, 1, lease_max).
// RateLimit-Remaining is estimated as the store's last remaining + this worker's lease.
//
// The store is reached only through QuotaBackend, so this library stays free of I/O; see
// net/redis_quota_backend.h for Redis. The backend must answer every accepted eval() later (never
// inside eval()) and within its command timeout, with ok=false on failure: waiters are answered
// then, so none waits longer than that timeout.
// Example:
//   ClusterQuotaOptions opts;  opts.policy_id = "per-user";
//   ClusterQuota quota(backend, opts);
//   switch (quota.take(user, params, loop.now_ms(), &decision, &request_waiter)) {
//     case QuotaResult::kDecided: respond(decision); break;
//     case QuotaResult::kWait: pause; break;   // request_waiter.on_quota*() follows
//     case QuotaResult::kUnavailable: apply on_error: allow|deny; break;
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "limits/rate_limit.h"

namespace sluice::limits {

// The lease scripts, indexed by RateAlgorithm, then kRefundScript. KEYS[1] is the key's base
// name (the fixed window appends ":<window>"; the sliding window keeps a hash of sub-windows at
// ":sw", so a reload that changes a policy's algorithm never mixes the two states);
// ARGV = limit, period_ms, want, burst (the sliding window: then the sub-window length, the
// span, limits/rate_limit.h, and the longest life of a lease). Each returns {granted,
// remaining_after, reset_ms}: reset_ms is the time until the window ends (fixed), until the bucket
// is full (token bucket), or until every counted sub-window has left the period (sliding, which
// also returns the lease's life, the sub-window's index and, when the grant fell short, the ms
// until room frees).
inline constexpr int kRefundScript = 3;
extern const std::string_view kLeaseScripts[4];

struct LeaseReply {
  bool ok = false;  // false: the store failed or did not answer in time
  int64_t granted = 0;
  int64_t remaining = 0;
  int64_t reset_ms = 0;
  int64_t lease_ms = -1;  // sliding window: how long the grant may be used
  int64_t slot = -1;      // sliding window: the sub-window it counts in
  int64_t retry_ms = 0;   // sliding window: when the grant fell short, until room frees
  uint64_t now_ms = 0;    // the worker's clock when the reply arrived (this library reads none)
};

class QuotaBackend {
 public:
  using Ticket = uint64_t;
  using Done = std::function<void(const LeaseReply&)>;
  virtual ~QuotaBackend() = default;
  // Runs kLeaseScripts[script]. false: the store is unreachable now (done is not called);
  // otherwise done is called exactly once, later, unless cancel(*ticket) comes first.
  virtual bool eval(int script, std::string_view key, std::span<const int64_t> args, Done done,
                    Ticket* ticket) = 0;
  virtual void cancel(Ticket ticket) = 0;
};

// A request waiting for a lease. Owned by the caller; linked into the quota while waiting.
class QuotaWaiter {
 public:
  virtual ~QuotaWaiter() = default;
  virtual void on_quota(const RateDecision& decision) = 0;
  // The fetch failed (store down, timeout): the caller applies its on_error policy.
  virtual void on_quota_unavailable() = 0;
  bool waiting() const { return entry_ != nullptr; }

 private:
  friend class ClusterQuota;
  QuotaWaiter* prev_ = nullptr;
  QuotaWaiter* next_ = nullptr;
  void* entry_ = nullptr;
};

enum class QuotaResult : uint8_t { kDecided, kWait, kUnavailable };

struct ClusterQuotaOptions {
  std::string prefix = "sluice:rl:";
  std::string policy_id;  // keys are <prefix><policy_id>:<key>[:<window>]
  uint64_t lease_divisor = 100;
  uint64_t lease_max = 100;
  bool exact = false;
  size_t max_keys = 10000;   // least recently used keys beyond this are dropped
  uint64_t idle_ms = 60000;  // keys unused this long are dropped
};

struct ClusterQuotaStats {
  uint64_t fetches = 0;
  uint64_t fetch_failures = 0;
  uint64_t waited = 0;     // requests answered kWait
  uint64_t discarded = 0;  // leased units dropped at a window change or with a dropped key
  uint64_t refunded = 0;   // of those, sliding-window units given back to the store
};

class ClusterQuota {
 public:
  ClusterQuota(QuotaBackend& backend, ClusterQuotaOptions options);
  // Cancels the fetches in flight; waiters still linked are dropped without a call.
  ~ClusterQuota();
  ClusterQuota(const ClusterQuota&) = delete;
  ClusterQuota& operator=(const ClusterQuota&) = delete;

  // kDecided: *out holds the decision. kWait: waiter (which must not be null for kWait to be
  // possible, and must not be waiting already) gets on_quota() or on_quota_unavailable() later.
  // kUnavailable: no lease and the store cannot be asked now (or waiter is null).
  QuotaResult take(std::string_view key, const RateParams& params, uint64_t now_ms,
                   RateDecision* out, QuotaWaiter* waiter);
  // The request went away while waiting; no call will come. Ignored if not waiting.
  void cancel(QuotaWaiter* waiter);
  // Drops keys idle for options.idle_ms; take() does a little of this itself.
  void sweep(uint64_t now_ms);

  uint64_t lease_size(const RateParams& params) const;
  size_t size() const { return entries_.size(); }
  const ClusterQuotaStats& stats() const { return stats_; }

 private:
  struct Entry;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  Entry* find_or_add(std::string_view key, const RateParams& params, uint64_t now_ms);
  void expire(Entry& e, uint64_t now_ms);
  bool fetch(Entry& e, uint64_t want, uint64_t now_ms);
  // Drops the lease (counted as discarded); a sliding window's goes back to the store.
  void discard_lease(Entry& e);
  void on_fetched(Entry& e, const LeaseReply& reply);
  void serve_waiters(Entry& e, uint64_t now_ms);
  RateDecision allowed(const Entry& e, uint64_t now_ms) const;
  RateDecision denied(const Entry& e, uint64_t now_ms) const;
  void touch(Entry& e);
  void erase(Entry& e);
  // Drops up to max_drops idle keys, and with make_room also keys beyond max_keys - 1.
  void evict(uint64_t now_ms, size_t max_drops, bool make_room);

  QuotaBackend& backend_;
  ClusterQuotaOptions options_;
  std::unordered_map<std::string, std::unique_ptr<Entry>, Hash, std::equal_to<>> entries_;
  Entry* lru_head_ = nullptr;  // most recently used
  Entry* lru_tail_ = nullptr;
  ClusterQuotaStats stats_;
};

}  // namespace sluice::limits
