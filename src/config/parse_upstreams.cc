// Parser's sections for upstreams: targets, balancer and hash key, sticky sessions, health
// checks, outlier ejection, circuit breaker and retry budget.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/parser.h"
#include "config/reader.h"
#include "config/scalars.h"

namespace sluice::config {

namespace {

constexpr int64_t kMaxWeight = 1000;
constexpr int64_t kMaxIdlePerWorker = 100000;
constexpr int64_t kMaxThreshold = 1000;    // health check pass/fail streaks
constexpr int64_t kMaxCount = 1000000000;  // failure counts, request counts, limits
constexpr uint64_t kMinBreakerWindowMs = 100;
constexpr size_t kMinStickySecretBytes = 16;

constexpr std::string_view kBalancers[] = {
    "round_robin", "weighted_round_robin", "least_connections", "p2c", "consistent_hash", "random"};

}  // namespace

void Parser::parse_upstreams(const Item& it, Config& cfg) {
  std::optional<std::vector<Item>> items = list(it);
  if (!items) return;
  for (const Item& e : *items) {
    std::optional<MapItem> m =
        map(e, {"name", "targets", "connect_timeout", "response_timeout", "idle_timeout",
                "max_idle_per_worker", "balancer", "hash_key", "sticky", "health_check", "outlier",
                "breaker", "dns_refresh", "retry_budget", "tls"});
    if (!m) continue;
    UpstreamConfig u;
    u.mark = e.mark;
    bool has_connect = false;
    bool has_response = false;
    u.name = unique_name(*m, "name", "upstream name", upstream_names_, true);
    if (const Item* t = require(*m, "targets")) parse_targets(*t, u);
    if (const Item* v = m->get("connect_timeout")) {
      if (auto d = duration(*v)) {
        u.connect_timeout_ms = *d;
        has_connect = true;
      }
    }
    if (const Item* v = m->get("response_timeout")) {
      if (auto d = duration(*v)) {
        u.response_timeout_ms = *d;
        has_response = true;
      }
    }
    if (const Item* v = m->get("idle_timeout")) {
      if (auto d = duration(*v)) u.idle_timeout_ms = *d;
    }
    if (const Item* v = m->get("max_idle_per_worker")) {
      if (auto n = integer(*v, 0, kMaxIdlePerWorker)) {
        u.max_idle_per_worker = static_cast<uint32_t>(*n);
      }
    }
    if (const Item* v = m->get("balancer")) {
      if (std::optional<std::string> b = one_of(*v, kBalancers, "balancer")) {
        u.balancer = std::move(*b);
      }
    }
    if (const Item* v = m->get("hash_key")) parse_hash_key(*v, u.hash_key);
    if (const Item* v = m->get("sticky")) parse_sticky(*v, u.sticky);
    if (const Item* v = m->get("health_check")) parse_health_check(*v, u.health_check);
    if (const Item* v = m->get("outlier")) parse_outlier(*v, u.outlier);
    if (const Item* v = m->get("breaker")) parse_breaker(*v, u.breaker);
    if (const Item* v = m->get("dns_refresh")) {
      if (auto d = duration(*v)) u.dns_refresh_ms = *d;
    }
    if (const Item* v = m->get("retry_budget")) parse_retry_budget(*v, u);
    if (const Item* v = m->get("tls")) parse_upstream_tls(*v, u.tls);
    upstream_defaults_.emplace_back(!has_connect, !has_response);
    cfg.upstreams.push_back(std::move(u));
  }
}

void Parser::parse_targets(const Item& it, UpstreamConfig& u) {
  std::optional<std::vector<Item>> items = list(it);
  if (!items) return;
  if (items->empty()) error(it.mark, it.path, "an upstream needs at least one target");
  for (const Item& e : *items) {
    TargetConfig t;
    t.mark = e.mark;
    const Item* addr_item = &e;
    std::optional<MapItem> m;
    if (!e.node.is_scalar()) {
      m = map(e, {"address", "weight"});
      if (!m) continue;
      addr_item = require(*m, "address");
      if (const Item* w = m->get("weight")) {
        if (auto n = integer(*w, 1, kMaxWeight)) t.weight = static_cast<uint32_t>(*n);
      }
    }
    if (!addr_item) continue;
    std::optional<Address> a = address(*addr_item, false);
    if (!a) continue;
    if (a->host.empty()) {
      error(addr_item->mark, addr_item->path,
            "a target needs a host (an IP or a name), got " + quote(a->text));
      continue;
    }
    t.address = std::move(*a);
    for (const TargetConfig& prev : u.targets) {
      if (prev.address.host == t.address.host && prev.address.port == t.address.port) {
        error(addr_item->mark, addr_item->path,
              "duplicate target " + quote(t.address.text) + " (first defined at line " +
                  std::to_string(prev.mark.line) + ")");
        break;
      }
    }
    u.targets.push_back(std::move(t));
  }
}

void Parser::parse_hash_key(const Item& it, HashKeyConfig& h) {
  const std::optional<std::string> s = string(it);
  if (!s) return;
  const std::string_view text = *s;
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view name =
      colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  const std::string bad = "invalid hash key " + quote(text) + ": ";
  using Source = HashKeyConfig::Source;
  if (kind == "client_ip" || kind == "path") {
    if (colon != std::string_view::npos) {
      error(it.mark, it.path, bad + "'" + std::string(kind) + "' takes no name");
      return;
    }
    h.source = kind == "path" ? Source::kPath : Source::kClientIp;
    h.name.clear();
    return;
  }
  if (kind != "header" && kind != "cookie" && kind != "query") {
    error(it.mark, it.path,
          bad + "expected client_ip, header:NAME, cookie:NAME, path or query:NAME");
    return;
  }
  if (name.empty()) {
    error(it.mark, it.path, bad + "missing name after '" + std::string(kind) + ":'");
    return;
  }
  const bool ok = kind == "query" ? is_query_name(name) : is_token(name);
  if (!ok) {
    error(it.mark, it.path, bad + quote(name) + " is not a valid " + std::string(kind) + " name");
    return;
  }
  if (kind == "header") {
    h.source = Source::kHeader;
    h.name = lower(std::string(name));
  } else {
    h.source = kind == "cookie" ? Source::kCookie : Source::kQuery;
    h.name = std::string(name);
  }
}

void Parser::parse_sticky(const Item& it, StickyConfig& st) {
  std::optional<MapItem> m = map(it, {"cookie", "secret", "max_age"});
  if (!m) return;
  st.enabled = true;
  if (const Item* v = m->get("cookie")) {
    if (std::optional<std::string> c = string(*v)) {
      if (is_token(*c)) {
        st.cookie = std::move(*c);
      } else {
        error(v->mark, v->path, "invalid cookie name " + quote(*c));
      }
    }
  }
  if (const Item* v = require(*m, "secret")) {
    if (std::optional<std::string> sec = string(*v)) {
      // The secret itself is never echoed into a message.
      if (sec->size() < kMinStickySecretBytes) {
        error(v->mark, v->path,
              "secret must be at least " + std::to_string(kMinStickySecretBytes) +
                  " bytes long, got " + std::to_string(sec->size()));
      } else {
        st.secret = std::move(*sec);
      }
    }
  }
  if (const Item* v = m->get("max_age")) {
    if (auto d = duration(*v, /*allow_zero=*/true)) {
      if (*d % 1000 != 0) {
        error(v->mark, v->path,
              "max_age must be a whole number of seconds, got " + quote(v->node.scalar()));
      } else {
        st.max_age_s = *d / 1000;
      }
    }
  }
}

void Parser::parse_health_check(const Item& it, HealthCheckConfig& h) {
  std::optional<MapItem> m = map(it, {"path", "host", "interval", "timeout", "healthy_threshold",
                                      "unhealthy_threshold", "expected_statuses"});
  if (!m) return;
  h.enabled = true;
  if (const Item* v = m->get("path")) {
    if (std::optional<std::string> p = string(*v)) {
      if (is_request_path(*p)) {
        h.path = std::move(*p);
      } else {
        error(v->mark, v->path,
              "expected a path starting with '/' (no spaces or control characters), got " +
                  quote(*p));
      }
    }
  }
  if (const Item* v = m->get("host")) {
    if (std::optional<std::string> host = string(*v)) {
      std::optional<Address> a;
      const bool ok =
          host->empty() || is_host_name(*host) || ((a = parse_address(*host)) && !a->host.empty());
      if (ok) {
        h.host = lower(std::move(*host));
      } else {
        error(v->mark, v->path,
              "invalid host " + quote(*host) + ": expected a host name or host:port");
      }
    }
  }
  const Item* interval = m->get("interval");
  const Item* timeout = m->get("timeout");
  const bool times_ok = durations(interval, &h.interval_ms, timeout, &h.timeout_ms);
  if (times_ok && h.timeout_ms >= h.interval_ms) {
    const std::string text = "timeout (" + format_ms(h.timeout_ms) +
                             (timeout ? "" : ", the default") +
                             ") must be shorter than interval (" + format_ms(h.interval_ms) +
                             (interval ? "" : ", the default") + ")";
    const Item& at = timeout ? *timeout : *interval;
    error(at.mark, at.path, text);
  }
  if (const Item* v = m->get("healthy_threshold")) {
    if (auto n = integer(*v, 1, kMaxThreshold)) h.healthy_threshold = static_cast<uint32_t>(*n);
  }
  if (const Item* v = m->get("unhealthy_threshold")) {
    if (auto n = integer(*v, 1, kMaxThreshold)) {
      h.unhealthy_threshold = static_cast<uint32_t>(*n);
    }
  }
  if (const Item* v = m->get("expected_statuses")) {
    std::vector<std::pair<int, int>> ranges;
    const std::vector<Item> items = list_or_one(*v);
    if (items.empty() && (v->node.is_null() || v->node.is_sequence())) {
      error(v->mark, v->path, "at least one status or status range is needed");
    }
    bool ok = true;
    for (const Item& e : items) {
      std::optional<std::pair<int, int>> r = status_range(e);
      ok = ok && r.has_value();
      if (r) ranges.push_back(*r);
    }
    if (ok && !ranges.empty()) h.expected_statuses = std::move(ranges);
  }
}

std::optional<std::pair<int, int>> Parser::status_range(const Item& it) {
  const std::string expected = "expected a status from " + std::to_string(kMinStatus) + " to " +
                               std::to_string(kMaxStatus) + " or a range like 200-299, got ";
  if (!it.node.is_scalar()) {
    error(it.mark, it.path, expected + describe(it.node));
    return std::nullopt;
  }
  const std::string_view s = it.node.scalar();
  const std::optional<std::pair<int, int>> r = parse_status_range(s);
  if (!r || r->first < kMinStatus || r->second > kMaxStatus || r->first > kMaxStatus ||
      r->second < kMinStatus) {
    error(it.mark, it.path, expected + quote(s));
    return std::nullopt;
  }
  if (r->first > r->second) {
    error(it.mark, it.path,
          "empty status range " + quote(s) + ": " + std::to_string(r->first) + " is greater than " +
              std::to_string(r->second));
    return std::nullopt;
  }
  return r;
}

void Parser::parse_outlier(const Item& it, OutlierConfig& o) {
  if (it.node.is_scalar()) {
    const std::string_view s = it.node.scalar();
    if (s == "off" || s == "false") {
      o.enabled = false;
    } else {
      error(it.mark, it.path, "expected a map or 'off', got " + quote(s));
    }
    return;
  }
  if (it.node.is_sequence()) {
    error(it.mark, it.path, "expected a map or 'off', got a list");
    return;
  }
  std::optional<MapItem> m =
      map(it, {"enabled", "consecutive_failures", "base_ejection", "max_ejection",
               "max_ejection_percent", "uneject_on_health_check"});
  if (!m) return;
  if (const Item* v = m->get("enabled")) {
    if (std::optional<bool> b = boolean(*v)) o.enabled = *b;
  }
  if (const Item* v = m->get("consecutive_failures")) {
    if (auto n = integer(*v, 1, kMaxCount)) o.consecutive_failures = static_cast<uint32_t>(*n);
  }
  const Item* base = m->get("base_ejection");
  const Item* max = m->get("max_ejection");
  const bool times_ok = durations(base, &o.base_ejection_ms, max, &o.max_ejection_ms);
  if (times_ok && o.base_ejection_ms > o.max_ejection_ms) {
    const Item& at = base ? *base : *max;
    error(at.mark, at.path,
          "base_ejection (" + format_ms(o.base_ejection_ms) + (base ? "" : ", the default") +
              ") must not be longer than max_ejection (" + format_ms(o.max_ejection_ms) +
              (max ? "" : ", the default") + ")");
  }
  if (const Item* v = m->get("max_ejection_percent")) {
    if (auto p = percent(*v, 0, 100)) o.max_ejection_percent = *p;
  }
  if (const Item* v = m->get("uneject_on_health_check")) {
    if (std::optional<bool> b = boolean(*v)) o.uneject_on_health_check = *b;
  }
}

void Parser::parse_breaker(const Item& it, BreakerConfig& b) {
  std::optional<MapItem> m = map(
      it, {"error_rate", "min_requests", "window", "consecutive_failures", "open",
           "half_open_requests", "per_target", "max_connections", "max_pending", "max_requests"});
  if (!m) return;
  b.enabled = true;
  if (const Item* v = m->get("error_rate")) {
    if (auto p = percent(*v, 1, 100)) b.error_rate_percent = *p;
  }
  if (const Item* v = m->get("min_requests")) {
    if (auto n = integer(*v, 1, kMaxCount)) b.min_requests = static_cast<uint32_t>(*n);
  }
  if (const Item* v = m->get("window")) {
    if (auto d = duration(*v)) {
      if (*d < kMinBreakerWindowMs) {
        error(v->mark, v->path,
              "window must be at least " + format_ms(kMinBreakerWindowMs) + ", got " +
                  quote(v->node.scalar()));
      } else {
        b.window_ms = *d;
      }
    }
  }
  if (const Item* v = m->get("open")) {
    if (auto d = duration(*v)) b.open_ms = *d;
  }
  if (const Item* v = m->get("per_target")) {
    if (std::optional<bool> p = boolean(*v)) b.per_target = *p;
  }
  const std::tuple<const char*, int64_t, uint32_t*> counts[] = {
      {"consecutive_failures", 0, &b.consecutive_failures},
      {"half_open_requests", 1, &b.half_open_requests},
      {"max_connections", 0, &b.max_connections},
      {"max_pending", 0, &b.max_pending},
      {"max_requests", 0, &b.max_requests},
  };
  for (const auto& [key, lo, out] : counts) {
    if (const Item* v = m->get(key)) {
      if (auto n = integer(*v, lo, kMaxCount)) *out = static_cast<uint32_t>(*n);
    }
  }
}

void Parser::parse_retry_budget(const Item& it, UpstreamConfig& u) {
  std::optional<MapItem> m = map(it, {"percent", "min_concurrent"});
  if (!m) return;
  if (const Item* v = m->get("percent")) {
    if (auto p = percent(*v, 0, 100)) u.retry_budget_percent = *p;
  }
  if (const Item* v = m->get("min_concurrent")) {
    if (auto n = integer(*v, 0, kMaxCount)) u.retry_budget_min = static_cast<uint32_t>(*n);
  }
}

}  // namespace sluice::config
