// load_config_file / load_config_string: YAML -> Config, with every error collected (file, line,
// column, key path) instead of stopping at the first one.
//
// The walk is driven by the schema, never by the document: only known keys are visited, so
// anchors, aliases and odd nesting cannot make it recurse or loop. Values are read from scalar
// text with our own strict parsers (no YAML::as<>), so "1_000" or "0x10" are errors, not numbers.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "auth/api_key.h"
#include "auth/cidr.h"
#include "auth/cors.h"
#include "auth/jwk.h"
#include "auth/jwks_fetcher.h"
#include "auth/jwt.h"
#include "auth/security_headers.h"
#include "config/config.h"
#include "config/reader.h"
#include "config/scalars.h"
#include "http/method.h"
#include "net/tls.h"
#include "observe/access_log.h"
#include "observe/otlp_exporter.h"
#include "router/router.h"

namespace sluice::config {

std::string ConfigError::to_string() const {
  std::string out = file;
  if (mark.line > 0) {
    out += ':';
    out += std::to_string(mark.line);
    out += ':';
    out += std::to_string(mark.col);
  }
  out += ": ";
  if (!key.empty()) {
    out += key;
    out += ": ";
  }
  out += message;
  return out;
}

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kMaxHeaderBytes = 16 * kMiB;
constexpr size_t kMaxFileBytes = 64 * kMiB;
constexpr int kMaxWorkers = 256;
constexpr int64_t kMaxHeaders = 10000;
constexpr int64_t kMaxWeight = 1000;
constexpr int64_t kMaxIdlePerWorker = 100000;
constexpr int64_t kMaxPriority = 1000000;
constexpr int64_t kMaxThreshold = 1000;    // health check pass/fail streaks
constexpr int64_t kMaxCount = 1000000000;  // failure counts, request counts, limits
constexpr uint64_t kMinBreakerWindowMs = 100;
constexpr size_t kMinStickySecretBytes = 16;
constexpr int64_t kMaxRetryAttempts = 10;
constexpr int kMinStatus = 100;
constexpr int kMaxStatus = 599;
constexpr size_t kMinHmacSecretBytes = 16;
constexpr uint64_t kMaxHmacBodyBytes = kMiB * 1024;  // 1GiB
constexpr uint64_t kDefaultHstsMaxAgeS = 31536000;   // one year

constexpr std::string_view kBalancers[] = {
    "round_robin", "weighted_round_robin", "least_connections", "p2c", "consistent_hash", "random"};
constexpr std::string_view kRetryKeywords[] = {"connect_failure", "reset", "timeout"};
constexpr std::string_view kJwtAlgorithms[] = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                               "RS512", "PS256", "PS384", "PS512", "ES256",
                                               "ES384", "ES512", "EdDSA"};

std::string sha256_hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

// Whether a public key can verify `alg` (RS and PS: RSA; ES256/384/512: the P-256/384/521
// curve; EdDSA: Ed25519), so that a key that could never verify a token fails the load.
bool alg_fits(const auth::Jwk& key, std::string_view alg) {
  using auth::Curve;
  using auth::KeyType;
  if (alg.starts_with("RS") || alg.starts_with("PS")) return key.kty() == KeyType::kRsa;
  if (alg == "ES256") return key.kty() == KeyType::kEc && key.curve() == Curve::kP256;
  if (alg == "ES384") return key.kty() == KeyType::kEc && key.curve() == Curve::kP384;
  if (alg == "ES512") return key.kty() == KeyType::kEc && key.curve() == Curve::kP521;
  if (alg == "EdDSA") return key.kty() == KeyType::kOkp;
  return false;
}

std::string key_kind(const auth::Jwk& key) {
  switch (key.kty()) {
    case auth::KeyType::kRsa:
      return "an RSA key";
    case auth::KeyType::kEc:
      return key.curve() == auth::Curve::kP256   ? "an EC P-256 key"
             : key.curve() == auth::Curve::kP384 ? "an EC P-384 key"
                                                 : "an EC P-521 key";
    case auth::KeyType::kOkp:
      return "an Ed25519 key";
    case auth::KeyType::kOct:
      break;
  }
  return "a secret";
}

class Parser : public Reader {
 public:
  explicit Parser(std::string file) : Reader(std::move(file)) {}

  void parse(const Item& root, Config& cfg) {
    std::optional<MapItem> m =
        map(root, {"workers", "dns", "listeners", "admin", "limits", "timeouts", "upstreams",
                   "routes", "metrics", "tracing", "access_log", "redis", "client_ip", "consumers",
                   "jwt_providers", "security", "filters"});
    if (!m) return;
    if (const Item* w = m->get("workers")) {
      if (std::optional<int64_t> v = integer(*w, 0, kMaxWorkers))
        cfg.workers = static_cast<int>(*v);
    }
    if (const Item* d = m->get("dns")) parse_dns(*d, cfg.dns);
    if (const Item* l = require(*m, "listeners")) parse_listeners(*l, cfg);
    if (const Item* a = m->get("admin")) parse_admin(*a, cfg);
    if (const Item* l = m->get("limits")) parse_limits(*l, cfg.limits);
    if (const Item* t = m->get("timeouts")) parse_timeouts(*t, cfg.timeouts);
    if (const Item* mc = m->get("metrics")) {
      if (std::optional<MapItem> mm = map(*mc, {"enabled"})) {
        if (const Item* e = mm->get("enabled")) {
          if (auto b = boolean(*e)) cfg.metrics.enabled = *b;
        }
      }
    }
    if (const Item* r = m->get("redis")) parse_redis(*r, cfg.redis);
    if (const Item* c = m->get("client_ip")) parse_client_ip(*c, cfg.client_ip);
    if (const Item* t = m->get("tracing")) parse_tracing(*t, cfg.tracing);
    if (const Item* a = m->get("access_log")) parse_access_log(*a, cfg.access_log);
    if (const Item* c = m->get("consumers")) parse_consumers(*c, cfg);
    if (const Item* j = m->get("jwt_providers")) parse_jwt_providers(*j, cfg);
    if (const Item* s = m->get("security")) parse_security(*s, cfg.security);
    if (const Item* f = m->get("filters")) parse_filters(*f, cfg.filters);
    if (const Item* u = m->get("upstreams")) parse_upstreams(*u, cfg);
    if (const Item* r = m->get("routes")) parse_routes(*r, cfg);
    finish(cfg);
  }

 private:
  // --- generic shapes -------------------------------------------------------------------------

  // --- sections -------------------------------------------------------------------------------

  void parse_listeners(const Item& it, Config& cfg) {
    std::optional<std::vector<Item>> items = list(it);
    if (!items) return;
    if (items->empty()) error(it.mark, it.path, "at least one listener is required");
    for (const Item& e : *items) {
      std::optional<MapItem> m = map(e, {"address", "tls"});
      if (!m) continue;
      ListenerConfig l;
      l.mark = e.mark;
      const Item* a = require(*m, "address");
      if (!a) continue;
      std::optional<Address> addr = address(*a, true);
      if (!addr) continue;
      l.address = std::move(*addr);
      for (const ListenerConfig& prev : cfg.listeners) {
        if (prev.address.host == l.address.host && prev.address.port == l.address.port) {
          error(a->mark, a->path,
                "duplicate listener address " + quote(l.address.text) + " (first defined at line " +
                    std::to_string(prev.mark.line) + ")");
          break;
        }
      }
      if (const Item* t = m->get("tls")) parse_listener_tls(*t, l.tls);
      cfg.listeners.push_back(std::move(l));
    }
  }

  // Reports a TLS context's problems at their keys under `t` (files are read here, so a
  // certificate that cannot be loaded fails the load and a reload keeps the running config).
  void tls_errors(const Item& t, const MapItem& m, const std::vector<net::TlsError>& errors) {
    for (const net::TlsError& e : errors) {
      // "certificates[1].key" → the mark of the certificates list (or of the tls map).
      const std::string top = e.key.substr(0, e.key.find_first_of(".["));
      const Item* at = top.empty() ? nullptr : m.get(top);
      error(at != nullptr ? at->mark : t.mark, e.key.empty() ? t.path : join(t.path, e.key),
            e.message);
    }
  }

