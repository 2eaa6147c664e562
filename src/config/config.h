// The typed configuration of sluice, as parsed and validated from YAML by load_config_*().
// Every value has its default here; docs/configuration.md documents each key.
// Example:
//   LoadResult r = load_config_file("config/sluice.yaml");
//   if (!r.ok()) for (const ConfigError& e : r.errors) std::cerr << e.to_string() << "\n";
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/document.h"
#include "observe/webhooks.h"

namespace sluice::net {
class TlsServerContext;
class TlsClientContext;
}  // namespace sluice::net

namespace sluice::config {

// host:port, "[v6]:port" or ":port". host is stored without brackets.
struct Address {
  std::string host;
  uint16_t port = 0;
  std::string text;  // as written
};

// A listener's TLS termination (docs/configuration.md, "TLS"). The contexts are built when the
// config loads, so a snapshot carries certificates that were readable and valid at that moment.
struct TlsCertificateConfig {
  std::string cert;  // PEM chain, leaf first
  std::string key;
  std::vector<std::string> server_names;  // empty: the certificate's own names
};

struct ListenerTlsConfig {
  bool enabled = false;  // the tls: section is present
  std::vector<TlsCertificateConfig> certificates;
  std::string min_version = "1.2";  // "1.2" | "1.3"
  std::string ciphers;              // TLS 1.2, OpenSSL syntax; empty: OpenSSL's default
  std::string ciphersuites;         // TLS 1.3
  std::vector<std::string> alpn = {"http/1.1"};
  std::string client_ca;  // non-empty: ask for a client certificate (mTLS)
  bool require_client_cert = true;
  std::shared_ptr<const net::TlsServerContext> context;  // set when enabled and valid
};

struct ListenerConfig {
  Address address;
  ListenerTlsConfig tls;
  uint32_t max_connections = 0;  // open client connections at once, all workers; 0 = no limit
  Mark mark;
};

struct AdminConfig {
  bool enabled = false;  // true when the admin: section is present
  Address address;       // default 127.0.0.1:9901
  Mark mark;
  // Bearer tokens (read from token_file / read_only_token_file at load); "" = none. With a
  // token set, every admin endpoint but /healthz and /readyz needs one of them; the read-only
  // token may only read.
  std::string token;
  std::string read_only_token;
  // Where config versions are kept (""= next to the config file: "<file>.state").
  std::string state_dir;
  uint32_t history = 50;  // versions kept
};

struct TargetConfig {
  Address address;
  uint32_t weight = 1;
  Mark mark;
};

// Active health checks: an HTTP GET per target every interval, off the data path.
struct HealthCheckConfig {
  bool enabled = false;  // true when health_check: is present
  std::string path = "/healthz";
  std::string host;  // Host header; "" = the target's host:port
  uint64_t interval_ms = 5000;
  uint64_t timeout_ms = 1000;
  uint32_t healthy_threshold = 2;    // consecutive passes to become healthy
  uint32_t unhealthy_threshold = 3;  // consecutive failures to become unhealthy
  std::vector<std::pair<int, int>> expected_statuses{{200, 399}};  // inclusive ranges
};

// Passive health: ejection of targets that keep failing.
struct OutlierConfig {
  bool enabled = true;
  uint32_t consecutive_failures = 5;  // 5xx answers or connect failures in a row
  uint64_t base_ejection_ms = 30000;  // doubled with each repeated ejection
  uint64_t max_ejection_ms = 300000;
  uint32_t max_ejection_percent = 50;   // of the upstream's targets ejected at once
  bool uneject_on_health_check = true;  // a check passing after failing ends an ejection
};

struct BreakerConfig {
  bool enabled = false;  // true when breaker: is present
  uint32_t error_rate_percent = 50;
  uint32_t min_requests = 20;
  uint64_t window_ms = 10000;
  uint32_t consecutive_failures = 0;  // 0 = off
  uint64_t open_ms = 30000;
  uint32_t half_open_requests = 1;
  bool per_target = false;  // also one breaker per target
  // Envoy-style limits per upstream (all workers together); 0 = unlimited. Over them: 503.
  uint32_t max_connections = 0;
  uint32_t max_pending = 0;   // requests waiting for a connection to be established
  uint32_t max_requests = 0;  // requests in flight
};

// Where consistent_hash takes its key from.
struct HashKeyConfig {
  enum class Source : uint8_t { kClientIp, kHeader, kCookie, kPath, kQuery };
  Source source = Source::kClientIp;
  std::string name;  // header (lower-cased), cookie or query parameter name
};

struct StickyConfig {
  bool enabled = false;  // true when sticky: is present
  std::string cookie = "sluice_sticky";
  std::string secret;      // HMAC key; required
  uint64_t max_age_s = 0;  // 0 = session cookie
};

// TLS to an upstream's targets: verified against ca_file (or the system's CAs), SNI and the
// verified name are server_name or the target's host.
struct UpstreamTlsConfig {
  bool enabled = false;
  std::string ca_file;
  std::string server_name;
  bool verify = true;
  std::shared_ptr<const net::TlsClientContext> context;
};

struct UpstreamConfig {
  std::string name;
  UpstreamTlsConfig tls;
  std::vector<TargetConfig> targets;
  std::string balancer = "round_robin";  // round_robin | weighted_round_robin |
                                         // least_connections | p2c | consistent_hash | random
  HashKeyConfig hash_key;
  StickyConfig sticky;
  HealthCheckConfig health_check;
  OutlierConfig outlier;
  BreakerConfig breaker;
  uint64_t dns_refresh_ms = 30000;       // re-resolution of host-name targets
  uint32_t retry_budget_percent = 20;    // retries in flight at most this share of requests
  uint32_t retry_budget_min = 3;         // ...but always allow this many concurrent retries
  uint64_t connect_timeout_ms = 5000;    // upstream connect timeout; overrides timeouts.*
  uint64_t response_timeout_ms = 30000;  // time to the first response byte... and between reads
  uint64_t idle_timeout_ms = 60000;      // pooled idle connection lifetime
  uint32_t max_idle_per_worker = 64;     // pooled idle connections per target per worker
  Mark mark;
};

struct RespondConfig {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
};

// `mirror:` of a route: a copy of each (sampled) request goes to a shadow upstream; its answer is
// read and discarded, and the client never waits for it.
struct MirrorConfig {
  std::string upstream;
  Mark upstream_mark;
  uint32_t percent = 100;               // share of the route's requests mirrored
  uint64_t max_body_bytes = 64 * 1024;  // a request with a longer body is not mirrored
  std::optional<uint64_t> timeout_ms;   // for the shadow's answer; unset = its response_timeout
  uint32_t max_in_flight = 256;         // per worker; more are dropped (counted)
};

struct HeaderMatchConfig {
  std::string name;  // lower-cased
  std::string value;
};

struct RetryConfig {
  uint32_t attempts = 1;  // total tries, the first included; 1 = no retry
  // What may be retried.
  bool on_connect_failure = true;
  bool on_reset = true;    // connection reset or closed before the response head
  bool on_timeout = true;  // per-try timeout before the response head
  std::vector<int> on_statuses{502, 503, 504};
  uint64_t per_try_timeout_ms = 0;  // 0 = the route's response timeout
  uint64_t backoff_base_ms = 25;
  uint64_t backoff_max_ms = 250;
};

// --- Edge security (issue 5) ----------------------------------------------------------------

// A named identity that API keys and HMAC signatures authenticate; RBAC and rate limits use it.
struct ConsumerConfig {
  std::string name;
  std::vector<std::string> api_key_hashes;  // "sha256:<64 hex>" (sluice hash-key prints them)
  struct HmacKey {
    std::string key_id;
    std::string secret;  // the shared secret (inline, or read from secret_file at load)
  };
  std::vector<HmacKey> hmac_keys;
  std::vector<std::string> cert_subjects;  // verified client certificate subjects (RFC 2253)
  std::vector<std::string> roles;
  Mark mark;
};

// Where a token is looked for, in order.
struct TokenSource {
  enum class Kind : uint8_t { kBearer, kHeader, kCookie, kQuery };
  Kind kind = Kind::kBearer;  // kBearer: "Authorization: Bearer <token>"
  std::string name;           // header (lower-cased), cookie or query parameter name
};

// A JWT issuer: how its tokens are found, verified and mapped.
struct JwtProviderConfig {
  std::string name;
  std::vector<std::string> issuers;    // `iss` must be one of them (empty = not checked)
  std::vector<std::string> audiences;  // `aud` must contain one of them (empty = not checked)
  std::vector<std::string>
      algorithms;                     // allowed; empty = every asymmetric one (+ HS* with a secret)
  std::string jwks_url;               // http(s)://host:port/path, refreshed in the background
  std::string jwks_ca_file;           // https: PEM CAs to verify it with; empty: the system's
  uint64_t jwks_refresh_ms = 300000;  // when the response has no Cache-Control max-age
  uint64_t jwks_min_refresh_ms = 10000;  // an unknown kid refreshes at most this often
  struct Key {
    std::string pem;     // contents of pem_file (a public key or certificate)
    std::string secret;  // HMAC secret
    std::string kid;
    std::string alg;
  };
  std::vector<Key> keys;  // inline keys (with or instead of jwks_url)
  uint64_t clock_skew_s = 60;
  bool require_exp = true;
  std::vector<std::string> required_claims;
  std::string roles_claim = "roles";
  std::vector<TokenSource> from{TokenSource{}};                     // default: the bearer token
  std::vector<std::pair<std::string, std::string>> forward_claims;  // header (lower) → claim
  Mark mark;
};

// Which credentials a route accepts; the first kind whose credential is present decides.
struct AuthConfig {
  bool enabled = false;
  std::vector<std::string> jwt;  // provider names; several issuers allowed
  bool api_key = false;
  TokenSource api_key_from{TokenSource::Kind::kHeader, "x-api-key"};
  bool hmac = false;
  uint64_t hmac_window_s = 300;            // X-Date must be within this of now, both ways
  uint64_t hmac_max_body_bytes = 1 << 20;  // bodies are buffered up to this to check the digest
  std::vector<std::string> roles;          // RBAC: the consumer or token needs one of them
  std::vector<std::pair<std::string, std::vector<std::string>>> method_roles;  // per method
  bool client_cert = false;  // a verified TLS client certificate whose subject names a consumer
  bool optional = false;     // requests without any credential pass (but a bad one is refused)
  Mark mark;
};

struct IpRulesConfig {
  bool enabled = false;
  std::vector<std::string> allow;  // CIDRs; non-empty = only these
  std::vector<std::string> deny;   // CIDRs; deny wins
};

struct CorsConfig {
  bool enabled = false;
  std::vector<std::string> origins;  // exact, "*", or "https://*.example.com"
  std::vector<std::string> methods;
  std::vector<std::string> allowed_headers;
  std::vector<std::string> exposed_headers;
  bool credentials = false;
  uint64_t max_age_s = 600;
};

struct SecurityHeadersConfig {
  bool enabled = false;
  uint64_t hsts_max_age_s = 0;  // 0 = no Strict-Transport-Security
  bool hsts_include_subdomains = false;
  bool hsts_preload = false;
  bool content_type_nosniff = false;
  std::string frame_options;  // "" | "DENY" | "SAMEORIGIN"
  std::string referrer_policy;
  std::string content_security_policy;
  std::string permissions_policy;
  std::string server;  // "" = pass the upstream's through; "hide"; anything else replaces it
};

// The security filters of a route; `security:` at the top level is the default of every route,
// and a route's own section replaces it key by key (`auth: off` switches auth off on a route).
// RBAC on its own (`filters.rbac`); `auth.roles` and `auth.method_roles` are the older form.
struct RbacConfig {
  bool enabled = false;
  std::vector<std::string> roles;
  std::vector<std::pair<std::string, std::vector<std::string>>> method_roles;
  Mark mark;
};

// `security:`, and the `filters:` entries that name the same sections (auth, rbac, cors,
// security_headers; ip_rules is a filter of its own).
struct SecurityConfig {
  std::optional<AuthConfig> auth;
  std::optional<RbacConfig> rbac;
  std::optional<IpRulesConfig> ip_rules;
  std::optional<CorsConfig> cors;
  std::optional<SecurityHeadersConfig> headers;
};

// One rate-limit policy of a route.
struct RateLimitConfig {
  // kConsumer: the authenticated consumer (API key, HMAC, client certificate) or the JWT `sub`;
  // kJwtClaim: a string claim of the verified token (key_name).
  enum class Key : uint8_t { kClientIp, kHeader, kQuery, kRoute, kConsumer, kJwtClaim };
  std::string name;
  Key key = Key::kClientIp;
  std::string key_name;                    // header (lower-cased) or query parameter
  std::string algorithm = "token_bucket";  // token_bucket | sliding_window | fixed_window
  uint64_t limit = 0;
  uint64_t period_ms = 1000;
  uint64_t burst = 0;          // token bucket size; 0 = limit
  bool cluster = false;        // scope: cluster (shared through Redis) or local
  bool exact = false;          // cluster: a Redis round trip per request instead of leased batches
  uint64_t max_keys = 100000;  // local: keys kept (LRU beyond)
  Mark mark;
};

// One entry of a `filters:` map (top level: the default of every route; per route: replaces the
// default's entry of the same name, `off` removes it). The entry's own keys are parsed by the
// filter's factory when the snapshot is built (src/filter/chain.h), so the loader does not grow
// with each filter; errors still carry this entry's file, line and key.
struct FilterSpec {
  std::string name;
  Node node;         // its own subtree (Node::detach), not the whole file
  std::string path;  // "routes[2].filters.request_headers"
  Mark mark;         // of the value
  Mark key_mark;     // of the filter's name
  bool off = false;
};

// A part most values do not have, kept out of line: an absent one costs a pointer (a route's
// `security` is 600 bytes inline, and a config may have 100,000 routes). Reads of an absent
// one see a default T. Copies are deep.
template <typename T>
class OutOfLine {
 public:
  OutOfLine() = default;
  OutOfLine(const OutOfLine& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  OutOfLine& operator=(const OutOfLine& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  OutOfLine(OutOfLine&&) noexcept = default;
  OutOfLine& operator=(OutOfLine&&) noexcept = default;
  ~OutOfLine() = default;
  explicit OutOfLine(T value) : p_(std::make_unique<T>(std::move(value))) {}

  const T& operator*() const { return p_ ? *p_ : empty(); }
  const T* operator->() const { return &**this; }
  bool present() const { return p_ != nullptr; }

 private:
  static const T& empty() {
    static const T e{};
    return e;
  }
  std::unique_ptr<T> p_;
};

struct RouteConfig {
  std::string name;
  Mark mark;
  // match:
  std::string path;  // required; pattern syntax of the router
  Mark path_mark;
  std::vector<std::string> methods;  // upper-case tokens; empty = any
  std::string host;                  // lower-cased; "" = any, "*.example.com" wildcard
  std::vector<HeaderMatchConfig> headers;
  int priority = 0;
  // action: exactly one of upstream / respond
  std::string upstream;
  Mark upstream_mark;
  std::optional<RespondConfig> respond;
  std::string strip_prefix;                // removed from the start of the upstream path if present
  std::string rewrite_prefix;              // replaces strip_prefix (or is prepended); "" = none
  std::optional<uint64_t> max_body_bytes;  // per route 413 limit; unset = limits.max_body_bytes
  std::optional<uint64_t> timeout_ms;      // total time for all tries of a request
  std::vector<RateLimitConfig> rate_limits;
  OutOfLine<SecurityConfig> security;  // absent when the route has no security of its own
  RetryConfig retry;
  std::optional<MirrorConfig> mirror;
  std::vector<FilterSpec> filters;  // in document order; `mock:` at the route is filters.mock
  // The entries that name an older section (filters.auth, .rbac, .cors, .security_headers,
  // .rate_limit, .respond) and give when/timeout/on_timeout: only those keys are read from them.
  std::vector<FilterSpec> filter_aliases;
  // Digest of the route's node (config::fingerprint): with Config::context_fingerprint, what
  // says two routes compile alike. 0: none (never reused).
  uint64_t fingerprint = 0;
  // >= 0: the route is the one compiled at this index of the snapshot in force (RouteReuse),
  // and nothing but name, mark and fingerprint was read; the builders take it from there.
  int32_t reuse = -1;
};

// What the snapshot in force compiled, for a reload that changes a few routes of many: a route
// whose node has a fingerprint listed here, in a config whose rest has the same fingerprint, is
// not read again (its RouteConfig has only name, mark, fingerprint and reuse). It was valid in
// that context, so reading it again would find the same thing; the checks across routes
// (duplicate names, the router's) still see it.
struct RouteReuse {
  uint64_t context = 0;                             // Config::context_fingerprint
  std::unordered_map<uint64_t, uint32_t> by_route;  // route fingerprint -> index in force
};

struct LimitsConfig {
  uint64_t max_header_bytes = 64 * 1024;  // request line + headers (431)
  uint32_t max_headers = 100;             // (431)
  uint64_t max_uri_bytes = 8 * 1024;      // (414)
  uint64_t max_body_bytes = 0;            // default per-route body limit, 0 = unlimited (413)
  std::string headers_with_underscores = "drop";  // allow | drop | reject (400)
  uint32_t max_connections_per_client = 0;        // per client IP, all listeners; 0 = no limit
  uint64_t memory_budget = 0;  // resident set above which new connections get 503; 0 = none
};

struct TimeoutsConfig {
  uint64_t client_header_ms = 10000;      // whole request head must arrive in this time (408)
  uint64_t client_body_ms = 60000;        // max time between two reads of a request body
  uint64_t client_send_ms = 60000;        // max time without progress writing to the client
  uint64_t idle_ms = 60000;               // keep-alive idle connection
  uint64_t upstream_connect_ms = 5000;    // default for upstreams
  uint64_t upstream_response_ms = 30000;  // default for upstreams
  uint64_t drain_ms = 15000;              // graceful shutdown
};

// Resolution of host-name targets.
struct DnsConfig {
  std::vector<std::string> servers;  // "IP:port"; empty = the system's resolv.conf
  uint64_t timeout_ms = 2000;
};

// OpenTelemetry tracing: spans exported by OTLP/HTTP (protobuf) to a collector.
struct TracingConfig {
  bool enabled = false;  // a `tracing:` section with an endpoint
  std::string endpoint;  // as written: "http://host:port/path"
  std::string host;      // parsed from endpoint
  uint16_t port = 4318;
  std::string path = "/v1/traces";
  double sample_ratio = 0.01;        // head sampling of new traces, 0..1
  bool always_sample_errors = true;  // also export unsampled requests that end in 5xx or fail
  bool respect_parent = true;        // a valid incoming traceparent's sampled flag decides
  std::string service_name = "sluice";
  uint64_t flush_interval_ms = 1000;
  uint32_t max_batch = 512;    // spans per export request
  uint32_t queue_size = 8192;  // spans buffered per worker before drops (restart to change)
  uint64_t timeout_ms = 5000;  // per export request
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every export
};

// `events:`: the event stream of GET /api/v1/events and its webhooks (observe/webhooks.h: where
// events are also POSTed, one JSON object per request).
struct EventsConfig {
  uint32_t history = 1000;  // events held for clients that reconnect with Last-Event-ID
  std::vector<observe::WebhookTarget> webhooks;
};

// The Redis server that cluster-scope rate limits share.
struct RedisConfig {
  bool enabled = false;
  std::string host;  // an IP literal (each worker connects without a blocking DNS lookup)
  uint16_t port = 6379;
  std::string password;
  int db = 0;
  uint64_t connect_timeout_ms = 500;
  uint64_t command_timeout_ms = 200;
  bool fail_open = true;  // on_error: allow (true) or deny (false)
  std::string key_prefix = "sluice:rl:";
};

// Where the client address comes from.
struct ClientIpConfig {
  std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-For is believed
};

// Per-route request counters and latency histograms (connection, upstream and process metrics
// are always kept: they cost nothing per request).
struct MetricsConfig {
  bool enabled = true;
};

// One line per request, written by a background thread.
struct AccessLogConfig {
  bool enabled = false;
  std::string path;                 // "-" = stdout
  std::string format = "json";      // "json" or a template with $variables
  uint64_t buffer_bytes = 1 << 20;  // per worker (restart to change)
};

// `config_source: {etcd: {endpoints, prefix, timeout}}`: routes, upstreams, consumers and JWT
// providers shared by a fleet through etcd (proxy/etcd_sync.h), added to the file's or replacing
// its objects of the same name. Needs a restart to change.
struct EtcdSourceConfig {
  bool enabled = false;
  std::vector<Address> endpoints;   // default 127.0.0.1:2379
  std::string prefix = "/sluice/";  // always ends with '/'
  uint64_t timeout_ms = 2000;       // one read or write
};

// `reload:` how the config's files are watched: with watch, a change to any of them (the
// --config files and what they include) reloads the config after `debounce` without a change.
struct ReloadConfig {
  bool watch = false;
  uint64_t debounce_ms = 200;
};

struct Config {
  int workers = 0;  // 0 = one per core
  MetricsConfig metrics;
  RedisConfig redis;
  ClientIpConfig client_ip;
  std::vector<ConsumerConfig> consumers;
  std::vector<JwtProviderConfig> jwt_providers;
  SecurityConfig security;                 // defaults of every route
  std::vector<FilterSpec> filters;         // `filters:` defaults of every route
  std::vector<FilterSpec> filter_aliases;  // as RouteConfig::filter_aliases
  TracingConfig tracing;
  AccessLogConfig access_log;
  EventsConfig events;
  EtcdSourceConfig etcd;  // config_source.etcd
  DnsConfig dns;
  std::vector<ListenerConfig> listeners;
  AdminConfig admin;
  std::vector<UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;
  LimitsConfig limits;
  TimeoutsConfig timeouts;
  ReloadConfig reload;
  std::string source_file;  // path it was loaded from (the first of several files)
  // Every file it was made of, in the order read: Mark::source indexes it (empty: source_file).
  std::vector<std::string> source_files;
  // Hex SHA-256 of the text it was loaded from; of a config made of files (config/sources.h):
  // of those files' bytes, or of every file and every substituted value.
  std::string hash;
  // Digest of everything but `routes` (what a route's compilation may depend on).
  uint64_t context_fingerprint = 0;

  // The file a mark is in.
  const std::string& file_of(Mark m) const {
    return m.source < source_files.size() ? source_files[m.source] : source_file;
  }
};

struct ConfigError {
  std::string file;
  Mark mark;
  std::string key;  // dotted key path, e.g. "routes[1].match.path"
  std::string message;
  // "FILE:LINE:COL: key.path: message"
  std::string to_string() const;
};

struct LoadResult {
  std::optional<Config> config;  // set only when errors is empty
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty() && config.has_value(); }
};

LoadResult load_config_file(const std::string& path);
// reuse (here and below): what the snapshot in force compiled, or null (read every route).
LoadResult load_config_string(const std::string& yaml, const std::string& file_name,
                              const RouteReuse* reuse = nullptr);
// The schema walk over a document already parsed (config/sources.h merges several files into
// one): errors name files[mark.source]; the config gets `files` and `hash`.
LoadResult load_config_tree(const Node& root, std::vector<std::string> files, std::string hash,
                            const RouteReuse* reuse = nullptr);
// The bytes of a config file (at most 64 MiB); an error naming the file when it cannot be read.
std::optional<ConfigError> read_config_file(const std::string& path, std::string* bytes);
// Hex SHA-256 (Config::hash is this of the loaded text).
std::string sha256_hex(std::string_view bytes);

// Parsers for scalar syntaxes, exposed for tests: "250ms", "10s", "5m", "1h", "365d", or plain
// milliseconds; "64KiB", "1MiB", "1GiB", "512KB", or plain bytes.
std::optional<uint64_t> parse_duration_ms(std::string_view text);
std::optional<uint64_t> parse_size_bytes(std::string_view text);
std::optional<Address> parse_address(const std::string& text);

}  // namespace sluice::config
