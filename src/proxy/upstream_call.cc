// One call to an upstream: admission, a target and a connection per try, retries, accounting.
#include "proxy/upstream_call.h"

#include <algorithm>
#include <cstdio>

#include "balance/balancer.h"
#include "http/header.h"
#include "limits/retry_budget.h"
#include "proxy/connection.h"
#include "proxy/messages.h"

namespace sluice::proxy {

const char* UpstreamCall::admit(const Snapshot& snap, int index, const config::RetryConfig& retry,
                                uint64_t response_timeout_ms, uint64_t total_timeout_ms) {
  snapshot = &snap;
  upstream_index = index;
  upstream = &snap.upstreams[static_cast<size_t>(index)];
  this->retry = &retry;
  this->response_timeout_ms = response_timeout_ms;
  const Upstream& u = *upstream;
  UpstreamRuntime& rt = *u.runtime;
  const uint64_t now = worker_->loop().now_ms();
  if (rt.breaker) {
    limits::CircuitBreaker::Decision d = rt.breaker->allow(now);
    if (d == limits::CircuitBreaker::Decision::kReject) {
      rt.rejected.fetch_add(1, std::memory_order_relaxed);
      return "circuit breaker open for this upstream";
    }
    breaker_probe = d == limits::CircuitBreaker::Decision::kProbe;
  }
  if (u.max_requests != 0 &&
      rt.active_requests.load(std::memory_order_relaxed) >= static_cast<int32_t>(u.max_requests)) {
    if (breaker_probe) rt.breaker->cancel_probe();
    breaker_probe = false;
    rt.rejected.fetch_add(1, std::memory_order_relaxed);
    return "too many requests in flight to this upstream";
  }
  rt.active_requests.fetch_add(1, std::memory_order_relaxed);
  rt.retry_budget.request_started();
  counted = true;
  if (total_timeout_ms != 0) deadline_ms = now + total_timeout_ms;
  return nullptr;
}

void UpstreamCall::key_request(const http::RequestHead& head, std::string_view client_ip,
                               std::string_view matched_path) {
  const Upstream& u = *upstream;
  if (u.algorithm == balance::Algorithm::kConsistentHash) {
    hash = balance::hash_key(hash_source(u.hash_key, head, client_ip, matched_path));
  }
  if (u.sticky.enabled) {
    std::string_view cookie = http::cookie_value(head.headers, u.sticky.cookie);
    std::optional<std::string_view> key = balance::verify_sticky(cookie, u.sticky.secret);
    if (key) {
      for (size_t i = 0; i < u.targets.size(); ++i) {
        if (u.targets[i].key == *key) sticky_index = static_cast<int>(i);
      }
    }
  }
}

uint64_t UpstreamCall::try_timeout_ms() const {
  uint64_t t = response_timeout_ms;
  if (deadline_ms != 0) {
    const uint64_t now = worker_->loop().now_ms();
    t = std::min(t, deadline_ms > now ? deadline_ms - now : 1);
  }
  return t;
}

UpstreamCall::Connect UpstreamCall::connect() {
  const Upstream& u = *upstream;
  const uint64_t now = worker_->loop().now_ms();
  int idx = -1;
  for (size_t attempt = 0; attempt <= u.targets.size(); ++attempt) {
    idx = worker_->select_target(*snapshot, upstream_index, tried_mask, sticky_index, hash);
    if (idx < 0) break;
    const Target& t = u.targets[static_cast<size_t>(idx)];
    target_probe = false;
    if (t.breaker) {
      limits::CircuitBreaker::Decision d = t.breaker->allow(now);
      if (d == limits::CircuitBreaker::Decision::kReject) {
        // This target's own breaker is open: count it as tried and look for another.
        if (idx < 64) tried_mask |= uint64_t{1} << idx;
        idx = -1;
        continue;
      }
      target_probe = d == limits::CircuitBreaker::Decision::kProbe;
    }
    break;
  }
  if (idx < 0) return Connect::kNoTarget;
  target_index = idx;
  target = &u.targets[static_cast<size_t>(idx)];
  if (idx < 64) tried_mask |= uint64_t{1} << idx;
  ++tries;
  bool limited = false;
  UpstreamConnection* up = worker_->acquire_upstream(*target, u, &reused, &limited);
  if (up == nullptr) {
    if (target_probe) target->breaker->cancel_probe();
    target_probe = false;
    if (limited) u.runtime->rejected.fetch_add(1, std::memory_order_relaxed);
    return limited ? Connect::kLimited : Connect::kFailed;
  }
  target->state->active.fetch_add(1, std::memory_order_relaxed);
  target_active = true;
  sent_us = worker_->loop().clock().now_us();
  conn = up;
  parser.reset();
  response_chunked.reset();
  up->attach(this, try_timeout_ms());
  return Connect::kOk;
}

void UpstreamCall::send() {
  UpstreamConnection* up = conn;
  up->out().append(worker_->pool(), carried.empty() ? std::string_view(request) : carried);
  carried.clear();
  up->flush();  // may fail the try (on_call_failed) at once
}

void UpstreamCall::report_try(bool success) {
  if (!target_active) return;
  target_active = false;
  const Target& t = *target;
  balance::TargetState& s = *t.state;
  const uint64_t now = worker_->loop().now_ms();
  s.active.fetch_sub(1, std::memory_order_relaxed);
  s.requests.fetch_add(1, std::memory_order_relaxed);
  if (t.breaker) {
    if (auto tr = t.breaker->on_result(success, target_probe, now)) {
      std::fprintf(stderr, "breaker: upstream %s target %s: %s -> %s\n", upstream->name.c_str(),
                   t.key.c_str(), limits::breaker_state_name(tr->from),
                   limits::breaker_state_name(tr->to));
    }
  }
  if (success) {
    s.consecutive_failures.store(0, std::memory_order_relaxed);
    return;
  }
  s.failures.fetch_add(1, std::memory_order_relaxed);
  uint32_t failures = s.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  const config::OutlierConfig& o = upstream->outlier;
  if (!o.enabled || failures < o.consecutive_failures || s.ejected(now)) return;
  // Passive health: eject, unless that would eject more than the allowed share.
  size_t ejected = 0;
  for (const Target& other : upstream->targets) {
    if (other.state->ejected(now)) ++ejected;
  }
  if ((ejected + 1) * 100 >
      static_cast<size_t>(o.max_ejection_percent) * upstream->targets.size()) {
    return;
  }
  uint32_t n = s.ejections.fetch_add(1, std::memory_order_relaxed) + 1;
  uint64_t ms = limits::ejection_ms(n, o.base_ejection_ms, o.max_ejection_ms);
  s.ejected_until_ms.store(now + ms, std::memory_order_relaxed);
  s.consecutive_failures.store(0, std::memory_order_relaxed);
  std::fprintf(stderr,
               "outlier: upstream %s target %s ejected for %llu ms (%u consecutive failures, "
               "ejection %u)\n",
               upstream->name.c_str(), t.key.c_str(), static_cast<unsigned long long>(ms), failures,
               n);
}

bool UpstreamCall::fail_try(UpstreamFailure kind, bool response_started, bool request_has_body) {
  UpstreamConnection* up = conn;
  const bool stale = kind == UpstreamFailure::kReset && reused && !stale_retried &&
                     !response_started && up != nullptr && up->in().empty() && !request_has_body;
  const bool unsent =
      (kind == UpstreamFailure::kConnect || kind == UpstreamFailure::kConnectTimeout) &&
      up != nullptr && !response_started;
  if (unsent) {
    carried.assign(up->out().view());  // the upstream saw none of it: replay it all
  } else {
    carried.clear();
  }
  abort();
  if (stale) {
    stale_retried = true;
    --tries;
    if (target_index >= 0 && target_index < 64) tried_mask &= ~(uint64_t{1} << target_index);
    if (target_active) {
      target->state->active.fetch_sub(1, std::memory_order_relaxed);
      if (target_probe) target->breaker->cancel_probe();
      target_active = false;
    }
    return false;
  }
  report_try(false);
  failed = true;
  UpstreamRuntime& rt = *upstream->runtime;
  if (kind == UpstreamFailure::kConnect || kind == UpstreamFailure::kConnectTimeout) {
    rt.connect_failures.fetch_add(1, std::memory_order_relaxed);
  } else if (kind == UpstreamFailure::kTimeout) {
    rt.timeouts.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

bool UpstreamCall::may_retry(UpstreamFailure kind, int status, bool replayable, uint64_t seed) {
  const config::RetryConfig& rc = *retry;
  if (tries >= rc.attempts) return false;
  const uint64_t now = worker_->loop().now_ms();
  if (deadline_ms != 0 && now >= deadline_ms) return false;
  const bool unsent = status == 0 && (kind == UpstreamFailure::kConnect ||
                                      kind == UpstreamFailure::kConnectTimeout);
  bool wanted = false;
  if (status != 0) {
    wanted =
        std::find(rc.on_statuses.begin(), rc.on_statuses.end(), status) != rc.on_statuses.end();
  } else if (unsent) {
    wanted = rc.on_connect_failure;
  } else if (kind == UpstreamFailure::kTimeout) {
    wanted = rc.on_timeout;
  } else if (kind == UpstreamFailure::kReset) {
    wanted = rc.on_reset;
  }
  if (!wanted) return false;
  // Safe only if the upstream cannot have acted on it: nothing reached it, or an idempotent
  // request without a body (a streamed body is gone).
  if (!unsent && !replayable) return false;
  UpstreamRuntime& rt = *upstream->runtime;
  // The budget protects upstreams from retry storms: a request that never reached one (a
  // refused or timed-out connect) costs none of them anything, so its retry is not charged
  // (attempts and the route's timeout still bound it). A killed target then costs no request.
  if (!unsent && !retrying) {
    if (!rt.retry_budget.try_start_retry()) return false;
    retrying = true;
  }
  rt.retries.fetch_add(1, std::memory_order_relaxed);
  uint64_t backoff = limits::backoff_ms(tries, rc.backoff_base_ms, rc.backoff_max_ms,
                                        seed * 0x9e3779b97f4a7c15ULL + now);
  if (deadline_ms != 0) backoff = std::min(backoff, deadline_ms - now);
  failed = false;
  worker_->loop().timers().schedule(retry_timer_, now + backoff);
  return true;
}

void UpstreamCall::abort() {
  if (conn == nullptr) return;
  UpstreamConnection* up = conn;
  conn = nullptr;
  up->detach();
  up->close_now();
}

void UpstreamCall::release(bool request_done) {
  UpstreamConnection* up = conn;
  if (up == nullptr) return;
  conn = nullptr;
  up->detach();
  const bool reusable = request_done && response_in != http::BodyKind::kUntilClose &&
                        up->in().empty() && !up->eof() && !up->failed() && keep_alive;
  if (reusable) {
    worker_->release_upstream(up, *upstream);
  } else {
    up->close_now();
  }
}

void UpstreamCall::settle(int final_status) {
  if (worker_ != nullptr) worker_->loop().timers().cancel(retry_timer_);
  abort();
  if (target_active) {
    // The try never got a verdict (the owner left): free what it held.
    target->state->active.fetch_sub(1, std::memory_order_relaxed);
    if (target_probe) target->breaker->cancel_probe();
    target_active = false;
  }
  if (!counted) return;
  counted = false;
  UpstreamRuntime& rt = *upstream->runtime;
  rt.active_requests.fetch_sub(1, std::memory_order_relaxed);
  rt.retry_budget.request_finished();
  if (retrying) rt.retry_budget.retry_finished();
  if (!rt.breaker) return;
  if (final_status == 0) {
    if (breaker_probe) rt.breaker->cancel_probe();  // no verdict
    return;
  }
  const bool success = final_status < 500 && !failed;
  if (auto tr = rt.breaker->on_result(success, breaker_probe, worker_->loop().now_ms())) {
    std::fprintf(stderr, "breaker: upstream %s: %s -> %s\n", upstream->name.c_str(),
                 limits::breaker_state_name(tr->from), limits::breaker_state_name(tr->to));
  }
}

}  // namespace sluice::proxy