  void parse_listener_tls(const Item& t, ListenerTlsConfig& tls) {
    std::optional<MapItem> m = map(t, {"certificates", "min_version", "ciphers", "ciphersuites",
                                       "alpn", "client_ca", "require_client_cert"});
    if (!m) return;
    tls.enabled = true;
    const size_t errors_before = errors_.size();
    if (const Item* c = require(*m, "certificates")) {
      if (std::optional<std::vector<Item>> items = list(*c)) {
        if (items->empty()) error(c->mark, c->path, "at least one certificate is required");
        for (const Item& e : *items) {
          std::optional<MapItem> cm = map(e, {"cert", "key", "server_names"});
          if (!cm) continue;
          TlsCertificateConfig cc;
          if (const Item* v = require(*cm, "cert")) {
            if (auto s = string(*v)) cc.cert = std::move(*s);
          }
          if (const Item* v = require(*cm, "key")) {
            if (auto s = string(*v)) cc.key = std::move(*s);
          }
          if (const Item* v = cm->get("server_names")) {
            if (auto names = strings(*v)) cc.server_names = std::move(*names);
          }
          tls.certificates.push_back(std::move(cc));
        }
      }
    }
    if (const Item* v = m->get("min_version")) {
      if (auto s = string(*v)) {
        if (net::tls_version_from_text(*s) == 0) {
          error(v->mark, v->path, "expected \"1.2\" or \"1.3\", got " + quote(*s));
        }
        tls.min_version = std::move(*s);
      }
    }
    if (const Item* v = m->get("ciphers")) {
      if (auto s = string(*v)) tls.ciphers = std::move(*s);
    }
    if (const Item* v = m->get("ciphersuites")) {
      if (auto s = string(*v)) tls.ciphersuites = std::move(*s);
    }
    if (const Item* v = m->get("alpn")) {
      if (auto names = strings(*v)) {
        for (const std::string& n : *names) {
          // h2 joins once the h2 codec exists; until then only what the server speaks.
          if (n != "http/1.1") {
            error(v->mark, v->path, "only \"http/1.1\" is supported, got " + quote(n));
          }
        }
        tls.alpn = std::move(*names);
      }
    }
    if (const Item* v = m->get("client_ca")) {
      if (auto s = string(*v)) tls.client_ca = std::move(*s);
    }
    if (const Item* v = m->get("require_client_cert")) {
      if (auto b = boolean(*v)) tls.require_client_cert = *b;
    }
    if (errors_.size() != errors_before) return;
    net::TlsServerOptions o;
    for (const TlsCertificateConfig& c : tls.certificates) {
      o.certificates.push_back({c.cert, c.key, c.server_names});
    }
    o.min_version = net::tls_version_from_text(tls.min_version);
    o.ciphers = tls.ciphers;
    o.ciphersuites = tls.ciphersuites;
    o.alpn = tls.alpn;
    o.client_ca = tls.client_ca;
    o.require_client_cert = tls.require_client_cert;
    std::vector<net::TlsError> errors;
    tls.context = net::TlsServerContext::create(o, &errors);
    tls_errors(t, *m, errors);
  }

  void parse_upstream_tls(const Item& t, UpstreamTlsConfig& tls) {
    std::optional<MapItem> m = map(t, {"ca_file", "server_name", "verify"});
    if (!m) return;
    tls.enabled = true;
    const size_t errors_before = errors_.size();
    if (const Item* v = m->get("ca_file")) {
      if (auto s = string(*v)) tls.ca_file = std::move(*s);
    }
    if (const Item* v = m->get("server_name")) {
      if (auto s = string(*v)) tls.server_name = std::move(*s);
    }
    if (const Item* v = m->get("verify")) {
      if (auto b = boolean(*v)) tls.verify = *b;
    }
    if (errors_.size() != errors_before) return;
    net::TlsClientOptions o;
    o.ca_file = tls.ca_file;
    o.server_name = tls.server_name;
    o.verify = tls.verify;
    std::vector<net::TlsError> errors;
    tls.context = net::TlsClientContext::create(o, &errors);
    tls_errors(t, *m, errors);
  }

  // The servers that resolve host-name targets: IP literals, with a port or not (53).
  void parse_dns(const Item& it, DnsConfig& d) {
    std::optional<MapItem> m = map(it, {"servers", "timeout"});
    if (!m) return;
    if (const Item* v = m->get("servers")) {
      for (const Item& e : list_or_one(*v)) {
        std::optional<std::string> s = string(e);
        if (!s) continue;
        const std::string_view text = *s;
        bool ok = is_ip_literal(text);
        if (!ok && text.size() > 2 && text.front() == '[' && text.back() == ']') {
          ok = is_ip_literal(text.substr(1, text.size() - 2));
        }
        if (!ok) {
          const std::optional<Address> a = parse_address(*s);
          ok = a && is_ip_literal(a->host);
        }
        if (!ok) {
          error(e.mark, e.path,
                "invalid DNS server " + quote(*s) + ": expected IP, IP:port or [IPv6]:port");
          continue;
        }
        d.servers.push_back(std::move(*s));
      }
    }
    if (const Item* v = m->get("timeout")) {
      if (auto t = duration(*v)) d.timeout_ms = *t;
    }
  }

  void parse_admin(const Item& it, Config& cfg) {
    std::optional<MapItem> m = map(it, {"address"});
    if (!m) return;
    cfg.admin.enabled = true;
    cfg.admin.mark = it.mark;
    if (const Item* a = require(*m, "address")) {
      if (std::optional<Address> addr = address(*a, true)) {
        cfg.admin.address = std::move(*addr);
        admin_address_item_ = *a;
        has_admin_address_ = true;
      }
    }
  }

  void parse_limits(const Item& it, LimitsConfig& l) {
    std::optional<MapItem> m =
        map(it, {"max_header_bytes", "max_headers", "max_uri_bytes", "max_body_bytes"});
    if (!m) return;
    if (const Item* v = m->get("max_header_bytes")) {
      if (auto s = size(*v, 1, kMaxHeaderBytes, "from 1 to 16MiB")) l.max_header_bytes = *s;
    }
    if (const Item* v = m->get("max_headers")) {
      if (auto n = integer(*v, 1, kMaxHeaders)) l.max_headers = static_cast<uint32_t>(*n);
    }
    if (const Item* v = m->get("max_uri_bytes")) {
      if (auto s = size(*v, 1, kMaxHeaderBytes, "from 1 to 16MiB")) l.max_uri_bytes = *s;
    }
    if (const Item* v = m->get("max_body_bytes")) {
      if (auto s = size(*v, 0, std::numeric_limits<uint64_t>::max(), "")) l.max_body_bytes = *s;
    }
  }

  void parse_timeouts(const Item& it, TimeoutsConfig& t) {
    std::optional<MapItem> m = map(it, {"client_header", "client_body", "idle", "upstream_connect",
                                        "upstream_response", "drain"});
    if (!m) return;
    const std::pair<const char*, uint64_t*> fields[] = {
        {"client_header", &t.client_header_ms},
        {"client_body", &t.client_body_ms},
        {"idle", &t.idle_ms},
        {"upstream_connect", &t.upstream_connect_ms},
        {"upstream_response", &t.upstream_response_ms},
        {"drain", &t.drain_ms},
    };
    for (const auto& [key, out] : fields) {
      if (const Item* v = m->get(key)) {
        if (auto d = duration(*v)) *out = *d;
      }
    }
  }

