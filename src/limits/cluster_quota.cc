#include "limits/cluster_quota.h"

#include <algorithm>
#include <limits>

namespace sluice::limits {

// The scripts read the store's clock (TIME) so that instances with skewed clocks still agree on
// windows, and every key they write carries a PEXPIRE so that the store's memory stays bounded by
// the keys active in the last period or two. replicate_commands() lets Redis < 5 replicate a
// script that writes after TIME (a no-op since Redis 5).
const std::string_view kLeaseScripts[4] = {
    // RateAlgorithm::kTokenBucket: one hash {tokens, ts}; refill, then grant whole tokens.
    R"lua(if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local cap = limit
if burst > 0 then cap = burst end
local h = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(h[1])
local ts = tonumber(h[2])
if tokens == nil or ts == nil then
  tokens = cap
  ts = now
end
if now > ts then
  tokens = math.min(cap, tokens + (now - ts) * limit / period)
  ts = now
end
local grant = math.min(want, math.floor(tokens))
if grant < 0 then grant = 0 end
tokens = tokens - grant
local full = math.ceil((cap - tokens) * period / limit)
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.0f', ts))
redis.call('PEXPIRE', KEYS[1], full + 1000)
return {grant, math.floor(tokens), full}
)lua",
    // RateAlgorithm::kSlidingWindow: one hash <key>:sw of sub-windows (limits/rate_limit.h):
    // field <k> its units, <k>:l 1 + the ms into it of its last admission. ARGV[5] is the
    // sub-window
    // length, ARGV[6] the span, ARGV[7] the longest a lease may live: a lease is taken as used
    // by its end, so its sub-window counts until a period after that. Returns also the lease's
    // life (ms), the sub-window (to refund what a lease did not use) and, when the grant fell
    // short, the ms until room frees.
    R"lua(if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local sub = tonumber(ARGV[5])
local span = tonumber(ARGV[6])
local life = tonumber(ARGV[7])
local k = math.floor(now / sub)
local h = KEYS[1] .. ':sw'
local into = now - k * sub
local names = {}
for i = 0, span do
  local f = string.format('%.0f', k - i)
  names[2 * i + 1] = f
  names[2 * i + 2] = f .. ':l'
end
local got = redis.call('HMGET', h, unpack(names))
local used = 0
local reset = 0
local free_at = 0
for i = span, 0, -1 do
  local c = tonumber(got[2 * i + 1] or '0')
  local l = tonumber(got[2 * i + 2] or '1')
  local exit = (k - i) * sub + l + period
  if c > 0 and exit > now then
    used = used + c
    reset = exit - now
    if free_at == 0 then free_at = exit - now end
  end
end
local grant = math.min(want, limit - used)
if grant < 0 then grant = 0 end
local lease = math.min(sub - into, life)
if grant > 0 then
  if not got[1] then
    for _, f in ipairs(redis.call('HKEYS', h)) do
      local i = tonumber(string.match(f, '^%d+') or '')
      if i == nil or i < k - span then redis.call('HDEL', h, f) end
    end
  end
  redis.call('HINCRBY', h, names[1], grant)
  local last = math.max(tonumber(got[2] or '0'), into + lease)
  redis.call('HSET', h, names[2], last)
  redis.call('PEXPIRE', h, period + 2 * sub + 1000)
  reset = k * sub + last + period - now
end
local remaining = limit - used - grant
if remaining < 0 then remaining = 0 end
local retry = 0
if grant < want then
  retry = free_at
  if retry <= 0 then retry = period end
end
return {grant, remaining, reset, lease, k, retry}
)lua",
    // RateAlgorithm::kFixedWindow: one counter per window.
    R"lua(if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local window = math.floor(now / period)
local key = KEYS[1] .. ':' .. string.format('%.0f', window)
local reset = (window + 1) * period - now
local cur = tonumber(redis.call('GET', key) or '0')
local grant = math.min(want, limit - cur)
if grant < 0 then grant = 0 end
if grant > 0 then
  cur = redis.call('INCRBY', key, grant)
  redis.call('PEXPIRE', key, reset + 1000)
end
local remaining = limit - cur
if remaining < 0 then remaining = 0 end
return {grant, remaining, reset}
)lua",
    // kRefundScript: a sliding-window lease's unused units back to their sub-window
    // (ARGV = sub-window, units); never below zero.
    R"lua(local h = KEYS[1] .. ':sw'
local c = tonumber(redis.call('HGET', h, ARGV[1]) or '0')
local n = math.min(c, tonumber(ARGV[2]))
if n > 0 then redis.call('HINCRBY', h, ARGV[1], -n) end
return {n, 0, 0}
)lua",
};

