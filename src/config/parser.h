// The config loader's schema walk: Parser reads a YAML document into a Config section by section,
// recording every problem through Reader. Internal to src/config/, not for other folders: they load
// a config with load_config_file() / load_config_string() (config/config.h).
//
// Its methods are defined in loader.cc (parse, finish) and in one parse_*.cc file per group of
// sections, as marked below.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/reader.h"
#include "net/tls.h"

namespace sluice::config {

inline constexpr uint64_t kMiB = uint64_t{1} << 20;
inline constexpr int kMinStatus = 100;
inline constexpr int kMaxStatus = 599;
inline constexpr size_t kMinAdminTokenBytes = 16;

class Parser : public Reader {
 public:
  explicit Parser(std::string file) : Reader(std::move(file)) {}
  // A config made of several files (config/sources.h): Mark::source indexes `files`.
  explicit Parser(std::vector<std::string> files) : Reader(std::move(files)) {}

  void parse(const Item& root, Config& cfg);
  // Routes compiled already (config.h); used only when the context's fingerprint matches.
  void set_reuse(const RouteReuse* reuse) { reuse_ = reuse; }

 private:
  // --- loader.cc: parse() above, and the checks that need the whole file -------------------------

  // Cross references and defaults that need the whole file.
  void finish(Config& cfg);

  // --- parse_listeners.cc: listeners, TLS, admin, dns, limits, timeouts --------------------------

  void parse_listeners(const Item& it, Config& cfg);

  // Reports a TLS context's problems at their keys under `t` (files are read here, so a
  // certificate that cannot be loaded fails the load and a reload keeps the running config).
  void tls_errors(const Item& t, const MapItem& m, const std::vector<net::TlsError>& errors);

  void parse_listener_tls(const Item& t, ListenerTlsConfig& tls);

  void parse_upstream_tls(const Item& t, UpstreamTlsConfig& tls);

  // The servers that resolve host-name targets: IP literals, with a port or not (53).
  void parse_dns(const Item& it, DnsConfig& d);

  void parse_admin(const Item& it, Config& cfg);

  // `config_source: {etcd: {endpoints: ["127.0.0.1:2379"], prefix: /sluice, timeout: 2s}}`.
  void parse_config_source(const Item& it, EtcdSourceConfig& e);

  void parse_limits(const Item& it, LimitsConfig& l);

  void parse_timeouts(const Item& it, TimeoutsConfig& t);

  // --- parse_upstreams.cc: upstreams and their targets, balancing and health ---------------------

  void parse_upstreams(const Item& it, Config& cfg);

  void parse_targets(const Item& it, UpstreamConfig& u);

  // client_ip | header:NAME | cookie:NAME | path | query:NAME. Checked whatever the balancer,
  // though only consistent_hash uses it.
  void parse_hash_key(const Item& it, HashKeyConfig& h);

  void parse_sticky(const Item& it, StickyConfig& st);

  void parse_health_check(const Item& it, HealthCheckConfig& h);

  // 304 or "200-299", within 100..599.
  std::optional<std::pair<int, int>> status_range(const Item& it);

  // A map, or `off` (also `false`) for no outlier ejection.
  void parse_outlier(const Item& it, OutlierConfig& o);

  void parse_breaker(const Item& it, BreakerConfig& b);

  void parse_retry_budget(const Item& it, UpstreamConfig& u);

  // --- parse_routes.cc: routes, match, respond, retry, rate limits, filters ----------------------

  void parse_routes(const Item& it, Config& cfg);

  // `priority` may be given on the route or inside match:, not both.
  void parse_match(const Item& it, RouteConfig& r, std::optional<Item>& priority);

  void parse_respond(const Item& it, RouteConfig& r);

  // `mirror: {upstream, percent, max_body, timeout, max_in_flight}`.
  void parse_mirror(const Item& it, RouteConfig& r);

  // `filters:`: a map of filter name -> its config (parsed by the filter when the snapshot is
  // built) or `off`.
  void parse_filters(const Item& it, std::vector<FilterSpec>& out);

  // Returns the per_try_timeout item when one was read successfully, for the check against the
  // route's timeout.
  std::optional<Item> parse_retry(const Item& it, RetryConfig& rc);

  // What is listed is retried, nothing else.
  void parse_retry_on(const Item& it, RetryConfig& rc);

  // `backoff: 25ms` (the base) or `backoff: {base: 25ms, max: 250ms}`. A base given alone above
  // the default max raises the max to it, and a max alone below the default base lowers the base.
  void parse_backoff(const Item& it, RetryConfig& rc);