  void parse_redis(const Item& it, RedisConfig& r) {
    std::optional<MapItem> m = map(it, {"address", "password", "db", "connect_timeout",
                                        "command_timeout", "on_error", "key_prefix"});
    if (!m) return;
    if (const Item* a = require(*m, "address")) {
      if (std::optional<Address> addr = address(*a, false)) {
        if (addr->host == "localhost") addr->host = "127.0.0.1";
        if (!is_ip_literal(addr->host)) {
          error(a->mark, a->path,
                "expected an IP address and port, got " + quote(addr->text) +
                    " (workers connect without a blocking DNS lookup)");
        } else {
          r.host = addr->host;
          r.port = addr->port;
          r.enabled = true;
        }
      }
    }
    if (const Item* v = m->get("password")) {
      if (auto s = string(*v)) r.password = std::move(*s);
    }
    if (const Item* v = m->get("db")) {
      if (auto n = integer(*v, 0, 1 << 20)) r.db = static_cast<int>(*n);
    }
    if (const Item* v = m->get("connect_timeout")) {
      if (auto d = duration(*v)) r.connect_timeout_ms = *d;
    }
    if (const Item* v = m->get("command_timeout")) {
      if (auto d = duration(*v)) r.command_timeout_ms = *d;
    }
    if (const Item* v = m->get("on_error")) {
      static constexpr std::array<std::string_view, 2> kModes = {"allow", "deny"};
      if (auto s = one_of(*v, kModes, "on_error")) r.fail_open = *s == "allow";
    }
    if (const Item* v = m->get("key_prefix")) {
      if (auto s = string(*v)) r.key_prefix = std::move(*s);
    }
    redis_item_ = it;
  }

  void parse_client_ip(const Item& it, ClientIpConfig& c) {
    std::optional<MapItem> m = map(it, {"trusted_proxies"});
    if (!m) return;
    if (const Item* t = m->get("trusted_proxies")) {
      for (const Item& e : list_or_one(*t)) {
        std::optional<std::string> s = string(e);
        if (!s) continue;
        auth::CidrSet probe;
        std::string why;
        if (!probe.add(*s, &why)) {
          error(e.mark, e.path, why);
          continue;
        }
        c.trusted_proxies.push_back(std::move(*s));
      }
    }
  }