namespace {

constexpr int64_t kMaxArg = std::numeric_limits<int64_t>::max();

uint64_t period_of(const RateParams& p) {
  return p.period_ms == 0 ? 1 : p.period_ms;
}

// How long one unit takes to come back to the bucket (limit per period).
uint64_t unit_ms(const RateParams& p) {
  const uint64_t period = period_of(p);
  if (p.limit == 0) return period;
  return std::max<uint64_t>(1, period / p.limit + (period % p.limit != 0));
}

bool same_params(const RateParams& a, const RateParams& b) {
  return a.algorithm == b.algorithm && a.limit == b.limit && a.period_ms == b.period_ms &&
         a.burst == b.burst;
}

}  // namespace

struct ClusterQuota::Entry {
  std::string store_key;  // <prefix><policy_id>:<key>
  RateParams params;
  uint64_t lease = 0;
  uint64_t lease_until = 0;  // local ms at which the lease's window ends; 0: no end (bucket)
  uint64_t deny_until = 0;   // the store said "exhausted": deny locally until then
  uint64_t remaining = 0;    // the store's remaining after our last grant
  uint64_t reset_at = 0;     // local ms of the store's reset
  uint64_t last_used = 0;
  uint64_t fetch_sent = 0;  // local ms the fetch in flight was sent
  int64_t lease_slot = -1;  // sliding window: the sub-window the lease was granted in
  bool fetching = false;
  bool busy = false;  // answering waiters: must not be dropped by a nested take()
  QuotaBackend::Ticket ticket = 0;
  uint64_t want = 0;  // of the fetch in flight
  QuotaWaiter* head = nullptr;
  QuotaWaiter* tail = nullptr;
  size_t waiters = 0;
  Entry* newer = nullptr;  // LRU links
  Entry* older = nullptr;

  bool pinned() const { return fetching || busy || head != nullptr; }

  void push(QuotaWaiter* w) {
    w->entry_ = this;
    w->prev_ = tail;
    w->next_ = nullptr;
    (tail != nullptr ? tail->next_ : head) = w;
    tail = w;
    ++waiters;
  }
  void unlink(QuotaWaiter* w) {
    (w->prev_ != nullptr ? w->prev_->next_ : head) = w->next_;
    (w->next_ != nullptr ? w->next_->prev_ : tail) = w->prev_;
    w->prev_ = w->next_ = nullptr;
    w->entry_ = nullptr;
    --waiters;
  }
  QuotaWaiter* pop() {
    QuotaWaiter* w = head;
    if (w != nullptr) unlink(w);
    return w;
  }
};

ClusterQuota::ClusterQuota(QuotaBackend& backend, ClusterQuotaOptions options)
    : backend_(backend), options_(std::move(options)) {
  options_.max_keys = std::max<size_t>(1, options_.max_keys);
  options_.lease_divisor = std::max<uint64_t>(1, options_.lease_divisor);
  options_.lease_max = std::max<uint64_t>(1, options_.lease_max);
}

ClusterQuota::~ClusterQuota() {
  for (auto& [key, e] : entries_) {
    if (e->fetching) backend_.cancel(e->ticket);
    while (e->pop() != nullptr) {
    }
  }
}

uint64_t ClusterQuota::lease_size(const RateParams& params) const {
  if (options_.exact) return 1;
  return std::clamp<uint64_t>(params.limit / options_.lease_divisor, 1, options_.lease_max);
}

QuotaResult ClusterQuota::take(std::string_view key, const RateParams& params, uint64_t now_ms,
                               RateDecision* out, QuotaWaiter* waiter) {
  if (params.limit == 0) {  // switched off by config: no need to ask anyone
    *out = RateDecision{false, 0, 0, period_of(params), period_of(params)};
    return QuotaResult::kDecided;
  }
  Entry& e = *find_or_add(key, params, now_ms);
  expire(e, now_ms);
  const uint64_t size = lease_size(params);
  if (e.lease > 0) {
    --e.lease;
    *out = allowed(e, now_ms);
    // Refill in the background before the lease runs dry, so that a steady stream never waits.
    if (!options_.exact && !e.fetching && e.lease * 2 < size && now_ms >= e.deny_until) {
      fetch(e, size, now_ms);
    }
    return QuotaResult::kDecided;
  }
  if (now_ms < e.deny_until) {
    *out = denied(e, now_ms);
    return QuotaResult::kDecided;
  }
  if (waiter == nullptr || waiter->waiting()) return QuotaResult::kUnavailable;
  e.push(waiter);
  if (!e.fetching && !fetch(e, options_.exact ? e.waiters : size + e.waiters, now_ms)) {
    e.unlink(waiter);
    return QuotaResult::kUnavailable;
  }
  ++stats_.waited;
  return QuotaResult::kWait;
}

void ClusterQuota::cancel(QuotaWaiter* waiter) {
  if (waiter == nullptr || waiter->entry_ == nullptr) return;
  static_cast<Entry*>(waiter->entry_)->unlink(waiter);
}

