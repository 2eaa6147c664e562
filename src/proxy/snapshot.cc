#include "proxy/snapshot.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string_view>
#include <unordered_map>

#include "filters/builtin.h"
#include "filters/cors/cors_filter.h"
#include "filters/ip_rules/ip_rules_filter.h"
#include "filters/rate_limit/rate_limit_filter.h"
#include "filters/respond/respond_filter.h"
#include "filters/security_headers/security_headers_filter.h"
#include "http/method.h"
#include "http/status.h"

namespace sluice::proxy {
namespace {

config::ConfigError route_error(const config::Config& cfg, size_t index, std::string message) {
  const config::RouteConfig& r = cfg.routes[index];
  const config::Mark at = r.path_mark.line ? r.path_mark : r.mark;
  return config::ConfigError{
      cfg.file_of(at), at, "routes[" + std::to_string(index) + "].match.path", std::move(message)};
}

bool is_ip_literal(const std::string& host) {
  net::SocketAddress unused;
  return net::parse_ip_literal(host, 0, &unused);
}

std::string address_key(const net::SocketAddress& a) {
  std::string ip = net::ip_string(a.storage);
  return (a.family() == AF_INET6 ? "[" + ip + "]" : ip) + ":" +
         std::to_string(net::address_port(a));
}

// The upstreams of a config, their targets' addresses from `book` for host names.
std::vector<Upstream> build_upstreams(const config::Config& cfg, RuntimeRegistry& registry,
                                      const AddressBook& book) {
  std::vector<Upstream> out;
  out.reserve(cfg.upstreams.size());
  for (size_t u = 0; u < cfg.upstreams.size(); ++u) {
    const config::UpstreamConfig& uc = cfg.upstreams[u];
    Upstream up;
    up.name = uc.name;
    up.algorithm = balance::parse_algorithm(uc.balancer).value_or(balance::Algorithm::kRoundRobin);
    up.hash_key = uc.hash_key;
    up.sticky = uc.sticky;
    up.outlier = uc.outlier;
    up.health_check = uc.health_check;
    up.runtime = registry.upstream(uc);
    up.max_connections = uc.breaker.max_connections;
    up.max_pending = uc.breaker.max_pending;
    up.max_requests = uc.breaker.max_requests;
    up.connect_timeout_ms = uc.connect_timeout_ms;
    up.response_timeout_ms = uc.response_timeout_ms;
    up.idle_timeout_ms = uc.idle_timeout_ms;
    up.max_idle_per_worker = uc.max_idle_per_worker;
    up.tls = uc.tls.context;
    for (size_t t = 0; t < uc.targets.size(); ++t) {
      const config::TargetConfig& tc = uc.targets[t];
      Target target;
      target.key = tc.address.text;
      target.weight = tc.weight;
      target.state = registry.target(uc.name, target.key);
      target.breaker = registry.target_breaker(uc, target.key);
      net::SocketAddress addr;
      if (net::parse_ip_literal(tc.address.host, tc.address.port, &addr)) {
        target.addresses.push_back(addr);
      } else {
        auto it = book.find(tc.address.host);
        if (it != book.end()) {
          for (net::SocketAddress a : it->second) {
            net::set_address_port(a, tc.address.port);
            target.addresses.push_back(a);
          }
        }
      }
      for (const net::SocketAddress& a : target.addresses) {
        target.address_keys.push_back(address_key(a));
        target.pool_keys.push_back(uc.name + "|" + target.address_keys.back());
      }
      up.targets.push_back(std::move(target));
    }
    // Round robin honours weights: with unequal ones it is the smooth weighted variant.
    for (const Target& t : up.targets) {
      if (up.algorithm == balance::Algorithm::kRoundRobin && t.weight != up.targets[0].weight) {
        up.algorithm = balance::Algorithm::kWeightedRoundRobin;
      }
    }
    out.push_back(std::move(up));
  }
  return out;
}

}  // namespace

std::shared_ptr<const Snapshot> with_addresses(const Snapshot& now, uint64_t generation,
                                               RuntimeRegistry& registry, const AddressBook& book) {
  auto snap = std::make_shared<Snapshot>(now);  // shares the route table, router and chains
  snap->generation = generation;
  snap->upstreams = build_upstreams(now.config, registry, book);
  return snap;
}

std::vector<std::pair<std::string, uint16_t>> target_host_names(const config::Config& cfg) {
  std::vector<std::pair<std::string, uint16_t>> names;
  for (const config::UpstreamConfig& u : cfg.upstreams) {
    for (const config::TargetConfig& t : u.targets) {
      if (!is_ip_literal(t.address.host)) names.emplace_back(t.address.host, t.address.port);
    }
  }
  return names;
}

config::RouteReuse reuse_of(const Snapshot& s) {
  config::RouteReuse r;
  r.context = s.context_fingerprint;
  if (r.context == 0) return r;
  r.by_route.reserve(s.routes.size());
  for (size_t i = 0; i < s.routes.size(); ++i) {
    if (s.routes[i].fingerprint != 0) r.by_route.emplace(s.routes[i].fingerprint, i);
  }
  return r;
}

SnapshotResult build_snapshot(config::Config cfg, uint64_t version, uint64_t generation,
                              RuntimeRegistry& registry, const AddressBook& book,
                              const Snapshot* previous) {
  SnapshotResult result;
  auto snap = std::make_shared<Snapshot>();
  snap->version = version;
  snap->generation = generation;
  snap->context_fingerprint = cfg.context_fingerprint;
  snap->limits.max_head_bytes = cfg.limits.max_header_bytes;
  snap->limits.max_headers = cfg.limits.max_headers;
  snap->limits.max_uri_bytes = cfg.limits.max_uri_bytes;
  snap->limits.underscores =
      cfg.limits.headers_with_underscores == "allow"    ? http::UnderscoreHeaders::kAllow
      : cfg.limits.headers_with_underscores == "reject" ? http::UnderscoreHeaders::kReject
                                                        : http::UnderscoreHeaders::kDrop;

  snap->upstreams = build_upstreams(cfg, registry, book);

  std::vector<router::RouteSpec> specs;
  specs.reserve(cfg.routes.size());
  // Exactly sized: a config may have 100,000 routes, and the chains' rate-limit filters view
  // into the routes' policies (no reallocation after this).
  snap->routes.reserve(cfg.routes.size());
  std::unordered_map<std::string_view, int> upstream_index;
  for (size_t u = 0; u < cfg.upstreams.size(); ++u) {
    upstream_index.emplace(cfg.upstreams[u].name, static_cast<int>(u));
  }
  auto find_upstream = [&](const std::string& name) {
    auto it = upstream_index.find(name);
    return it == upstream_index.end() ? -1 : it->second;
  };
  for (const config::RouteConfig& rc : cfg.routes) {
    if (rc.reuse >= 0) {
      // Compiled by `previous` in the same context: its spec and Route (chain included) as they
      // are. The loader marks a route so only with the RouteReuse of `previous` (reuse_of).
      const auto at = static_cast<size_t>(rc.reuse);
      if (previous == nullptr || previous->context_fingerprint != cfg.context_fingerprint ||
          !previous->router || at >= previous->routes.size() ||
          previous->routes[at].fingerprint != rc.fingerprint) {
        result.errors.push_back(
            route_error(cfg, specs.size(), "internal error: the compiled route to reuse is gone"));
        return result;
      }
      specs.push_back(previous->router->route(at));
      snap->routes.push_back(previous->routes[at]);
      ++result.reused;
      continue;
    }
    router::RouteSpec spec;
    spec.name = rc.name;
    spec.path = rc.path;
    for (const std::string& m : rc.methods) {
      spec.methods |= http::method_bit(http::parse_method(m));
    }
    spec.host = rc.host;
    for (const auto& h : rc.headers) spec.headers.push_back({h.name, h.value});
    spec.priority = rc.priority;
    specs.push_back(std::move(spec));

    Route route;  // name and pattern: set once the router holds them
    route.metric_slot = registry.route_slot(rc.name);
    route.upstream = find_upstream(rc.upstream);
    if (rc.respond) route.respond_status = rc.respond->status;
    route.strip_prefix = rc.strip_prefix;
    route.rewrite_prefix = rc.rewrite_prefix;
    route.max_body_bytes = rc.max_body_bytes.value_or(cfg.limits.max_body_bytes);
    route.retry = rc.retry;
    route.total_timeout_ms = rc.timeout_ms.value_or(0);
    route.fingerprint = rc.fingerprint;
    std::vector<RatePolicy> policies;
    for (const config::RateLimitConfig& rl : rc.rate_limits) {
      RatePolicy p;
      p.name = rl.name;
      p.key = rl.key;
      p.key_name = rl.key_name;
      p.params.algorithm = rl.algorithm == "fixed_window" ? limits::RateAlgorithm::kFixedWindow
                           : rl.algorithm == "sliding_window"
                               ? limits::RateAlgorithm::kSlidingWindow
                               : limits::RateAlgorithm::kTokenBucket;
      p.params.limit = rl.limit;
      p.params.period_ms = rl.period_ms;
      p.params.burst = rl.burst;
      p.cluster = rl.cluster;
      p.exact = rl.exact;
      p.policy_id = rc.name + ":" + rl.name;
      p.policy_header =
          std::to_string(rl.limit) + ";w=" + std::to_string((rl.period_ms + 999) / 1000);
      p.runtime = registry.rate_limit(rc.name, rl.name, rl.cluster ? 1 : rl.max_keys);
      policies.push_back(std::move(p));
    }
    if (!policies.empty()) {
      route.policies = std::make_shared<const std::vector<RatePolicy>>(std::move(policies));
    }
    route.response_timeout_ms =
        rc.retry.per_try_timeout_ms != 0
            ? rc.retry.per_try_timeout_ms
            : (route.upstream >= 0
                   ? cfg.upstreams[static_cast<size_t>(route.upstream)].response_timeout_ms
                   : cfg.timeouts.upstream_response_ms);
    if (rc.mirror) {
      MirrorRoute mr;
      mr.upstream = find_upstream(rc.mirror->upstream);
      mr.percent = rc.mirror->percent;
      mr.max_body_bytes = rc.mirror->max_body_bytes;
      mr.timeout_ms = mr.upstream >= 0
                          ? rc.mirror->timeout_ms.value_or(
                                cfg.upstreams[static_cast<size_t>(mr.upstream)].response_timeout_ms)
                          : 0;
      mr.max_in_flight = rc.mirror->max_in_flight;
      if (mr.upstream >= 0) route.mirror = mr;
    }
    snap->routes.push_back(std::move(route));
  }

  std::vector<router::RouterError> router_errors;
  snap->router = router::Router::build(std::move(specs), &router_errors);
  for (size_t i = 0; snap->router && i < snap->routes.size(); ++i) {
    snap->routes[i].name = snap->router->route(i).name;
    snap->routes[i].pattern = snap->router->route(i).path;
  }
  for (router::RouterError& e : router_errors) {
    result.errors.push_back(route_error(cfg, e.route, std::move(e.message)));
  }
  if (!snap->router && result.errors.empty()) {
    result.errors.push_back(config::ConfigError{cfg.source_file, {}, "routes", "router failed"});
  }
  for (const std::string& cidr : cfg.client_ip.trusted_proxies) {
    std::string why;
    if (!snap->trusted_proxies.add(cidr, &why)) {
      result.errors.push_back(config::ConfigError{cfg.source_file, {}, "client_ip", why});
    }
  }
  std::shared_ptr<SecurityTables> security;
  if (result.errors.empty()) {
    security =
        compile_security(cfg, registry.nonce_cache(), registry.jwks_lookup(), &result.errors);
  }
  {
    // The credentials the auth filters check against: those in force when the context is the
    // same (they are equal, and the reused chains hold them: one copy, not one per reload).
    std::shared_ptr<const SecurityTables> creds = security;
    if (security && previous != nullptr && previous->security &&
        previous->context_fingerprint != 0 &&
        previous->context_fingerprint == cfg.context_fingerprint) {
      creds = previous->security;
    }
    // `security.*`, `rate_limits` and `respond` become filters of the route's chain.
    std::vector<std::vector<filter::Prebuilt>> prebuilt(cfg.routes.size());
    for (size_t i = 0; security && i < security->routes.size(); ++i) {
      if (!security->routes[i]) continue;  // compiled already
      RouteSecurity& rs = *security->routes[i];
      const config::RouteConfig& rc = cfg.routes[i];
      const config::SecurityConfig& own = *rc.security;
      if (rs.ip_rules) {
        prebuilt[i].push_back(filter::Prebuilt{
            "ip_rules", filter::priority::kIpRules,
            filters::make_ip_rules_filter(std::move(*rs.ip_rules)), !own.ip_rules.has_value()});
        rs.ip_rules.reset();
      }
      if (rs.cors) {
        prebuilt[i].push_back(filter::Prebuilt{"cors", filter::priority::kCors,
                                               filters::make_cors_filter(std::move(*rs.cors)),
                                               !own.cors.has_value()});
        rs.cors.reset();
      }
      if (rs.headers) {
        prebuilt[i].push_back(filter::Prebuilt{
            "security_headers", filter::priority::kSecurityHeaders,
            filters::make_security_headers_filter(*rs.headers), !own.headers.has_value()});
        rs.headers.reset();
      }
      if (rs.auth) {
        prebuilt[i].push_back(filter::Prebuilt{
            "auth", filter::priority::kAuth, filters::make_auth_filter(std::move(*rs.auth), creds),
            !own.auth.has_value()});
        rs.auth.reset();
      }
      if (!rs.rbac.empty()) {
        prebuilt[i].push_back(filter::Prebuilt{"rbac", filter::priority::kRbac,
                                               filters::make_rbac_filter(std::move(rs.rbac)),
                                               rs.rbac_from_default});
        rs.rbac = filters::RbacPolicy();
      }
      const Route& route = snap->routes[i];
      if (route.policies) {
        prebuilt[i].push_back(filter::Prebuilt{
            "rate_limit", filter::priority::kRateLimit,
            filters::make_rate_limit_filter(route.policies, cfg.redis.fail_open), false});
      }
      if (rc.respond) {
        prebuilt[i].push_back(filter::Prebuilt{"respond", filter::priority::kRespond,
                                               filters::make_respond_filter(*rc.respond), false});
      }
    }
    std::vector<bool> read_files;
    std::vector<std::shared_ptr<const filter::Chain>> chains = filter::build_chains(
        cfg, filters::builtin_factories(), &result.errors, &prebuilt, &read_files);
    for (size_t i = 0; i < chains.size() && i < snap->routes.size(); ++i) {
      if (cfg.routes[i].reuse >= 0) continue;  // its chain came with it
      snap->routes[i].chain = std::move(chains[i]);
      if (read_files[i]) snap->routes[i].fingerprint = 0;  // what the files hold is not in it
    }
    // All moved into the chains.
    if (security) std::vector<std::unique_ptr<RouteSecurity>>().swap(security->routes);
    snap->security = std::move(creds);
  }
  ObserveSinks sinks = registry.sinks();
  if (cfg.tracing.enabled) snap->sinks.span_rings = std::move(sinks.span_rings);
  if (cfg.access_log.enabled) {
    std::string why;
    snap->access_log_format = observe::AccessLogFormat::compile(cfg.access_log.format, &why);
    if (!snap->access_log_format) {
      result.errors.push_back(config::ConfigError{cfg.source_file, {}, "access_log.format", why});
    }
    snap->sinks.access_logs = std::move(sinks.access_logs);
  }
  if (!result.errors.empty()) return result;
  // The routes are compiled (router, Route, chains): their config is not kept (it was the
  // larger part of a big table's memory). What the admin API shows comes from those.
  std::vector<config::RouteConfig>().swap(cfg.routes);
  snap->config = std::move(cfg);
  result.snapshot = std::move(snap);
  return result;
}

}  // namespace sluice::proxy