  void parse_rate_limits(const Item& it, RouteConfig& r) {
    std::optional<std::vector<Item>> items = list(it);
    if (!items) return;
    std::map<std::string, Mark> names;
    for (const Item& e : *items) {
      std::optional<MapItem> m = map(e, {"name", "key", "algorithm", "limit", "period", "burst",
                                         "scope", "exact", "max_keys"});
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

  void parse_tracing(const Item& it, TracingConfig& t) {
    std::optional<MapItem> m = map(
        it, {"endpoint", "sample_ratio", "always_sample_errors", "respect_parent", "service_name",
             "flush_interval", "max_batch", "queue_size", "timeout", "headers"});
    if (!m) return;
    if (const Item* e = require(*m, "endpoint")) {
      if (std::optional<std::string> url = string(*e)) {
        std::string why;
        if (observe::parse_otlp_endpoint(*url, &t.host, &t.port, &t.path, &why)) {
          t.endpoint = *url;
          t.enabled = true;
        } else {
          error(e->mark, e->path, why);
        }
      }
    }
    if (const Item* v = m->get("sample_ratio")) {
      if (auto r = ratio(*v)) t.sample_ratio = *r;
    }
    if (const Item* v = m->get("always_sample_errors")) {
      if (auto b = boolean(*v)) t.always_sample_errors = *b;
    }
    if (const Item* v = m->get("respect_parent")) {
      if (auto b = boolean(*v)) t.respect_parent = *b;
    }
    if (const Item* v = m->get("service_name")) {
      if (auto n = string(*v)) {
        if (n->empty()) error(v->mark, v->path, "must not be empty");
        t.service_name = std::move(*n);
      }
    }
    if (const Item* v = m->get("flush_interval")) {
      if (auto d = duration(*v)) t.flush_interval_ms = *d;
    }
    if (const Item* v = m->get("timeout")) {
      if (auto d = duration(*v)) t.timeout_ms = *d;
    }
    if (const Item* v = m->get("max_batch")) {
      if (auto n = integer(*v, 1, 100000)) t.max_batch = static_cast<uint32_t>(*n);
    }
    if (const Item* v = m->get("queue_size")) {
      if (auto n = integer(*v, 1, 1 << 20)) t.queue_size = static_cast<uint32_t>(*n);
    }
    if (const Item* h = m->get("headers")) t.headers = headers(*h);
  }

  void parse_access_log(const Item& it, AccessLogConfig& a) {
    std::optional<MapItem> m = map(it, {"path", "format", "buffer_size"});
    if (!m) return;
    if (const Item* p = require(*m, "path")) {
      if (auto s = string(*p)) {
        if (s->empty()) {
          error(p->mark, p->path, "must name a file, or \"-\" for standard output");
        } else {
          a.path = std::move(*s);
          a.enabled = true;
        }
      }
    }
    if (const Item* f = m->get("format")) {
      if (auto s = string(*f)) {
        std::string why;
        if (!observe::AccessLogFormat::compile(*s, &why)) {
          error(f->mark, f->path, why);
        } else {
          a.format = std::move(*s);
        }
      }
    }
    if (const Item* v = m->get("buffer_size")) {
      if (auto b = size(*v, 4096, uint64_t{1} << 30, "from 4KiB to 1GiB")) a.buffer_bytes = *b;
    }
  }

  void parse_upstreams(const Item& it, Config& cfg) {
    std::optional<std::vector<Item>> items = list(it);
    if (!items) return;
    for (const Item& e : *items) {
      std::optional<MapItem> m =
          map(e, {"name", "targets", "connect_timeout", "response_timeout", "idle_timeout",
                  "max_idle_per_worker", "balancer", "hash_key", "sticky", "health_check",
                  "outlier", "breaker", "dns_refresh", "retry_budget", "tls"});
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

  // client_ip | header:NAME | cookie:NAME | path | query:NAME. Checked whatever the balancer,
  // though only consistent_hash uses it.
  void parse_hash_key(const Item& it, HashKeyConfig& h) {
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

  void parse_sticky(const Item& it, StickyConfig& st) {
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
                "max_age must be a whole number of seconds, got " + quote(v->node.Scalar()));
        } else {
          st.max_age_s = *d / 1000;
        }
      }
    }
  }

  void parse_health_check(const Item& it, HealthCheckConfig& h) {
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
        const bool ok = host->empty() || is_host_name(*host) ||
                        ((a = parse_address(*host)) && !a->host.empty());
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
      if (items.empty() && (v->node.IsNull() || v->node.IsSequence())) {
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

  // 304 or "200-299", within 100..599.
  std::optional<std::pair<int, int>> status_range(const Item& it) {
    const std::string expected = "expected a status from " + std::to_string(kMinStatus) + " to " +
                                 std::to_string(kMaxStatus) + " or a range like 200-299, got ";
    if (!it.node.IsScalar()) {
      error(it.mark, it.path, expected + describe(it.node));
      return std::nullopt;
    }
    const std::string& s = it.node.Scalar();
    const std::optional<std::pair<int, int>> r = parse_status_range(s);
    if (!r || r->first < kMinStatus || r->second > kMaxStatus || r->first > kMaxStatus ||
        r->second < kMinStatus) {
      error(it.mark, it.path, expected + quote(s));
      return std::nullopt;
    }
    if (r->first > r->second) {
      error(it.mark, it.path,
            "empty status range " + quote(s) + ": " + std::to_string(r->first) +
                " is greater than " + std::to_string(r->second));
      return std::nullopt;
    }
    return r;
  }

  // A map, or `off` (also `false`) for no outlier ejection.
  void parse_outlier(const Item& it, OutlierConfig& o) {
    if (it.node.IsScalar()) {
      const std::string& s = it.node.Scalar();
      if (s == "off" || s == "false") {
        o.enabled = false;
      } else {
        error(it.mark, it.path, "expected a map or 'off', got " + quote(s));
      }
      return;
    }
    if (it.node.IsSequence()) {
      error(it.mark, it.path, "expected a map or 'off', got a list");
      return;
    }
    std::optional<MapItem> m = map(it, {"enabled", "consecutive_failures", "base_ejection",
                                        "max_ejection", "max_ejection_percent"});
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
  }

  void parse_breaker(const Item& it, BreakerConfig& b) {
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
                    quote(v->node.Scalar()));
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

  void parse_retry_budget(const Item& it, UpstreamConfig& u) {
    std::optional<MapItem> m = map(it, {"percent", "min_concurrent"});
    if (!m) return;
    if (const Item* v = m->get("percent")) {
      if (auto p = percent(*v, 0, 100)) u.retry_budget_percent = *p;
    }
    if (const Item* v = m->get("min_concurrent")) {
      if (auto n = integer(*v, 0, kMaxCount)) u.retry_budget_min = static_cast<uint32_t>(*n);
    }
  }

  void parse_targets(const Item& it, UpstreamConfig& u) {
    std::optional<std::vector<Item>> items = list(it);
    if (!items) return;
    if (items->empty()) error(it.mark, it.path, "an upstream needs at least one target");
    for (const Item& e : *items) {
      TargetConfig t;
      t.mark = e.mark;
      const Item* addr_item = &e;
      std::optional<MapItem> m;
      if (!e.node.IsScalar()) {
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

  void parse_routes(const Item& it, Config& cfg) {
    std::optional<std::vector<Item>> items = list(it);
    if (!items) return;
    for (const Item& e : *items) {
      std::optional<MapItem> m = map(
          e, {"name", "match", "priority", "upstream", "respond", "strip_prefix", "rewrite_prefix",
              "max_body_bytes", "timeout", "retry", "rate_limits", "security", "filters", "mock"});
      if (!m) continue;
      RouteConfig r;
      r.mark = e.mark;
      r.name = unique_name(*m, "name", "route name", route_names_, false);
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
      if (const Item* f = m->get("filters")) parse_filters(*f, r.filters);
      // A route answered by its mock filter needs no upstream.
      const Item* mock = m->get("mock");
      if (mock != nullptr) {
        if (std::any_of(r.filters.begin(), r.filters.end(),
                        [](const FilterSpec& f) { return f.name == "mock"; })) {
          error(mock->mark, mock->path, "give 'mock' or 'filters.mock', not both");
        } else {
          r.filters.push_back(
              FilterSpec{"mock", mock->node, mock->path, mock->mark, mock->mark, false});
        }
      }
      const bool mocked = std::any_of(r.filters.begin(), r.filters.end(), [](const FilterSpec& f) {
        return f.name == "mock" && !f.off;
      });
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
      if (const Item* rl = m->get("rate_limits")) parse_rate_limits(*rl, r);
      if (const Item* sec = m->get("security")) parse_security(*sec, r.security);
      for (const char* key : {"strip_prefix", "rewrite_prefix"}) {
        const Item* p = m->get(key);
        if (!p) continue;
        std::optional<std::string> s = string(*p);
        if (!s) continue;
        if (s->empty() || s->front() != '/') {
          error(p->mark, p->path, "must start with '/', got " + quote(*s));
          continue;
        }
        (std::string_view(key) == "strip_prefix" ? r.strip_prefix : r.rewrite_prefix) =
            std::move(*s);
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
      cfg.routes.push_back(std::move(r));
    }
  }

  // `filters:`: a map of filter name -> its config (parsed by the filter when the snapshot is
  // built) or `off`.
  void parse_filters(const Item& it, std::vector<FilterSpec>& out) {
    if (it.node.IsNull()) return;
    if (!it.node.IsMap()) {
      error(it.mark, it.path,
            "expected a map of filter names to their settings, got " + describe(it.node));
      return;
    }
    for (auto kv = it.node.begin(); kv != it.node.end(); ++kv) {
      const YAML::Node k = kv->first;
      const YAML::Node v = kv->second;
      const Mark key_mark = mark_of(k, it.mark);
      if (!k.IsScalar()) {
        error(key_mark, it.path, "a filter name must be a string, got " + describe(k));
        continue;
      }
      const std::string path = join(it.path, k.Scalar());
      if (std::any_of(out.begin(), out.end(),
                      [&](const FilterSpec& f) { return f.name == k.Scalar(); })) {
        error(key_mark, path, "duplicate filter " + quote(k.Scalar()));
        continue;
      }
      FilterSpec f{k.Scalar(), v, path, value_mark(v, key_mark), key_mark, false};
      if (v.IsScalar() && (v.Scalar() == "off" || v.Scalar() == "false")) f.off = true;
      out.push_back(std::move(f));
    }
  }

  // Returns the per_try_timeout item when one was read successfully, for the check against the
  // route's timeout.
  std::optional<Item> parse_retry(const Item& it, RetryConfig& rc) {
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

  // What is listed is retried, nothing else.
  void parse_retry_on(const Item& it, RetryConfig& rc) {
    const std::vector<Item> items = list_or_one(it);
    if (items.empty() && (it.node.IsNull() || it.node.IsSequence())) {
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

  // `backoff: 25ms` (the base) or `backoff: {base: 25ms, max: 250ms}`. A base given alone above
  // the default max raises the max to it, and a max alone below the default base lowers the base.
  void parse_backoff(const Item& it, RetryConfig& rc) {
    const Item* base = nullptr;
    const Item* max = nullptr;
    std::optional<MapItem> m;
    if (it.node.IsScalar()) {
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
      error(base->mark, base->path,
            "backoff base (" + format_ms(*b) + ") must not be longer than max (" + format_ms(*x) +
                ")");
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

  // `priority` may be given on the route or inside match:, not both.
  void parse_match(const Item& it, RouteConfig& r, std::optional<Item>& priority) {
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

  void parse_respond(const Item& it, RouteConfig& r) {
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

  // --- edge security (issue 5) ----------------------------------------------------------------

  // Role names: no spaces or control bytes (a roles claim may be one space-separated string).
  std::vector<std::string> role_list(const Item& it) {
    std::vector<std::string> out;
    for (const Item& e : list_or_one(it)) {
      std::optional<std::string> s = string(e);
      if (!s) continue;
      const bool ok = !s->empty() && std::all_of(s->begin(), s->end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u != 0x7f;
      });
      if (!ok) {
        error(e.mark, e.path, "invalid role " + quote(*s) + ": no spaces or control characters");
        continue;
      }
      if (std::find(out.begin(), out.end(), *s) == out.end()) out.push_back(std::move(*s));
    }
    return out;
  }

  // `issuer: X` or `issuers: [X, Y]`: either key takes one value or a list, not both keys.
  std::vector<std::string> one_or_many(const MapItem& m, std::string_view one,
                                       std::string_view many) {
    const Item* a = m.get(one);
    const Item* b = m.get(many);
    if (a && b) {
      error(b->mark, b->path,
            "give '" + std::string(one) + "' or '" + std::string(many) + "', not both");
    }
    const Item* v = a ? a : b;
    return v ? unique_strings(*v) : std::vector<std::string>{};
  }

  // An "alg" value: supported by the verifier, and never "none" (in any case).
  bool jwt_algorithm(const Item& it, const std::string& alg) {
    if (lower(alg) == "none") {
      error(it.mark, it.path, "the algorithm 'none' (unsigned tokens) cannot be allowed");
      return false;
    }
    if (!auth::jwt_algorithm_supported(alg)) {
      std::string msg = "unsupported JWT algorithm " + quote(alg);
      const std::string_view best = suggest(alg, kJwtAlgorithms);
      if (!best.empty()) {
        msg += " (did you mean '" + std::string(best) + "'?)";
      } else {
        msg += " (supported: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA)";
      }
      error(it.mark, it.path, std::move(msg));
      return false;
    }
    return true;
  }

  // bearer | header:NAME | cookie:NAME | query:NAME
  std::optional<TokenSource> token_source(const Item& it) {
    const std::optional<std::string> s = string(it);
    if (!s) return std::nullopt;
    const std::string_view text = *s;
    if (text == "bearer") return TokenSource{};
    const size_t colon = text.find(':');
    const std::string_view kind = text.substr(0, colon);
    const std::string_view name =
        colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
    const std::string bad = "invalid token source " + quote(text) + ": ";
    TokenSource ts;
    if (kind == "header") {
      ts.kind = TokenSource::Kind::kHeader;
    } else if (kind == "cookie") {
      ts.kind = TokenSource::Kind::kCookie;
    } else if (kind == "query") {
      ts.kind = TokenSource::Kind::kQuery;
    } else {
      error(it.mark, it.path, bad + "expected bearer, header:NAME, cookie:NAME or query:NAME");
      return std::nullopt;
    }
    if (name.empty()) {
      error(it.mark, it.path, bad + "missing name after '" + std::string(kind) + ":'");
      return std::nullopt;
    }
    const bool ok = kind == "query" ? is_query_name(name) : is_token(name);
    if (!ok) {
      error(it.mark, it.path, bad + quote(name) + " is not a valid " + std::string(kind) + " name");
      return std::nullopt;
    }
    ts.name = kind == "header" ? lower(std::string(name)) : std::string(name);
    return ts;
  }

  void parse_consumers(const Item& it, Config& cfg) {
    std::optional<std::vector<Item>> items = list(it);
    if (!items) return;
    for (const Item& e : *items) {
      std::optional<MapItem> m =
          map(e, {"name", "api_keys", "hmac_keys", "cert_subjects", "roles"});
      if (!m) continue;
      ConsumerConfig c;
      c.mark = e.mark;
      c.name = unique_name(*m, "name", "consumer name", consumer_names_, false);
      if (const Item* k = m->get("api_keys")) {
        for (const Item& h : list_or_one(*k)) {
          std::optional<std::string> s = string(h);
          if (!s) continue;
          auth::Sha256Digest digest{};
          if (!auth::parse_api_key_hash(*s, &digest)) {
            // Not echoed: a raw key pasted here by mistake must not reach the logs.
            error(h.mark, h.path,
                  "expected an API key hash 'sha256:<64 hex digits>' (keys are stored hashed: "
                  "sluice hash-key KEY prints the hash)");
            continue;
          }
          std::string canonical = std::string(auth::kApiKeyHashPrefix) +
                                  lower(s->substr(auth::kApiKeyHashPrefix.size()));
          if (auto [prev, inserted] = api_key_hashes_.emplace(canonical, h.mark); !inserted) {
            error(
                h.mark, h.path,
                "duplicate API key hash (first at line " + std::to_string(prev->second.line) + ")");
            continue;
          }
          c.api_key_hashes.push_back(std::move(canonical));
        }
      }
      if (const Item* h = m->get("hmac_keys")) parse_hmac_keys(*h, c);
      if (const Item* cs = m->get("cert_subjects")) {
        for (const Item& v : list_or_one(*cs)) {
          std::optional<std::string> subject = string(v);
          if (!subject) continue;
          if (subject->empty()) {
            error(v.mark, v.path, "a certificate subject such as 'CN=alice,O=Example'");
          } else if (auto [prev, inserted] = cert_subjects_.emplace(*subject, v.mark); !inserted) {
            error(v.mark, v.path,
                  "subject " + quote(*subject) + " already names a consumer (line " +
                      std::to_string(prev->second.line) + ")");
          } else {
            c.cert_subjects.push_back(std::move(*subject));
          }
        }
      }
      if (const Item* r = m->get("roles")) c.roles = role_list(*r);
      cfg.consumers.push_back(std::move(c));
    }
  }

  void parse_hmac_keys(const Item& it, ConsumerConfig& c) {
    std::optional<std::vector<Item>> items = list(it);
    if (!items) return;
    for (const Item& e : *items) {
      std::optional<MapItem> m = map(e, {"key_id", "secret", "secret_file"});
      if (!m) continue;
      ConsumerConfig::HmacKey key;
      key.key_id = unique_name(*m, "key_id", "key_id", hmac_key_ids_, false);
      const Item* inline_secret = m->get("secret");
      const Item* file = m->get("secret_file");
      if ((inline_secret == nullptr) == (file == nullptr)) {
        error(e.mark, e.path, "an HMAC key needs exactly one of 'secret' or 'secret_file'");
        continue;
      }
      std::optional<std::string> secret;
      if (inline_secret) {
        secret = string(*inline_secret);
      } else if (std::optional<std::string> path = string(*file)) {
        secret = read_small_file(*file, *path);
        // The newline an editor or `echo` leaves at the end is not part of the secret.
        if (secret && secret->ends_with('\n')) {
          secret->pop_back();
          if (secret->ends_with('\r')) secret->pop_back();
        }
      }
      if (!secret) continue;
      const Item& at = inline_secret ? *inline_secret : *file;
      // The secret itself is never echoed into a message.
      if (secret->size() < kMinHmacSecretBytes) {
        error(at.mark, at.path,
              "secret must be at least " + std::to_string(kMinHmacSecretBytes) +
                  " bytes long, got " + std::to_string(secret->size()));
        continue;
      }
      key.secret = std::move(*secret);
      c.hmac_keys.push_back(std::move(key));
    }
  }

  void parse_jwt_providers(const Item& it, Config& cfg) {
    std::optional<std::vector<Item>> items = list(it);
    if (!items) return;
    for (const Item& e : *items) {
      std::optional<MapItem> m =
          map(e, {"name", "issuer", "issuers", "audience", "audiences", "algorithms", "jwks_url",
                  "jwks_refresh", "jwks_min_refresh", "keys", "clock_skew", "require_exp",
                  "required_claims", "roles_claim", "from", "forward_claims"});
      if (!m) continue;
      JwtProviderConfig p;
      p.mark = e.mark;
      p.name = unique_name(*m, "name", "provider name", jwt_provider_names_, true);
      p.issuers = one_or_many(*m, "issuer", "issuers");
      p.audiences = one_or_many(*m, "audience", "audiences");
      if (const Item* a = m->get("algorithms")) {
        for (const Item& e2 : list_or_one(*a)) {
          std::optional<std::string> alg = string(e2);
          if (!alg || !jwt_algorithm(e2, *alg)) continue;
          if (std::find(p.algorithms.begin(), p.algorithms.end(), *alg) == p.algorithms.end()) {
            p.algorithms.push_back(std::move(*alg));
          }
        }
      }
      const Item* url = m->get("jwks_url");
      if (url) {
        if (std::optional<std::string> s = string(*url)) {
          std::string host;
          std::string path;
          std::string why;
          uint16_t port = 0;
          if (auth::parse_jwks_url(*s, &host, &port, &path, &why)) {
            p.jwks_url = std::move(*s);
          } else {
            error(url->mark, url->path, "invalid jwks_url " + quote(*s) + ": " + why);
          }
        }
      }
      if (const Item* v = m->get("jwks_refresh")) {
        if (auto d = duration(*v)) p.jwks_refresh_ms = *d;
      }
      if (const Item* v = m->get("jwks_min_refresh")) {
        if (auto d = duration(*v)) p.jwks_min_refresh_ms = *d;
      }
      const Item* keys = m->get("keys");
      if (keys) parse_jwt_keys(*keys, p);
      const bool keys_listed =
          keys && !keys->node.IsNull() && !(keys->node.IsSequence() && keys->node.size() == 0);
      if (!url && !keys_listed) {
        error(e.mark, e.path,
              "a JWT provider needs 'keys' or 'jwks_url' (or both) to verify tokens");
      }
      if (const Item* v = m->get("clock_skew")) {
        if (auto s = seconds(*v, /*allow_zero=*/true)) p.clock_skew_s = *s;
      }
      if (const Item* v = m->get("require_exp")) {
        if (auto b = boolean(*v)) p.require_exp = *b;
      }
      if (const Item* v = m->get("required_claims")) p.required_claims = unique_strings(*v);
      if (const Item* v = m->get("roles_claim")) {
        if (std::optional<std::string> s = string(*v)) {
          if (s->empty()) {
            error(v->mark, v->path, "must not be empty");
          } else {
            p.roles_claim = std::move(*s);
          }
        }
      }
      if (const Item* v = m->get("from")) {
        const std::vector<Item> sources = list_or_one(*v);
        if (sources.empty() && (v->node.IsNull() || v->node.IsSequence())) {
          error(v->mark, v->path, "at least one token source is needed (default: [bearer])");
        }
        std::vector<TokenSource> from;
        for (const Item& s : sources) {
          if (std::optional<TokenSource> ts = token_source(s)) from.push_back(std::move(*ts));
        }
        if (!from.empty()) p.from = std::move(from);
      }
      if (const Item* v = m->get("forward_claims")) {
        p.forward_claims = headers(*v);
        for (const auto& [name, claim] : p.forward_claims) {
          if (claim.empty()) error(v->mark, join(v->path, name), "claim name must not be empty");
          if (name == "host" || name == "content-length" || name == "transfer-encoding" ||
              name == "connection" || name == "keep-alive" || name == "upgrade" || name == "te" ||
              name == "trailer" || name == "authorization" || name == "cookie") {
            error(v->mark, join(v->path, name), "header " + quote(name) + " cannot carry a claim");
          }
        }
      }
      cfg.jwt_providers.push_back(std::move(p));
    }
  }

  // Inline keys, each loaded into a KeySet here so that a bad PEM or secret fails the load.
  void parse_jwt_keys(const Item& it, JwtProviderConfig& p) {
    std::optional<std::vector<Item>> items = list(it);
    if (!items) return;
    auth::KeySet probe;
    std::map<std::string, Mark> kids;
    for (const Item& e : *items) {
      std::optional<MapItem> m = map(e, {"pem_file", "secret", "kid", "alg"});
      if (!m) continue;
      JwtProviderConfig::Key key;
      bool ok = true;
      if (const Item* v = m->get("kid")) {
        if (std::optional<std::string> kid = string(*v)) {
          if (kid->empty() || kid->size() > auth::kMaxKidBytes) {
            error(v->mark, v->path,
                  "kid must be 1 to " + std::to_string(auth::kMaxKidBytes) + " bytes long");
            ok = false;
          } else if (auto [prev, inserted] = kids.emplace(*kid, v->mark); !inserted) {
            error(v->mark, v->path,
                  "duplicate kid " + quote(*kid) + " in this provider (first at line " +
                      std::to_string(prev->second.line) + ")");
            ok = false;
          }
          key.kid = std::move(*kid);
        } else {
          ok = false;
        }
      }
      const Item* alg = m->get("alg");
      if (alg) {
        std::optional<std::string> a = string(*alg);
        ok = ok && a && jwt_algorithm(*alg, *a);
        if (a) key.alg = std::move(*a);
      }
      const Item* pem = m->get("pem_file");
      const Item* secret = m->get("secret");
      if ((pem == nullptr) == (secret == nullptr)) {
        error(e.mark, e.path, "a key needs exactly one of 'pem_file' or 'secret'");
        continue;
      }
      if (!ok) continue;
      std::string why;
      if (pem) {
        std::optional<std::string> path = string(*pem);
        if (!path) continue;
        std::optional<std::string> text = read_small_file(*pem, *path);
        if (!text) continue;
        if (!probe.add_pem(*text, key.kid, key.alg, &why)) {
          error(pem->mark, pem->path, quote(*path) + ": " + why);
          continue;
        }
        if (!key.alg.empty() && !alg_fits(probe.keys().back(), key.alg)) {
          error(alg->mark, alg->path,
                "alg " + quote(key.alg) + " does not fit the key in " + quote(*path) + " (" +
                    key_kind(probe.keys().back()) + ")");
          continue;
        }
        key.pem = std::move(*text);
      } else {
        std::optional<std::string> s = string(*secret);
        if (!s) continue;
        if (!key.alg.empty() && !key.alg.starts_with("HS")) {
          error(alg->mark, alg->path,
                "a secret is a key for HS256, HS384 or HS512, not " + quote(key.alg));
          continue;
        }
        // `why` never holds the secret.
        if (!probe.add_hmac_secret(*s, false, key.kid, key.alg, &why)) {
          error(secret->mark, secret->path, why);
          continue;
        }
        key.secret = std::move(*s);
      }
      p.keys.push_back(std::move(key));
    }
  }

  // `security:` at the top level (the default of every route) or in a route, where each section
  // given replaces the default's. `off` (for the whole of a route's security, or one section)
  // gives present-but-disabled sections.
  void parse_security(const Item& it, SecurityConfig& s) {
    if (it.node.IsScalar()) {
      if (is_off(it)) {
        s.auth.emplace();
        s.auth->mark = it.mark;
        s.ip_rules.emplace();
        s.cors.emplace();
        s.headers.emplace();
      }
      return;
    }
    std::optional<MapItem> m = map(it, {"auth", "ip_rules", "cors", "headers"});
    if (!m) return;
    // Each section is a map, or the scalar `off`: present but switched off.
    auto section = [&](std::string_view key, auto& out, auto parse) {
      const Item* v = m->get(key);
      if (v == nullptr) return;
      typename std::remove_reference_t<decltype(out)>::value_type value;
      if (v->node.IsScalar()) {
        is_off(*v);
      } else {
        parse(*v, value);
      }
      out = std::move(value);
    };
    section("auth", s.auth, [&](const Item& v, AuthConfig& a) {
      a.mark = v.mark;
      parse_auth(v, a);
    });
    section("ip_rules", s.ip_rules, [&](const Item& v, IpRulesConfig& r) { parse_ip_rules(v, r); });
    section("cors", s.cors, [&](const Item& v, CorsConfig& c) { parse_cors(v, c); });
    section("headers", s.headers,
            [&](const Item& v, SecurityHeadersConfig& h) { parse_security_headers(v, h); });
  }

  void parse_auth(const Item& it, AuthConfig& a) {
    std::optional<MapItem> m =
        map(it, {"jwt", "api_key", "hmac", "client_cert", "roles", "method_roles", "optional"});
    if (!m) return;
    a.enabled = true;
    // Whether some credential is accepted; a key that failed to parse counts (it is reported).
    bool any = false;
    auto given = [](const Item& v) { return !(v.node.IsScalar() && v.node.Scalar() == "false"); };
    if (const Item* j = m->get("jwt")) {
      any = true;
      const std::vector<Item> names = list_or_one(*j);
      if (names.empty() && (j->node.IsNull() || j->node.IsSequence())) {
        error(j->mark, j->path, "at least one JWT provider name is needed");
      }
      for (const Item& n : names) {
        std::optional<std::string> s = string(n);
        if (!s || std::find(a.jwt.begin(), a.jwt.end(), *s) != a.jwt.end()) continue;
        a.jwt.push_back(std::move(*s));
        jwt_refs_.push_back(n);
      }
    }
    if (const Item* k = m->get("api_key")) {
      any = any || given(*k);
      if (k->node.IsScalar()) {
        if (auto b = boolean(*k)) a.api_key = *b;
      } else if (std::optional<MapItem> km = map(*k, {"header", "query"})) {
        a.api_key = true;
        const Item* h = km->get("header");
        const Item* q = km->get("query");
        if (h && q) {
          error(q->mark, q->path, "give 'header' or 'query', not both");
        } else if (h) {
          if (std::optional<std::string> name = string(*h)) {
            if (is_token(*name)) {
              a.api_key_from = TokenSource{TokenSource::Kind::kHeader, lower(std::move(*name))};
            } else {
              error(h->mark, h->path, "invalid header name " + quote(*name));
            }
          }
        } else if (q) {
          if (std::optional<std::string> name = string(*q)) {
            if (is_query_name(*name)) {
              a.api_key_from = TokenSource{TokenSource::Kind::kQuery, std::move(*name)};
            } else {
              error(q->mark, q->path, "invalid query parameter name " + quote(*name));
            }
          }
        }
      }
      if (a.api_key) api_key_refs_.push_back(*k);
    }
    if (const Item* h = m->get("hmac")) {
      any = any || given(*h);
      if (h->node.IsScalar()) {
        if (auto b = boolean(*h)) a.hmac = *b;
      } else if (std::optional<MapItem> hm = map(*h, {"window", "max_body"})) {
        a.hmac = true;
        if (const Item* v = hm->get("window")) {
          if (auto s = seconds(*v, /*allow_zero=*/false)) a.hmac_window_s = *s;
        }
        if (const Item* v = hm->get("max_body")) {
          if (auto b = size(*v, 1, kMaxHmacBodyBytes, "from 1 to 1GiB")) a.hmac_max_body_bytes = *b;
        }
      }
      if (a.hmac) hmac_refs_.push_back(*h);
    }
    if (const Item* c = m->get("client_cert")) {
      any = any || given(*c);
      if (auto b = boolean(*c)) a.client_cert = *b;
    }
    if (const Item* r = m->get("roles")) a.roles = role_list(*r);
    if (const Item* r = m->get("method_roles")) parse_method_roles(*r, a);
    if (const Item* o = m->get("optional")) {
      if (auto b = boolean(*o)) a.optional = *b;
    }
    if (!any) {
      error(it.mark, it.path,
            "auth needs at least one of 'jwt', 'api_key', 'hmac' or 'client_cert' (write "
            "'auth: off' for no authentication)");
    }
  }

  // {DELETE: [admin], POST: [admin, writer]}
  void parse_method_roles(const Item& it, AuthConfig& a) {
    if (it.node.IsNull()) return;
    if (!it.node.IsMap()) {
      error(it.mark, it.path, "expected a map of methods to roles, got " + describe(it.node));
      return;
    }
    for (auto kv = it.node.begin(); kv != it.node.end(); ++kv) {
      const YAML::Node k = kv->first;
      const YAML::Node v = kv->second;
      const Mark key_mark = mark_of(k, it.mark);
      if (!k.IsScalar()) {
        error(key_mark, it.path, "a method must be a string, got " + describe(k));
        continue;
      }
      const std::string path = join(it.path, k.Scalar());
      std::optional<std::string> method = route_method(Item{k, path, key_mark});
      if (!method) continue;
      const bool dup = std::any_of(a.method_roles.begin(), a.method_roles.end(),
                                   [&](const auto& mr) { return mr.first == *method; });
      if (dup) {
        error(key_mark, path, "duplicate method " + quote(*method));
        continue;
      }
      const Item value{v, path, value_mark(v, key_mark)};
      std::vector<std::string> roles = role_list(value);
      if (roles.empty() && (v.IsNull() || v.IsSequence())) {
        error(value.mark, path, "at least one role is needed");
      }
      a.method_roles.emplace_back(std::move(*method), std::move(roles));
    }
  }

  void parse_ip_rules(const Item& it, IpRulesConfig& r) {
    std::optional<MapItem> m = map(it, {"allow", "deny"});
    if (!m) return;
    r.enabled = true;
    const std::pair<const char*, std::vector<std::string>*> lists[] = {{"allow", &r.allow},
                                                                       {"deny", &r.deny}};
    for (const auto& [key, out] : lists) {
      const Item* v = m->get(key);
      if (!v) continue;
      for (const Item& e : list_or_one(*v)) {
        std::optional<std::string> s = string(e);
        if (!s) continue;
        auth::CidrSet probe;
        std::string why;
        if (!probe.add(*s, &why)) {
          error(e.mark, e.path, why);
          continue;
        }
        out->push_back(std::move(*s));
      }
    }
  }

  // The policy is compiled here as the gateway will compile it; each value is first compiled
  // alone so that a problem is reported at its own list entry.
  void parse_cors(const Item& it, CorsConfig& c) {
    std::optional<MapItem> m =
        map(it, {"origins", "methods", "headers", "expose", "credentials", "max_age"});
    if (!m) return;
    c.enabled = true;
    const size_t errors_before = errors_.size();
    if (const Item* v = m->get("credentials")) {
      if (auto b = boolean(*v)) c.credentials = *b;
    }
    auth::CorsConfig base;
    base.origins = {"https://example.com"};
    base.credentials = c.credentials;
    auto check = [&](const Item& at, const auth::CorsConfig& one) {
      std::string why;
      if (auth::CorsPolicy::compile(one, &why)) return true;
      if (why.starts_with("cors: ")) why.erase(0, 6);
      error(at.mark, at.path, why);
      return false;
    };
    using Field = std::vector<std::string> auth::CorsConfig::*;
    const std::tuple<const char*, Field, std::vector<std::string>*> lists[] = {
        {"origins", &auth::CorsConfig::origins, &c.origins},
        {"methods", &auth::CorsConfig::methods, &c.methods},
        {"headers", &auth::CorsConfig::allowed_headers, &c.allowed_headers},
        {"expose", &auth::CorsConfig::exposed_headers, &c.exposed_headers},
    };
    for (const auto& [key, field, out] : lists) {
      const Item* v = std::string_view(key) == "origins" ? require(*m, key) : m->get(key);
      if (!v) continue;
      const std::vector<Item> items = list_or_one(*v);
      if (items.empty() && std::string_view(key) == "origins" &&
          (v->node.IsNull() || v->node.IsSequence())) {
        error(v->mark, v->path, "at least one origin is needed");
      }
      for (const Item& e : items) {
        std::optional<std::string> s = string(e);
        if (!s) continue;
        auth::CorsConfig one = base;
        one.*field = {*s};
        if (check(e, one) && std::find(out->begin(), out->end(), *s) == out->end()) {
          out->push_back(std::move(*s));
        }
      }
    }
    if (const Item* v = m->get("max_age")) {
      if (auto s = seconds(*v, /*allow_zero=*/true)) c.max_age_s = *s;
    }
    if (errors_.size() != errors_before) return;
    auth::CorsConfig all;
    all.origins = c.origins;
    all.methods = c.methods;
    all.allowed_headers = c.allowed_headers;
    all.exposed_headers = c.exposed_headers;
    all.credentials = c.credentials;
    all.max_age_s = c.max_age_s;
    check(it, all);
  }

  // Checked by compiling each header alone, as the gateway will compile them, so that a problem
  // is reported at its key.
  void parse_security_headers(const Item& it, SecurityHeadersConfig& h) {
    std::optional<MapItem> m = map(it, {"hsts", "nosniff", "frame_options", "referrer_policy",
                                        "content_security_policy", "permissions_policy", "server"});
    if (!m) return;
    h.enabled = true;
    auto check = [&](const Item& at, const auth::SecurityHeadersConfig& one) {
      std::string why;
      if (auth::SecurityHeaders::compile(one, &why)) return true;
      if (why.starts_with("security_headers: ")) why.erase(0, 18);
      error(at.mark, at.path, why);
      return false;
    };
    if (const Item* v = m->get("hsts")) {
      if (std::optional<MapItem> hm = map(*v, {"max_age", "include_subdomains", "preload"})) {
        uint64_t max_age = kDefaultHstsMaxAgeS;
        bool include_subdomains = false;
        bool preload = false;
        bool ok = true;
        if (const Item* x = hm->get("max_age")) {
          std::optional<uint64_t> s = seconds(*x, /*allow_zero=*/false);
          ok = s.has_value();
          if (s) max_age = *s;
        }
        if (const Item* x = hm->get("include_subdomains")) {
          std::optional<bool> b = boolean(*x);
          ok = ok && b.has_value();
          if (b) include_subdomains = *b;
        }
        const Item* pre = hm->get("preload");
        if (pre) {
          std::optional<bool> b = boolean(*pre);
          ok = ok && b.has_value();
          if (b) preload = *b;
        }
        auth::SecurityHeadersConfig one;
        one.hsts = auth::SecurityHeadersConfig::Hsts{max_age, include_subdomains, preload};
        if (ok && check(pre ? *pre : *v, one)) {
          h.hsts_max_age_s = max_age;
          h.hsts_include_subdomains = include_subdomains;
          h.hsts_preload = preload;
        }
      }
    }
    if (const Item* v = m->get("nosniff")) {
      if (auto b = boolean(*v)) h.content_type_nosniff = *b;
    }
    if (const Item* v = m->get("frame_options")) {
      if (std::optional<std::string> s = string(*v)) {
        std::string value = upper(std::move(*s));
        if (value == "DENY" || value == "SAMEORIGIN") {
          h.frame_options = std::move(value);
        } else {
          error(v->mark, v->path, "expected DENY or SAMEORIGIN, got " + quote(value));
        }
      }
    }
    using Field = std::string auth::SecurityHeadersConfig::*;
    const std::tuple<const char*, Field, std::string*> texts[] = {
        {"referrer_policy", &auth::SecurityHeadersConfig::referrer_policy, &h.referrer_policy},
        {"content_security_policy", &auth::SecurityHeadersConfig::content_security_policy,
         &h.content_security_policy},
        {"permissions_policy", &auth::SecurityHeadersConfig::permissions_policy,
         &h.permissions_policy},
    };
    for (const auto& [key, field, out] : texts) {
      const Item* v = m->get(key);
      if (!v) continue;
      std::optional<std::string> s = string(*v);
      if (!s) continue;
      auth::SecurityHeadersConfig one;
      one.*field = *s;
      if (check(*v, one)) *out = std::move(*s);
    }
    if (const Item* v = m->get("server")) {
      if (std::optional<std::string> s = string(*v)) {
        auth::SecurityHeadersConfig one;
        if (*s == "hide") {
          one.server = auth::ServerHeader::kHide;
        } else if (!s->empty()) {
          one.server = auth::ServerHeader::kSet;
          one.server_value = *s;
        }
        if (check(*v, one)) h.server = std::move(*s);
      }
    }
  }

  // Cross references and defaults that need the whole file.
  void finish(Config& cfg) {
    finish_security(cfg);
    if (!cfg.redis.enabled) {
      for (const Item& at : cluster_policies_) {
        error(at.mark, at.path, "scope: cluster needs a top-level 'redis' section");
      }
    }
    for (const Item& ref : upstream_refs_) {
      const std::string& name = ref.node.Scalar();
      if (!upstream_names_.contains(name)) {
        error(ref.mark, ref.path, "upstream " + quote(name) + " is not defined");
      }
    }
    for (size_t i = 0; i < cfg.upstreams.size() && i < upstream_defaults_.size(); ++i) {
      if (upstream_defaults_[i].first) {
        cfg.upstreams[i].connect_timeout_ms = cfg.timeouts.upstream_connect_ms;
      }
      if (upstream_defaults_[i].second) {
        cfg.upstreams[i].response_timeout_ms = cfg.timeouts.upstream_response_ms;
      }
    }
    if (has_admin_address_) {
      for (const ListenerConfig& l : cfg.listeners) {
        if (l.address.host == cfg.admin.address.host && l.address.port == cfg.admin.address.port) {
          error(admin_address_item_.mark, admin_address_item_.path,
                "admin address " + quote(cfg.admin.address.text) + " is also a listener (line " +
                    std::to_string(l.mark.line) + ")");
          break;
        }
      }
    }
  }

  // References from `security` sections (top level and routes) to providers and credentials.
  // RouteConfig::security keeps only the route's own sections; the gateway falls back to
  // Config::security for the others.
  void finish_security(const Config& cfg) {
    std::vector<std::string_view> providers;
    for (const auto& [name, mark] : jwt_provider_names_) providers.push_back(name);
    for (const Item& ref : jwt_refs_) {
      const std::string& name = ref.node.Scalar();
      if (jwt_provider_names_.contains(name)) continue;
      std::string msg = "JWT provider " + quote(name) + " is not defined";
      const std::string_view best = suggest(name, providers);
      if (!best.empty()) msg += " (did you mean '" + std::string(best) + "'?)";
      error(ref.mark, ref.path, std::move(msg));
    }
    const bool api_keys =
        std::any_of(cfg.consumers.begin(), cfg.consumers.end(),
                    [](const ConsumerConfig& c) { return !c.api_key_hashes.empty(); });
    const bool hmac_keys =
        std::any_of(cfg.consumers.begin(), cfg.consumers.end(),
                    [](const ConsumerConfig& c) { return !c.hmac_keys.empty(); });
    if (!api_keys) {
      for (const Item& ref : api_key_refs_) {
        error(ref.mark, ref.path, "api_key is enabled but no consumer has api_keys");
      }
    }
    if (!hmac_keys) {
      for (const Item& ref : hmac_refs_) {
        error(ref.mark, ref.path, "hmac is enabled but no consumer has hmac_keys");
      }
    }
  }

  std::map<std::string, Mark> upstream_names_;
  std::map<std::string, Mark> route_names_;
  std::vector<Item> upstream_refs_;
  std::vector<Item> cluster_policies_;
  std::map<std::string, Mark> cert_subjects_;  // client certificate subject → where it was named //
                                               // scope: cluster nodes, checked against `redis`
  std::optional<Item> redis_item_;
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

// Records where the first document of a parse starts; ignores the rest.
class DocumentStart : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> start;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (!start) start = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// A config is one YAML document; a second one is an error rather than silently ignored.
// YAML::LoadAll cannot be used to count them: on some inputs (a ',' at block level) yaml-cpp
// returns an empty document without consuming anything, so LoadAll loops forever. Here at most
// three documents are read, and a third starting where the second did means the parser is stuck
// on a token it cannot use. Throws YAML::Exception for a syntax error in a later document.
std::optional<ConfigError> check_single_document(const std::string& yaml, const std::string& file) {
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  DocumentStart first;
  if (!parser.HandleNextDocument(first)) return std::nullopt;
  DocumentStart second;
  if (!parser.HandleNextDocument(second) || !second.start) return std::nullopt;
  DocumentStart third;
  const bool more = parser.HandleNextDocument(third);
  const YAML::Mark at = *second.start;
  if (more && third.start && third.start->pos == at.pos) {
    std::string msg = "invalid YAML: unexpected ";
    const bool in_text = at.pos >= 0 && static_cast<size_t>(at.pos) < yaml.size();
    msg += in_text ? quote(std::string_view(yaml).substr(static_cast<size_t>(at.pos), 1))
                   : std::string("end of input");
    return ConfigError{file, to_mark(at), "", std::move(msg)};
  }
  return ConfigError{file, to_mark(at), "", "only one YAML document is allowed per config file"};
}

LoadResult load(const std::string& yaml, const std::string& file) {
  LoadResult result;
  try {
    YAML::Node root;
    try {
      root = YAML::Load(yaml);
      if (std::optional<ConfigError> e = check_single_document(yaml, file)) {
        result.errors.push_back(std::move(*e));
        return result;
      }
    } catch (const YAML::Exception& e) {
      result.errors.push_back(ConfigError{file, to_mark(e.mark), "", "invalid YAML: " + e.msg});
      return result;
    }
    // A comment-only file is a null document.
    if (root.IsNull()) {
      result.errors.push_back(ConfigError{file, {}, "", "the config is empty"});
      return result;
    }
    if (!root.IsMap()) {
      result.errors.push_back(ConfigError{file, mark_of(root, {1, 1}), "",
                                          "the top level must be a map, got " + describe(root)});
      return result;
    }
    Config cfg;
    Parser parser(file);
    parser.parse(Item{root, "", mark_of(root, {1, 1})}, cfg);
    result.errors = std::move(parser.errors());
    if (result.errors.empty()) {
      cfg.source_file = file;
      cfg.hash = sha256_hex(yaml);
      result.config = std::move(cfg);
    } else {
      // Read in file order, whatever the order of the checks.
      std::stable_sort(result.errors.begin(), result.errors.end(),
                       [](const ConfigError& a, const ConfigError& b) {
                         return std::pair(a.mark.line, a.mark.col) <
                                std::pair(b.mark.line, b.mark.col);
                       });
    }
  } catch (const std::exception& e) {
    result.config.reset();
    result.errors.push_back(ConfigError{file, {}, "", std::string("internal error: ") + e.what()});
  } catch (...) {
    result.config.reset();
    result.errors.push_back(ConfigError{file, {}, "", "internal error"});
  }
  return result;
}

}  // namespace

LoadResult load_config_string(const std::string& yaml, const std::string& file_name) {
  return load(yaml, file_name);
}

LoadResult load_config_file(const std::string& path) {
  auto fail = [&](const char* what, int err) {
    LoadResult r;
    std::string msg = what;
    if (err != 0) msg += ": " + std::system_category().message(err);
    r.errors.push_back(ConfigError{path, {}, "", std::move(msg)});
    return r;
  };
  try {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("cannot open config file", errno);
    std::string bytes;
    int err = 0;
    bool too_big = false;
    try {
      char buf[64 * 1024];
      for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          err = errno;
          break;
        }
        if (n == 0) break;
        if (bytes.size() + static_cast<size_t>(n) > kMaxFileBytes) {
          too_big = true;
          break;
        }
        bytes.append(buf, static_cast<size_t>(n));
      }
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    if (err != 0) return fail("cannot read config file", err);
    if (too_big) return fail("config file is larger than 64MiB", 0);
    return load(bytes, path);
  } catch (...) {
    return fail("cannot read config file: out of memory", 0);
  }
}

}  // namespace sluice::config
