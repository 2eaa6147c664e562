#include "proxy/event_watch.h"

#include <vector>

#include "auth/jwks_fetcher.h"
#include "balance/target_state.h"
#include "core/clock.h"
#include "observe/json.h"
#include "proxy/gateway.h"

namespace sluice::proxy {
namespace {

const char* health_name(balance::Health h) {
  switch (h) {
    case balance::Health::kHealthy:
      return "healthy";
    case balance::Health::kUnhealthy:
      return "unhealthy";
    case balance::Health::kUnknown:
      break;
  }
  return "unknown";
}

// The JSON members naming an upstream's (or one target's) event, made only when there is one:
// a poll of 10,000 targets with nothing to say allocates nothing.
std::string who(const Upstream& up, const Target* t) {
  std::string out = "\"upstream\":\"" + observe::json_escape(up.name) + "\"";
  if (t != nullptr) out += ",\"target\":\"" + observe::json_escape(t->key) + "\"";
  return out;
}

// Drops what was not seen in this pass (objects a reload removed).
template <typename Map>
void prune(Map& m, uint64_t pass) {
  std::erase_if(m, [pass](const auto& e) { return e.second.pass != pass; });
}

}  // namespace

EventWatch::~EventWatch() {
  loop_.timers().cancel(*this);
}

void EventWatch::start() {
  loop_.timers().schedule(*this, loop_.now_ms() + kIntervalMs);
}

void EventWatch::on_timer() {
  poll();
  loop_.timers().schedule(*this, loop_.now_ms() + kIntervalMs);
}

void EventWatch::breaker(const limits::CircuitBreaker& b, const Upstream& up, const Target* t,
                         uint64_t now) {
  const limits::BreakerState state = b.state(now);
  const uint64_t opened = b.opened_total();
  BreakerSeen& seen = breakers_[&b];  // a new one starts closed, never opened
  seen.pass = pass_;
  const bool reopened = opened > seen.opened;
  if (state != seen.state || reopened) {
    const std::string counts = who(up, t) + ",\"opened_total\":" + std::to_string(opened);
    if (reopened) bus_.publish("breaker.opened", counts);
    if (state == limits::BreakerState::kHalfOpen) bus_.publish("breaker.half_open", counts);
    if (state == limits::BreakerState::kClosed) bus_.publish("breaker.closed", counts);
    // Open without a new opening: the poll missed nothing (it saw half-open turn open again,
    // which is counted as an opening above).
  }
  seen.state = state;
  seen.opened = opened;
}

void EventWatch::poll() {
  ++pass_;
  std::shared_ptr<const Snapshot> snap = gateway_.current();
  const uint64_t now = core::monotonic_ms();
  for (const Upstream& up : snap->upstreams) {
    if (up.runtime->breaker) breaker(*up.runtime->breaker, up, nullptr, now);
    for (const Target& t : up.targets) {
      if (t.breaker) breaker(*t.breaker, up, &t, now);
      const balance::TargetState& s = *t.state;
      const balance::Health health = s.health.load(std::memory_order_relaxed);
      const bool ejected = s.ejected(now);
      const uint32_t ejections = s.ejections.load(std::memory_order_relaxed);
      TargetSeen& seen = targets_[&s];  // a new one starts unknown, never ejected
      seen.pass = pass_;
      if (static_cast<uint8_t>(health) != seen.health && health != balance::Health::kUnknown) {
        bus_.publish(health == balance::Health::kHealthy ? "target.healthy" : "target.unhealthy",
                     who(up, &t) + ",\"was\":\"" +
                         health_name(static_cast<balance::Health>(seen.health)) + "\"");
      }
      if (ejections > seen.ejections) {
        bus_.publish("target.ejected",
                     who(up, &t) + ",\"ejections\":" + std::to_string(ejections) + ",\"for_ms\":" +
                         std::to_string(ejected ? s.ejected_until_ms.load() - now : 0));
      }
      if (seen.ejected && !ejected) bus_.publish("target.returned", who(up, &t));
      seen.health = static_cast<uint8_t>(health);
      seen.ejected = ejected;
      seen.ejections = ejections;
    }
  }
  for (const config::JwtProviderConfig& p : snap->config.jwt_providers) {
    if (p.jwks_url.empty()) continue;
    std::string err;
    auth::JwksFetcher* f = gateway_.jwks_fetcher(p, &err);
    if (f == nullptr) continue;
    JwksSeen& seen = jwks_[f];
    if (seen.pass == pass_) continue;  // two providers may share a fetcher
    seen.pass = pass_;
    const uint64_t ok = f->fetches_ok();
    const uint64_t failed = f->fetches_failed();
    const auto provider = [&p] {
      return "\"provider\":\"" + observe::json_escape(p.name) + "\",\"url\":\"" +
             observe::json_escape(p.jwks_url) + "\"";
    };
    if (ok > seen.ok) {
      bus_.publish("jwks.refreshed", provider() + ",\"keys\":" + std::to_string(f->key_count()) +
                                         ",\"fetches_ok\":" + std::to_string(ok));
    }
    if (failed > seen.failed) {
      bus_.publish("jwks.failing", provider() + ",\"fetches_failed\":" + std::to_string(failed));
    }
    seen.ok = ok;
    seen.failed = failed;
  }
  prune(breakers_, pass_);
  prune(targets_, pass_);
  prune(jwks_, pass_);
}

}  // namespace sluice::proxy