void ClusterQuota::sweep(uint64_t now_ms) {
  evict(now_ms, std::numeric_limits<size_t>::max(), false);
}

ClusterQuota::Entry* ClusterQuota::find_or_add(std::string_view key, const RateParams& params,
                                               uint64_t now_ms) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    Entry& e = *it->second;
    if (!same_params(e.params, params)) {  // a reload changed the policy: start afresh
      discard_lease(e);
      e.lease_until = 0;
      e.deny_until = 0;
      e.params = params;
    }
    e.last_used = now_ms;
    touch(e);
    evict(now_ms, 1, false);
    return &e;
  }
  evict(now_ms, 4, true);
  auto owned = std::make_unique<Entry>();
  Entry* e = owned.get();
  e->store_key.reserve(options_.prefix.size() + options_.policy_id.size() + 1 + key.size());
  e->store_key.append(options_.prefix).append(options_.policy_id).append(":").append(key);
  e->params = params;
  e->remaining = params.limit;
  e->last_used = now_ms;
  entries_.emplace(std::string(key), std::move(owned));
  touch(*e);
  return e;
}

void ClusterQuota::expire(Entry& e, uint64_t now_ms) {
  if (e.lease_until != 0 && now_ms >= e.lease_until) {
    discard_lease(e);
    e.lease_until = 0;
    e.remaining = e.params.limit;  // a new window: until the store says otherwise
    e.reset_at = now_ms + period_of(e.params);
  }
}

bool ClusterQuota::fetch(Entry& e, uint64_t want, uint64_t now_ms) {
  const RateParams& p = e.params;
  const int64_t args[7] = {
      static_cast<int64_t>(std::min<uint64_t>(p.limit, kMaxArg)),
      static_cast<int64_t>(std::min<uint64_t>(period_of(p), kMaxArg)),
      static_cast<int64_t>(std::min<uint64_t>(want, kMaxArg)),
      static_cast<int64_t>(std::min<uint64_t>(p.burst, kMaxArg)),
      static_cast<int64_t>(std::min<uint64_t>(sliding_sub_ms(period_of(p)), kMaxArg)),
      static_cast<int64_t>(sliding_span(period_of(p))),
      // A lease lives a quarter of a sub-window at most: its sub-window counts that much
      // longer than the admissions it made, so little is lost to it.
      static_cast<int64_t>(
          std::max<uint64_t>(1, std::min<uint64_t>(sliding_sub_ms(period_of(p)) / 4, kMaxArg))),
  };
  const bool sliding = p.algorithm == RateAlgorithm::kSlidingWindow;
  Entry* ep = &e;
  const bool ok = backend_.eval(
      static_cast<int>(p.algorithm), e.store_key, std::span(args, sliding ? 7 : 4),
      [this, ep](const LeaseReply& reply) { on_fetched(*ep, reply); }, &e.ticket);
  if (ok) {
    e.fetching = true;
    e.want = want;
    e.fetch_sent = now_ms;
    ++stats_.fetches;
  }
  return ok;
}

void ClusterQuota::on_fetched(Entry& e, const LeaseReply& reply) {
  e.fetching = false;
  const uint64_t now = reply.now_ms;
  if (!reply.ok) {
    ++stats_.fetch_failures;
    e.busy = true;
    while (QuotaWaiter* w = e.pop()) w->on_quota_unavailable();
    e.busy = false;
    return;
  }
  const uint64_t granted = reply.granted > 0 ? static_cast<uint64_t>(reply.granted) : 0;
  const uint64_t reset = reply.reset_ms > 0 ? static_cast<uint64_t>(reply.reset_ms) : 0;
  uint64_t deny_ms = 0;  // when the grant fell short: until the store can have room again
  switch (e.params.algorithm) {
    case RateAlgorithm::kSlidingWindow:
      // The lease belongs to the grant's sub-window and lives lease_ms from when the fetch was
      // sent (the store takes it as used by then). Units of an older sub-window go back.
      if (e.lease > 0 && reply.slot != e.lease_slot) discard_lease(e);
      e.lease_slot = reply.slot;
      e.lease_until = e.fetch_sent + static_cast<uint64_t>(std::max<int64_t>(reply.lease_ms, 1));
      deny_ms = static_cast<uint64_t>(std::max<int64_t>(reply.retry_ms, 1));
      break;
    case RateAlgorithm::kFixedWindow: {
      const uint64_t until = now + reset;
      // A grant from another window than the lease we hold (the window turned while the fetch
      // was in flight): the old units must not be used in the new window.
      const uint64_t gap = until > e.lease_until ? until - e.lease_until : e.lease_until - until;
      if (e.lease > 0 && gap > period_of(e.params) / 2) discard_lease(e);
      e.lease_until = until;
      deny_ms = std::max<uint64_t>(1, reset);
      break;
    }
    case RateAlgorithm::kTokenBucket:
      deny_ms = unit_ms(e.params);
      break;
  }
  e.lease += granted;
  if (e.lease_until != 0 && e.lease_until <= now) {
    discard_lease(e);  // the answer came after the lease's end: nothing of it is usable
    e.lease_until = 0;
  }
  e.remaining = reply.remaining > 0 ? static_cast<uint64_t>(reply.remaining) : 0;
  e.reset_at = now + reset;
  if (granted < e.want) e.deny_until = now + deny_ms;
  serve_waiters(e, now);
}

