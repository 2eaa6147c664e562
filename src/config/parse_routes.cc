// Parser's sections for routes: match, respond, retry and backoff, rate limits and the filters
// map (each filter's own config is parsed by the filter).
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/parser.h"
#include "config/reader.h"
#include "config/scalars.h"
#include "router/router.h"

namespace sluice::config {

namespace {

constexpr int64_t kMaxPriority = 1000000;
constexpr int64_t kMaxRetryAttempts = 10;

constexpr std::string_view kRetryKeywords[] = {"connect_failure", "reset", "timeout"};

// The scalar under a map's `name` key ("" when there is none or it is not a scalar).
std::string_view route_name_of(const Node& route) {
  if (!route.is_map()) return "";
  for (size_t i = 0; i < route.size(); ++i) {
    if (route.key(i).scalar() == "name") {
      const Node v = route.value(i);
      return v.is_scalar() ? v.scalar() : "";
    }
  }
  return "";
}

}  // namespace

void Parser::parse_routes(const Item& it, Config& cfg) {
  std::optional<std::vector<Item>> items = list(it);
  if (!items) return;
  cfg.routes.reserve(cfg.routes.size() + items->size());
  for (const Item& e : *items) {
    const uint64_t fp = fingerprint(e.node);
    if (reuse_ != nullptr && fp != 0) {
      // Compiled already (config.h, RouteReuse): only its name is read, for the duplicate check
      // (a duplicate takes the full walk below, which reports it).
      auto same = reuse_->by_route.find(fp);
      const std::string_view name = same == reuse_->by_route.end() ? "" : route_name_of(e.node);
      if (!name.empty() && route_names_.emplace(std::string(name), e.mark).second) {
        RouteConfig r;
        r.mark = e.mark;
        r.name = name;
        r.fingerprint = fp;
        r.reuse = static_cast<int32_t>(same->second);
        cfg.routes.push_back(std::move(r));
        continue;
      }
    }
    std::optional<MapItem> m =
        map(e, {"name", "match", "priority", "upstream", "respond", "strip_prefix",
                "rewrite_prefix", "max_body_bytes", "timeout", "retry", "rate_limits", "security",
                "filters", "mock", "mirror"});
    if (!m) continue;
    const size_t files_before = files_read();
    RouteConfig r;
    r.mark = e.mark;
    r.name = unique_name(*m, "name", "route name", route_names_, false);
    r.fingerprint = fp;
    std::optional<Item> priority;
    if (const Item* p = m->get("priority")) priority = *p;
    if (const Item* mt = require(*m, "match")) parse_match(*mt, r, priority);
    if (priority) {
      if (auto p = integer(*priority, -kMaxPriority, kMaxPriority)) {
        r.priority = static_cast<int>(*p);
      }
    }
    const Item* up = m->get("upstream");
    const Item* respond = m->get("respond");
    if (const Item* rl = m->get("rate_limits")) parse_rate_limits(*rl, r);
    SecurityConfig security;
    if (const Item* sec = m->get("security")) parse_security(*sec, security);
    std::optional<Item> respond_alias;
    if (const Item* f = m->get("filters")) {
      parse_filters(*f, r.filters);
      take_filter_aliases(r.filters, r.filter_aliases, security, &r, &respond_alias);
      if (respond_alias) {
        if (respond != nullptr) {
          error(respond_alias->mark, respond_alias->path,
                "give 'respond' or 'filters.respond', not both");
        } else {
          respond = &*respond_alias;
        }
      }
    }
    if (security.auth || security.rbac || security.ip_rules || security.cors || security.headers) {
      r.security = OutOfLine<SecurityConfig>(std::move(security));
    }
    // A route answered by its mock filter needs no upstream.
    const Item* mock = m->get("mock");
    if (mock != nullptr) {
      if (std::any_of(r.filters.begin(), r.filters.end(),
                      [](const FilterSpec& f) { return f.name == "mock"; })) {
        error(mock->mark, mock->path, "give 'mock' or 'filters.mock', not both");
      } else {
        r.filters.push_back(
            FilterSpec{"mock", mock->node.detach(), mock->path, mock->mark, mock->mark, false});
      }
    }
    const bool mocked = std::any_of(r.filters.begin(), r.filters.end(),
                                    [](const FilterSpec& f) { return f.name == "mock" && !f.off; });
    if (up != nullptr && respond != nullptr) {
      error(e.mark, e.path, "route needs exactly one of 'upstream', 'respond' or 'mock'");
    } else if (up == nullptr && respond == nullptr && !mocked) {
      error(e.mark, e.path, "route needs exactly one of 'upstream', 'respond' or 'mock'");
    }
    if (up) {
      if (std::optional<std::string> name = string(*up)) {
        r.upstream = std::move(*name);
        r.upstream_mark = up->mark;
        upstream_refs_.push_back(*up);
      }
    }
    if (respond) parse_respond(*respond, r);
    for (const char* key : {"strip_prefix", "rewrite_prefix"}) {
      const Item* p = m->get(key);
      if (!p) continue;
      std::optional<std::string> s = string(*p);
      if (!s) continue;
      if (s->empty() || s->front() != '/') {
        error(p->mark, p->path, "must start with '/', got " + quote(*s));
        continue;
      }
      (std::string_view(key) == "strip_prefix" ? r.strip_prefix : r.rewrite_prefix) = std::move(*s);
    }
    if (const Item* v = m->get("max_body_bytes")) {
      if (auto s = size(*v, 0, std::numeric_limits<uint64_t>::max(), "")) r.max_body_bytes = *s;
    }
    if (const Item* v = m->get("timeout")) {
      if (auto d = duration(*v)) r.timeout_ms = *d;
    }
    if (const Item* v = m->get("retry")) {
      if (respond && !up) {
        error(v->mark, v->path, "retry needs 'upstream': a 'respond' route has nothing to retry");
      }
      const std::optional<Item> per_try = parse_retry(*v, r.retry);
      if (per_try && r.timeout_ms && r.retry.per_try_timeout_ms > *r.timeout_ms) {
        error(per_try->mark, per_try->path,
              "per_try_timeout (" + format_ms(r.retry.per_try_timeout_ms) +
                  ") must not be longer than the route's timeout (" + format_ms(*r.timeout_ms) +
                  "), the time for all tries together");
      }
    }
    if (const Item* v = m->get("mirror")) {
      if (!up) {
        error(v->mark, v->path, "mirror needs 'upstream': it copies the request sent upstream");
      }
      parse_mirror(*v, r);
    }
    if (files_read() != files_before) r.fingerprint = 0;  // what the files hold is not in it
    cfg.routes.push_back(std::move(r));
  }
}

void Parser::parse_mirror(const Item& it, RouteConfig& r) {
  std::optional<MapItem> m =
      map(it, {"upstream", "percent", "max_body", "timeout", "max_in_flight"});
  if (!m) return;
  MirrorConfig mc;
  if (const Item* up = require(*m, "upstream")) {
    if (std::optional<std::string> name = string(*up)) {
      mc.upstream = std::move(*name);
      mc.upstream_mark = up->mark;
      upstream_refs_.push_back(*up);
    }
  }
  if (const Item* v = m->get("percent")) {
    if (auto p = percent(*v, 0, 100)) mc.percent = *p;
  }
  if (const Item* v = m->get("max_body")) {
    if (auto s = size(*v, 0, uint64_t{1} << 30, "from 0 to 1GiB")) mc.max_body_bytes = *s;
  }
  if (const Item* v = m->get("timeout")) {
    if (auto d = duration(*v)) mc.timeout_ms = *d;
  }
  if (const Item* v = m->get("max_in_flight")) {
    if (auto n = integer(*v, 1, 1000000)) mc.max_in_flight = static_cast<uint32_t>(*n);
  }
  r.mirror = std::move(mc);
}

void Parser::parse_match(const Item& it, RouteConfig& r, std::optional<Item>& priority) {
  std::optional<MapItem> m = map(it, {"path", "methods", "host", "headers", "priority"});
  if (!m) return;
  if (const Item* p = require(*m, "path")) {
    r.path_mark = p->mark;
    if (std::optional<std::string> path = string(*p)) {
      const std::string problem = router::check_pattern(*path);
      if (!problem.empty()) {
        error(p->mark, p->path, "invalid path pattern " + quote(*path) + ": " + problem);
      }
      r.path = std::move(*path);
    }
  }
  if (const Item* ms = m->get("methods")) {
    for (const Item& e : list_or_one(*ms)) {  // "methods: GET" is a list of one
      std::optional<std::string> method = route_method(e);
      if (method && std::find(r.methods.begin(), r.methods.end(), *method) == r.methods.end()) {
        r.methods.push_back(std::move(*method));
      }
    }
  }
  if (const Item* h = m->get("host")) {
    if (std::optional<std::string> s = string(*h)) {
      std::string host = lower(std::move(*s));
      const std::string_view name =
          host.starts_with("*.") ? std::string_view(host).substr(2) : std::string_view(host);
      if (!host.empty() && !is_host_name(name)) {
        error(h->mark, h->path,
              "invalid host " + quote(host) + ": expected a host name or *.suffix");
      } else {
        r.host = std::move(host);
      }
    }
  }
  if (const Item* h = m->get("headers")) {
    for (auto& [name, value] : headers(*h)) {
      r.headers.push_back(HeaderMatchConfig{std::move(name), std::move(value)});
    }
  }
  if (const Item* p = m->get("priority")) {
    if (priority) {
      error(p->mark, p->path, "priority is given both on the route and inside match");
    } else {
      priority = *p;
    }
  }
}

void Parser::parse_respond(const Item& it, RouteConfig& r) {
  std::optional<MapItem> m = map(it, {"status", "body", "headers"});
  if (!m) return;
  RespondConfig resp;
  if (const Item* s = m->get("status")) {
    if (auto n = integer(*s, 200, 599)) resp.status = static_cast<int>(*n);
  }
  if (const Item* b = m->get("body")) {
    if (std::optional<std::string> body = string(*b)) resp.body = std::move(*body);
  }
  if (const Item* h = m->get("headers")) {
    resp.headers = headers(*h);
    // Framing and connection fields are the gateway's to write, never the config's.
    for (const auto& [name, value] : resp.headers) {
      if (name == "content-length" || name == "transfer-encoding" || name == "connection" ||
          name == "keep-alive" || name == "upgrade" || name == "te" || name == "trailer") {
        error(h->mark, h->path + "." + name,
              "header " + quote(name) + " is set by sluice and cannot be configured");
      }
    }
  }
  if ((resp.status == 204 || resp.status == 304) && !resp.body.empty()) {
    error(it.mark, it.path + ".body",
          "status " + std::to_string(resp.status) + " cannot have a body");
  }
  r.respond = std::move(resp);
}

void Parser::parse_filters(const Item& it, std::vector<FilterSpec>& out) {
  for (MapEntry& e : entries(it, "filter names to their settings", "filter name")) {
    if (std::any_of(out.begin(), out.end(), [&](const FilterSpec& f) { return f.name == e.key; })) {
      error(e.key_mark, e.value.path, "duplicate filter " + quote(e.key));
      continue;
    }
    const Node& v = e.value.node;
    const bool off = v.is_scalar() && (v.scalar() == "off" || v.scalar() == "false");
    // Its own copy: the config keeps the filter's settings, not the whole file's tree.
    out.push_back(FilterSpec{e.key, v.detach(), e.value.path, e.value.mark, e.key_mark, off});
  }
}

std::optional<Item> Parser::parse_retry(const Item& it, RetryConfig& rc) {
  std::optional<MapItem> m = map(it, {"attempts", "on", "per_try_timeout", "backoff"});
  if (!m) return std::nullopt;
  if (const Item* v = m->get("attempts")) {
    if (auto n = integer(*v, 1, kMaxRetryAttempts)) rc.attempts = static_cast<uint32_t>(*n);
  }
  if (const Item* v = m->get("on")) parse_retry_on(*v, rc);
  std::optional<Item> per_try;
  if (const Item* v = m->get("per_try_timeout")) {
    if (auto d = duration(*v)) {
      rc.per_try_timeout_ms = *d;
      per_try = *v;
    }
  }
  if (const Item* v = m->get("backoff")) parse_backoff(*v, rc);
  return per_try;
}

void Parser::parse_retry_on(const Item& it, RetryConfig& rc) {
  const std::vector<Item> items = list_or_one(it);
  if (items.empty() && (it.node.is_null() || it.node.is_sequence())) {
    error(it.mark, it.path,
          "at least one retry condition is needed (leave out 'retry' for no retries)");
    return;
  }
  rc.on_connect_failure = false;
  rc.on_reset = false;
  rc.on_timeout = false;
  rc.on_statuses.clear();
  for (const Item& e : items) {
    std::optional<std::string> s = string(e);
    if (!s) continue;
    if (*s == "connect_failure") {
      rc.on_connect_failure = true;
    } else if (*s == "reset") {
      rc.on_reset = true;
    } else if (*s == "timeout") {
      rc.on_timeout = true;
    } else if (!s->empty() &&
               std::all_of(s->begin(), s->end(), [](char c) { return c >= '0' && c <= '9'; })) {
      std::optional<int64_t> status = integer(e, 400, kMaxStatus);
      if (!status) continue;
      const int code = static_cast<int>(*status);
      if (std::find(rc.on_statuses.begin(), rc.on_statuses.end(), code) == rc.on_statuses.end()) {
        rc.on_statuses.push_back(code);
      }
    } else {
      std::string msg = "unknown retry condition " + quote(*s);
      const std::string_view best = suggest(*s, kRetryKeywords);
      if (!best.empty()) {
        msg += " (did you mean '" + std::string(best) + "'?)";
      } else {
        msg += " (expected connect_failure, reset, timeout or a status from 400 to 599)";
      }
      error(e.mark, e.path, std::move(msg));
    }
  }
}

void Parser::parse_backoff(const Item& it, RetryConfig& rc) {
  const Item* base = nullptr;
  const Item* max = nullptr;
  std::optional<MapItem> m;
  if (it.node.is_scalar()) {
    base = &it;
  } else {
    m = map(it, {"base", "max"});
    if (!m) return;
    base = m->get("base");
    max = m->get("max");
  }
  std::optional<uint64_t> b;
  std::optional<uint64_t> x;
  if (base && !(b = duration(*base))) return;
  if (max && !(x = duration(*max))) return;
  if (b && x && *b > *x) {
    error(
        base->mark, base->path,
        "backoff base (" + format_ms(*b) + ") must not be longer than max (" + format_ms(*x) + ")");
    return;
  }
  if (b) {
    rc.backoff_base_ms = *b;
    if (!x) rc.backoff_max_ms = std::max(rc.backoff_max_ms, *b);
  }
  if (x) {
    rc.backoff_max_ms = *x;
    if (!b) rc.backoff_base_ms = std::min(rc.backoff_base_ms, *x);
  }
}

void Parser::parse_rate_limits(const Item& it, RouteConfig& r) {
  std::optional<std::vector<Item>> items = list(it);
  if (!items) return;
  std::map<std::string, Mark> names;
  for (const Item& e : *items) {
    std::optional<MapItem> m = map(
        e, {"name", "key", "algorithm", "limit", "period", "burst", "scope", "exact", "max_keys"});
    if (!m) continue;
    RateLimitConfig rl;
    rl.mark = e.mark;
    rl.name = unique_name(*m, "name", "policy name", names, false, " in this route");
    if (const Item* k = m->get("key")) {
      if (auto key = string(*k)) {
        std::string_view v = *key;
        auto named = [&](std::string_view prefix, RateLimitConfig::Key kind) {
          if (v.substr(0, prefix.size()) != prefix) return false;
          std::string name(v.substr(prefix.size()));
          if (name.empty() || !is_token(name)) {
            error(k->mark, k->path, "expected a name after " + quote(std::string(prefix)));
          }
          if (kind == RateLimitConfig::Key::kHeader) {
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          }
          rl.key = kind;
          rl.key_name = std::move(name);
          return true;
        };
        if (v == "client_ip") {
          rl.key = RateLimitConfig::Key::kClientIp;
        } else if (v == "route") {
          rl.key = RateLimitConfig::Key::kRoute;
        } else if (v == "consumer") {
          rl.key = RateLimitConfig::Key::kConsumer;
        } else if (!named("header:", RateLimitConfig::Key::kHeader) &&
                   !named("jwt_claim:", RateLimitConfig::Key::kJwtClaim) &&
                   !named("query:", RateLimitConfig::Key::kQuery)) {
          error(k->mark, k->path,
                "unknown key " + quote(*key) +
                    " (expected client_ip, route, consumer, header:NAME, query:NAME or "
                    "jwt_claim:NAME)");
        }
      }
    }
    if (const Item* a = m->get("algorithm")) {
      static constexpr std::array<std::string_view, 3> kAlgorithms = {
          "token_bucket", "sliding_window", "fixed_window"};
      if (auto s = one_of(*a, kAlgorithms, "algorithm")) rl.algorithm = *s;
    }
    if (const Item* l = require(*m, "limit")) {
      if (auto n = integer(*l, 0, int64_t{1} << 40)) rl.limit = static_cast<uint64_t>(*n);
    }
    if (const Item* p = m->get("period")) {
      if (auto d = duration(*p)) rl.period_ms = *d;
    }
    if (const Item* b = m->get("burst")) {
      if (rl.algorithm != "token_bucket") {
        error(b->mark, b->path, "burst applies to the token_bucket algorithm only");
      } else if (auto n = integer(*b, 1, int64_t{1} << 40)) {
        rl.burst = static_cast<uint64_t>(*n);
      }
    }
    const Item* scope = m->get("scope");
    if (scope) {
      static constexpr std::array<std::string_view, 2> kScopes = {"local", "cluster"};
      if (auto s = one_of(*scope, kScopes, "scope")) rl.cluster = *s == "cluster";
    }
    if (const Item* x = m->get("exact")) {
      if (auto b = boolean(*x)) rl.exact = *b;
      if (!rl.cluster) error(x->mark, x->path, "exact applies to scope: cluster only");
    }
    if (const Item* mk = m->get("max_keys")) {
      if (auto n = integer(*mk, 1, int64_t{1} << 32)) rl.max_keys = static_cast<uint64_t>(*n);
    }
    if (rl.cluster) cluster_policies_.push_back(scope ? *scope : e);
    r.rate_limits.push_back(std::move(rl));
  }
}

}  // namespace sluice::config
