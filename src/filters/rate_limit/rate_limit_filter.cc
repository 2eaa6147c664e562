// See rate_limit_filter.h.
#include "filters/rate_limit/rate_limit_filter.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "filter/context.h"
#include "filter/services.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;
using Key = config::RateLimitConfig::Key;

struct State {
  uint32_t next;           // policies before this one are decided
  uint32_t policy;         // of `tightest`
  bool waiting;            // paused on the cluster quota of policies[next]
  bool have;               // `tightest` holds a decision: the RateLimit headers are sent
  uint64_t retry_after_s;  // for a 429 or a fail-closed 503
  limits::RateDecision tightest;
};

class RateLimitFilter final : public filter::Filter {
 public:
  RateLimitFilter(std::shared_ptr<const std::vector<limits::RatePolicy>> policies, bool fail_open)
      : owned_(std::move(policies)), policies_(*owned_), fail_open_(fail_open) {
    for (const limits::RatePolicy& p : policies_) {
      if (p.key == Key::kJwtClaim) claims_ = true;
    }
  }

  uint8_t phases() const override {
    return filter::phase_bit(Phase::kRequestHeaders) | filter::phase_bit(Phase::kResponseHeaders);
  }
  size_t state_size() const override { return sizeof(State); }
  bool reads_claims() const override { return claims_; }
  bool on_local_answers() const override { return true; }
  std::string describe() const override {
    nlohmann::json names = nlohmann::json::array();
    for (const limits::RatePolicy& p : policies_) names.push_back(p.name);
    return nlohmann::json{{"policies", std::move(names)}}.dump();
  }

  Status on_request_headers(Context& ctx) const override {
    State& s = ctx.state<State>();
    for (; s.next < policies_.size(); ++s.next) {
      const limits::RatePolicy& p = policies_[s.next];
      limits::RateLimitRuntime& rt = *p.runtime;
      limits::RateDecision d;
      bool unavailable = false;
      if (s.waiting) {
        s.waiting = false;
        unavailable = !ctx.services().quota_answer(&d);
      } else {
        char buf[24];
        const std::string_view key = rate_key(p, ctx, buf);
        if (key.empty()) continue;  // no key, no limit
        if (!p.cluster) {
          d = rt.store.take(key, p.params, ctx.services().unix_ms());
        } else {
          switch (ctx.services().take_quota(p, key, &d)) {
            case limits::QuotaResult::kDecided:
              break;
            case limits::QuotaResult::kWait:
              s.waiting = true;
              return Status::kPause;
            case limits::QuotaResult::kUnavailable:
              unavailable = true;
              break;
          }
        }
      }
      if (unavailable) {
        rt.errors.fetch_add(1, std::memory_order_relaxed);
        if (fail_open_) continue;
        s.retry_after_s = 1;
        ctx.refuse(503, "rate limit store unavailable");
        return Status::kRespond;
      }
      (d.allowed ? rt.allowed : rt.denied).fetch_add(1, std::memory_order_relaxed);
      if (!s.have || d.remaining < s.tightest.remaining || !d.allowed) {
        s.have = true;
        s.tightest = d;
        s.policy = s.next;
      }
      if (!d.allowed) {
        s.retry_after_s = limits::retry_after_seconds(d);
        ctx.refuse(429, "rate limit exceeded");
        return Status::kRespond;
      }
    }
    return Status::kContinue;
  }

  // The paused policy's wait ran out (the driver dropped the lease request).
  void on_cancel(Context& ctx) const override { ctx.state<State>().waiting = false; }

  Status on_response_headers(Context& ctx) const override {
    const State& s = ctx.state<State>();
    if (s.have) {
      number(ctx, "RateLimit-Limit", s.tightest.limit);
      number(ctx, "RateLimit-Remaining", s.tightest.remaining);
      number(ctx, "RateLimit-Reset", limits::reset_seconds(s.tightest));
      ctx.add_response_header("RateLimit-Policy", policies_[s.policy].policy_header);
    }
    if (s.retry_after_s != 0) number(ctx, "Retry-After", s.retry_after_s);
    return Status::kContinue;
  }

 private:
  static void number(Context& ctx, std::string_view name, uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    ctx.add_response_header(name, std::string_view(buf, static_cast<size_t>(end - buf)));
  }

  static std::string_view rate_key(const limits::RatePolicy& p, const Context& ctx, char* buf) {
    switch (p.key) {
      case Key::kRoute:
        return "route";
      case Key::kConsumer:
        return ctx.consumer();
      case Key::kJwtClaim:
        return ctx.claim(p.key_name);
      case Key::kHeader:
        return ctx.request_header(p.key_name);
      case Key::kQuery:
        return http::query_param(ctx.head().query, p.key_name);
      case Key::kClientIp: {
        const auth::IpAddress& ip = ctx.client_address();
        // A binary key: family byte and address bytes.
        if (ip.is_v4()) {
          buf[0] = 4;
          const uint32_t v = ip.v4_value();
          std::memcpy(buf + 1, &v, sizeof(v));
          return {buf, 5};
        }
        buf[0] = 6;
        const uint64_t hi = ip.v6_hi();
        const uint64_t lo = ip.v6_lo();
        std::memcpy(buf + 1, &hi, sizeof(hi));
        std::memcpy(buf + 9, &lo, sizeof(lo));
        return {buf, 17};
      }
    }
    return {};
  }

  std::shared_ptr<const std::vector<limits::RatePolicy>> owned_;
  std::span<const limits::RatePolicy> policies_;
  bool fail_open_;
  bool claims_ = false;
};

}  // namespace

std::unique_ptr<filter::Filter> make_rate_limit_filter(
    std::shared_ptr<const std::vector<limits::RatePolicy>> policies, bool fail_open) {
  return std::make_unique<RateLimitFilter>(std::move(policies), fail_open);
}

}  // namespace sluice::filters
