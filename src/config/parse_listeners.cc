// Parser's sections for where sluice listens and how: listeners and their TLS (and an upstream's
// TLS, built the same way), admin, dns, limits and timeouts.
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/parser.h"
#include "config/reader.h"
#include "config/scalars.h"
#include "net/tls.h"

namespace sluice::config {

namespace {

constexpr uint64_t kMaxHeaderBytes = 16 * kMiB;
constexpr int64_t kMaxHeaders = 10000;
constexpr int64_t kMaxConnections = 100000000;

}  // namespace

void Parser::parse_listeners(const Item& it, Config& cfg) {
  std::optional<std::vector<Item>> items = list(it);
  if (!items) return;
  if (items->empty()) error(it.mark, it.path, "at least one listener is required");
  for (const Item& e : *items) {
    std::optional<MapItem> m = map(e, {"address", "tls", "max_connections"});
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
    if (const Item* v = m->get("max_connections")) {
      if (auto n = integer(*v, 0, kMaxConnections)) l.max_connections = static_cast<uint32_t>(*n);
    }
    cfg.listeners.push_back(std::move(l));
  }
}

void Parser::tls_errors(const Item& t, const MapItem& m, const std::vector<net::TlsError>& errors) {
  for (const net::TlsError& e : errors) {
    // "certificates[1].key" → the mark of the certificates list (or of the tls map).
    const std::string top = e.key.substr(0, e.key.find_first_of(".["));
    const Item* at = top.empty() ? nullptr : m.get(top);
    error(at != nullptr ? at->mark : t.mark, e.key.empty() ? t.path : join(t.path, e.key),
          e.message);
  }
}

void Parser::parse_listener_tls(const Item& t, ListenerTlsConfig& tls) {
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

void Parser::parse_upstream_tls(const Item& t, UpstreamTlsConfig& tls) {
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

void Parser::parse_config_source(const Item& it, EtcdSourceConfig& e) {
  std::optional<MapItem> m = map(it, {"etcd"});
  if (!m) return;
  const Item* etcd = require(*m, "etcd");
  if (etcd == nullptr) return;
  std::optional<MapItem> em = map(*etcd, {"endpoints", "prefix", "timeout"});
  if (!em) return;
  e.enabled = true;
  if (const Item* list = em->get("endpoints")) {
    for (const Item& one : list_or_one(*list)) {
      if (std::optional<Address> a = address(one, false)) e.endpoints.push_back(std::move(*a));
    }
  }
  if (e.endpoints.empty()) e.endpoints.push_back(*parse_address("127.0.0.1:2379"));
  if (const Item* p = em->get("prefix")) {
    if (std::optional<std::string> prefix = string(*p)) {
      if (prefix->empty() || prefix->front() != '/') {
        error(p->mark, p->path, "must start with '/', e.g. /sluice");
      } else {
        if (prefix->back() != '/') *prefix += '/';
        e.prefix = std::move(*prefix);
      }
    }
  }
  if (const Item* t = em->get("timeout")) {
    if (auto d = duration(*t)) e.timeout_ms = *d;
  }
}

void Parser::parse_dns(const Item& it, DnsConfig& d) {
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

void Parser::parse_admin(const Item& it, Config& cfg) {
  // `admin: {}` (or `admin:` alone) is the admin API on its default loopback address.
  cfg.admin.enabled = true;
  cfg.admin.mark = it.mark;
  cfg.admin.address = *parse_address("127.0.0.1:9901");
  admin_address_item_ = it;
  has_admin_address_ = true;
  if (it.node.is_null()) return;
  std::optional<MapItem> m =
      map(it, {"address", "token_file", "read_only_token_file", "state_dir", "history"});
  if (!m) return;
  if (const Item* a = m->get("address")) {
    if (std::optional<Address> addr = address(*a, true)) {
      cfg.admin.address = std::move(*addr);
      admin_address_item_ = *a;
    }
  }
  const auto token = [&](const char* key, std::string& out) {
    const Item* f = m->get(key);
    if (f == nullptr) return;
    std::optional<std::string> path = string(*f);
    if (!path) return;
    std::optional<std::string> t = read_small_file(*f, *path);
    if (!t) return;
    while (!t->empty() && (t->back() == '\n' || t->back() == '\r')) t->pop_back();
    // The token is never echoed into a message.
    if (t->size() < kMinAdminTokenBytes) {
      error(f->mark, f->path,
            "the token must be at least " + std::to_string(kMinAdminTokenBytes) +
                " bytes long, got " + std::to_string(t->size()));
    } else if (t->find_first_of(" \t\r\n") != std::string::npos) {
      error(f->mark, f->path, "the token must be one line without spaces");
    } else {
      out = std::move(*t);
    }
  };
  token("token_file", cfg.admin.token);
  token("read_only_token_file", cfg.admin.read_only_token);
  if (!cfg.admin.read_only_token.empty() && cfg.admin.token.empty()) {
    error(it.mark, it.path, "read_only_token_file needs token_file too");
  } else if (!cfg.admin.token.empty() && cfg.admin.token == cfg.admin.read_only_token) {
    error(it.mark, it.path, "token_file and read_only_token_file must hold different tokens");
  }
  if (const Item* d = m->get("state_dir")) {
    if (std::optional<std::string> dir = string(*d)) {
      if (dir->empty()) {
        error(d->mark, d->path, "must not be empty");
      } else {
        cfg.admin.state_dir = std::move(*dir);
      }
    }
  }
  if (const Item* h = m->get("history")) {
    if (auto n = integer(*h, 1, 10000)) cfg.admin.history = static_cast<uint32_t>(*n);
  }
}

void Parser::parse_limits(const Item& it, LimitsConfig& l) {
  std::optional<MapItem> m =
      map(it, {"max_header_bytes", "max_headers", "max_uri_bytes", "max_body_bytes",
               "headers_with_underscores", "max_connections_per_client", "memory_budget"});
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
  if (const Item* v = m->get("max_connections_per_client")) {
    if (auto n = integer(*v, 0, kMaxConnections)) {
      l.max_connections_per_client = static_cast<uint32_t>(*n);
    }
  }
  if (const Item* v = m->get("memory_budget")) {
    if (auto s = size(*v, 0, std::numeric_limits<uint64_t>::max(), "")) {
      if (*s != 0 && *s < 16 * kMiB) {
        // The gateway alone would be over it: every connection refused.
        error(v->mark, v->path, "memory_budget must be 0 (none) or at least 16MiB");
      } else {
        l.memory_budget = *s;
      }
    }
  }
  if (const Item* v = m->get("headers_with_underscores")) {
    static constexpr std::array<std::string_view, 3> kPolicies = {"allow", "drop", "reject"};
    if (auto s = one_of(*v, kPolicies, "headers_with_underscores")) {
      l.headers_with_underscores = std::move(*s);
    }
  }
}

void Parser::parse_timeouts(const Item& it, TimeoutsConfig& t) {
  std::optional<MapItem> m = map(it, {"client_header", "client_body", "client_send", "idle",
                                      "upstream_connect", "upstream_response", "drain"});
  if (!m) return;
  const std::pair<const char*, uint64_t*> fields[] = {
      {"client_header", &t.client_header_ms},
      {"client_body", &t.client_body_ms},
      {"client_send", &t.client_send_ms},
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

}  // namespace sluice::config