void ClusterQuota::serve_waiters(Entry& e, uint64_t now_ms) {
  e.busy = true;
  // One at a time from the head: a callback may cancel() other waiters or take() again.
  while (e.head != nullptr) {
    if (e.lease > 0) {
      QuotaWaiter* w = e.pop();
      --e.lease;
      w->on_quota(allowed(e, now_ms));
    } else if (now_ms < e.deny_until) {
      QuotaWaiter* w = e.pop();
      w->on_quota(denied(e, now_ms));
    } else if (e.fetching) {
      break;  // a nested take() started the next fetch; it serves the rest
    } else if (!fetch(e, options_.exact ? e.waiters : lease_size(e.params) + e.waiters, now_ms)) {
      while (QuotaWaiter* w = e.pop()) w->on_quota_unavailable();
    } else {
      break;
    }
  }
  e.busy = false;
}

RateDecision ClusterQuota::allowed(const Entry& e, uint64_t now_ms) const {
  RateDecision d;
  d.allowed = true;
  d.limit = e.params.limit;
  d.remaining = std::min(e.params.limit, e.remaining + e.lease);
  d.reset_ms = e.reset_at > now_ms ? e.reset_at - now_ms : 0;
  return d;
}

RateDecision ClusterQuota::denied(const Entry& e, uint64_t now_ms) const {
  RateDecision d;
  d.allowed = false;
  d.limit = e.params.limit;
  d.remaining = 0;
  d.reset_ms = e.reset_at > now_ms ? e.reset_at - now_ms : 0;
  d.retry_after_ms = e.deny_until > now_ms ? e.deny_until - now_ms : unit_ms(e.params);
  return d;
}

void ClusterQuota::touch(Entry& e) {
  if (lru_head_ == &e) return;
  // unlink (if linked)
  if (e.newer != nullptr) e.newer->older = e.older;
  if (e.older != nullptr) e.older->newer = e.newer;
  if (lru_tail_ == &e) lru_tail_ = e.newer;
  e.newer = nullptr;
  e.older = lru_head_;
  if (lru_head_ != nullptr) lru_head_->newer = &e;
  lru_head_ = &e;
  if (lru_tail_ == nullptr) lru_tail_ = &e;
}

void ClusterQuota::discard_lease(Entry& e) {
  stats_.discarded += e.lease;
  if (e.lease > 0 && e.params.algorithm == RateAlgorithm::kSlidingWindow && e.lease_slot >= 0) {
    // Counted in the store's sub-window but never admitted: give them back (no answer awaited;
    // a refund that does not arrive only leaves the limit stricter).
    const int64_t args[2] = {e.lease_slot,
                             static_cast<int64_t>(std::min<uint64_t>(e.lease, kMaxArg))};
    QuotaBackend::Ticket ticket = 0;
    if (backend_.eval(
            kRefundScript, e.store_key, args, [](const LeaseReply&) {}, &ticket)) {
      stats_.refunded += e.lease;
    }
  }
  e.lease = 0;
}

void ClusterQuota::erase(Entry& e) {
  discard_lease(e);
  if (e.newer != nullptr) e.newer->older = e.older;
  if (e.older != nullptr) e.older->newer = e.newer;
  if (lru_head_ == &e) lru_head_ = e.older;
  if (lru_tail_ == &e) lru_tail_ = e.newer;
  const std::string_view key =
      std::string_view(e.store_key).substr(options_.prefix.size() + options_.policy_id.size() + 1);
  entries_.erase(entries_.find(key));
}

void ClusterQuota::evict(uint64_t now_ms, size_t max_drops, bool make_room) {
  // From the least recently used end: entries beyond max_keys, then idle ones. A pinned entry
  // (fetch in flight, waiters) stops the sweep; it was used recently and will unpin soon.
  while (lru_tail_ != nullptr && max_drops-- > 0) {
    Entry& t = *lru_tail_;
    if (t.pinned()) return;
    const bool over = make_room && entries_.size() >= options_.max_keys;
    const bool idle = now_ms >= t.last_used + options_.idle_ms;
    if (!over && !idle) return;
    erase(t);
  }
}

}  // namespace sluice::limits