  void parse_rate_limits(const Item& it, RouteConfig& r);

  // --- parse_observe.cc: tracing, access log, redis, client_ip -----------------------------------

  void parse_tracing(const Item& it, TracingConfig& t);

  void parse_access_log(const Item& it, AccessLogConfig& a);

  // `events: {history, webhooks: [{url, kinds, timeout, retries, headers}]}`.
  void parse_events(const Item& it, EventsConfig& e);

  void parse_redis(const Item& it, RedisConfig& r);

  void parse_client_ip(const Item& it, ClientIpConfig& c);

  // --- parse_credentials.cc: consumers, HMAC keys, JWT providers and their keys ------------------

  void parse_consumers(const Item& it, Config& cfg);

  void parse_hmac_keys(const Item& it, ConsumerConfig& c);

  void parse_jwt_providers(const Item& it, Config& cfg);

  // Inline keys, each loaded into a KeySet here so that a bad PEM or secret fails the load.
  void parse_jwt_keys(const Item& it, JwtProviderConfig& p);

  // `issuer: X` or `issuers: [X, Y]`: either key takes one value or a list, not both keys.
  std::vector<std::string> one_or_many(const MapItem& m, std::string_view one,
                                       std::string_view many);

  // An "alg" value: supported by the verifier, and never "none" (in any case).
  bool jwt_algorithm(const Item& it, const std::string& alg);

  // bearer | header:NAME | cookie:NAME | query:NAME
  std::optional<TokenSource> token_source(const Item& it);

  // --- parse_security.cc: security, auth, method roles, ip rules, cors, security headers ---------

  // `security:` at the top level (the default of every route) or in a route, where each section
  // given replaces the default's. `off` (for the whole of a route's security, or one section)
  // gives present-but-disabled sections.
  void parse_security(const Item& it, SecurityConfig& s);

  void parse_auth(const Item& it, AuthConfig& a);

  // {DELETE: [admin], POST: [admin, writer]}
  void parse_method_roles(const Item& it,
                          std::vector<std::pair<std::string, std::vector<std::string>>>& out);

  void parse_rbac(const Item& it, RbacConfig& r);

  // The entries of a `filters:` map that name a section of `security:` (auth, rbac, cors,
  // security_headers) or, on a route (route != null), its rate_limits or respond: parsed into
  // those and taken out of `specs`; those that give when/timeout/on_timeout go to `aliases`.
  // Giving both forms at one level is an error. *respond is set to a `filters.respond` entry.
  void take_filter_aliases(std::vector<FilterSpec>& specs, std::vector<FilterSpec>& aliases,
                           SecurityConfig& sec, RouteConfig* route, std::optional<Item>* respond);

  void parse_ip_rules(const Item& it, IpRulesConfig& r);

  // The policy is compiled here as the gateway will compile it; each value is first compiled
  // alone so that a problem is reported at its own list entry.
  void parse_cors(const Item& it, CorsConfig& c);

  // Checked by compiling each header alone, as the gateway will compile them, so that a problem
  // is reported at its key.
  void parse_security_headers(const Item& it, SecurityHeadersConfig& h);

  // Role names: no spaces or control bytes (a roles claim may be one space-separated string).
  std::vector<std::string> role_list(const Item& it);

  // References from `security` sections (top level and routes) to providers and credentials.
  // RouteConfig::security keeps only the route's own sections; the gateway falls back to
  // Config::security for the others.
  void finish_security(const Config& cfg);

  // --- what the sections record for each other: names seen, references for finish() --------------

  std::map<std::string, Mark> upstream_names_;
  std::map<std::string, Mark> route_names_;
  const RouteReuse* reuse_ = nullptr;
  std::vector<Item> upstream_refs_;
  std::vector<Item> cluster_policies_;         // scope: cluster nodes, checked against `redis`
  std::map<std::string, Mark> cert_subjects_;  // client certificate subject → where it was named
  std::vector<std::pair<bool, bool>> upstream_defaults_;  // {connect, response} take the default
  bool has_admin_address_ = false;
  Item admin_address_item_;
  std::map<std::string, Mark> consumer_names_;
  std::map<std::string, Mark> api_key_hashes_;  // canonical "sha256:<lower hex>"
  std::map<std::string, Mark> hmac_key_ids_;    // unique across consumers
  std::map<std::string, Mark> jwt_provider_names_;
  std::vector<Item> jwt_refs_;      // provider names in auth.jwt, checked in finish()
  std::vector<Item> api_key_refs_;  // `api_key` of auth sections that enable it
  std::vector<Item> hmac_refs_;     // `hmac` likewise
};

}  // namespace sluice::config
