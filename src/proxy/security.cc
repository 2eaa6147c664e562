#include "proxy/security.h"

#include <algorithm>

#include "http/method.h"

namespace sluice::proxy {
namespace {

config::ConfigError at(const config::Config& cfg, config::Mark mark, std::string key,
                       std::string message) {
  return config::ConfigError{cfg.file_of(mark), mark, std::move(key), std::move(message)};
}

struct Roles {
  const std::vector<std::string>* roles = nullptr;  // null: none needed
  const std::vector<std::pair<std::string, std::vector<std::string>>>* method_roles = nullptr;
};

// A route's own section replaces the default; a section switched off (`off`) means none.
template <typename T>
const T* effective(const std::optional<T>& route, const std::optional<T>& fallback) {
  const std::optional<T>& chosen = route ? route : fallback;
  if (!chosen || !chosen->enabled) return nullptr;
  return &*chosen;
}

std::optional<auth::SecurityHeaders> compile_headers(const config::SecurityHeadersConfig& h,
                                                     std::string* why) {
  auth::SecurityHeadersConfig ah;
  if (h.hsts_max_age_s != 0) {
    ah.hsts = auth::SecurityHeadersConfig::Hsts{h.hsts_max_age_s, h.hsts_include_subdomains,
                                                h.hsts_preload};
  }
  ah.content_type_nosniff = h.content_type_nosniff;
  ah.frame_options = h.frame_options == "DENY"         ? auth::FrameOptions::kDeny
                     : h.frame_options == "SAMEORIGIN" ? auth::FrameOptions::kSameOrigin
                                                       : auth::FrameOptions::kUnset;
  ah.referrer_policy = h.referrer_policy;
  ah.content_security_policy = h.content_security_policy;
  ah.permissions_policy = h.permissions_policy;
  if (h.server == "hide") {
    ah.server = auth::ServerHeader::kHide;
  } else if (!h.server.empty()) {
    ah.server = auth::ServerHeader::kSet;
    ah.server_value = h.server;
  }
  return auth::SecurityHeaders::compile(ah, why);
}

}  // namespace

std::shared_ptr<SecurityTables> compile_security(const config::Config& cfg,
                                                 std::shared_ptr<auth::NonceCache> nonces,
                                                 const JwksLookup& jwks,
                                                 std::vector<config::ConfigError>* errors) {
  auto t = std::make_shared<SecurityTables>();
  t->nonces = std::move(nonces);
  const size_t errors_before = errors->size();

  t->consumers.reserve(cfg.consumers.size());  // pointers into it are handed out below
  for (const config::ConsumerConfig& c : cfg.consumers) {
    t->consumers.push_back(Consumer{c.name, c.roles});
  }
  for (size_t i = 0; i < cfg.consumers.size(); ++i) {
    const config::ConsumerConfig& c = cfg.consumers[i];
    const Consumer* consumer = &t->consumers[i];
    t->by_name[c.name] = consumer;
    for (const std::string& h : c.api_key_hashes) {
      auth::Sha256Digest d;
      if (!auth::parse_api_key_hash(h, &d)) {
        errors->push_back(at(cfg, c.mark, "consumers." + c.name + ".api_keys",
                             "not a key hash (expected sha256:<64 hex>)"));
        continue;
      }
      t->api_keys.add(d, c.name);
    }
    for (const std::string& subject : c.cert_subjects) t->by_subject[subject] = consumer;
    for (const config::ConsumerConfig::HmacKey& k : c.hmac_keys) {
      t->hmac_keys[k.key_id] = SecurityTables::HmacKey{k.secret, consumer};
    }
  }

  for (const config::JwtProviderConfig& pc : cfg.jwt_providers) {
    auto p = std::make_unique<JwtProvider>();
    p->name = pc.name;
    p->policy.algorithms = pc.algorithms;
    p->policy.issuers = pc.issuers;
    p->policy.audiences = pc.audiences;
    p->policy.required_claims = pc.required_claims;
    p->policy.roles_claim = pc.roles_claim;
    p->policy.clock_skew_s = pc.clock_skew_s;
    p->policy.require_exp = pc.require_exp;
    p->from = pc.from;
    p->forward_claims = pc.forward_claims;
    if (!pc.keys.empty()) {
      auto keys = std::make_shared<auth::KeySet>();
      for (const config::JwtProviderConfig::Key& k : pc.keys) {
        std::string why;
        bool ok = k.pem.empty() ? keys->add_hmac_secret(k.secret, false, k.kid, k.alg, &why)
                                : keys->add_pem(k.pem, k.kid, k.alg, &why);
        if (!ok) errors->push_back(at(cfg, pc.mark, "jwt_providers." + pc.name + ".keys", why));
      }
      p->inline_keys = std::move(keys);
    }
    // Without a lookup (`sluice validate`) the URL was checked by the loader; nothing is fetched.
    if (!pc.jwks_url.empty() && jwks) {
      std::string why;
      p->jwks = jwks(pc, &why);
      if (p->jwks == nullptr) {
        errors->push_back(at(cfg, pc.mark, "jwt_providers." + pc.name + ".jwks_url", why));
      }
    }
    t->providers.push_back(std::move(p));
  }

  std::vector<std::string> owned;
  if (!cfg.consumers.empty() || !cfg.jwt_providers.empty()) owned.push_back("x-consumer");
  for (const auto& p : t->providers) {
    for (const auto& [header, claim] : p->forward_claims) {
      if (std::find(owned.begin(), owned.end(), header) == owned.end()) owned.push_back(header);
    }
  }
  t->routes.resize(cfg.routes.size());
  const std::optional<config::SecurityHeadersConfig> no_headers;
  for (size_t i = 0; i < cfg.routes.size(); ++i) {
    const config::RouteConfig& rc = cfg.routes[i];
    if (rc.reuse >= 0) continue;  // compiled already: its chain is taken as it is
    const config::SecurityConfig& own = *rc.security;
    const config::SecurityConfig& def = cfg.security;
    RouteSecurity& rs = *(t->routes[i] = std::make_unique<RouteSecurity>());
    const std::string key = "routes." + rc.name + ".security";

    if (const config::IpRulesConfig* ip = effective(own.ip_rules, def.ip_rules)) {
      auth::IpRules rules;
      std::string why;
      for (const std::string& c : ip->allow) {
        if (!rules.allow.add(c, &why)) errors->push_back(at(cfg, rc.mark, key + ".ip_rules", why));
      }
      for (const std::string& c : ip->deny) {
        if (!rules.deny.add(c, &why)) errors->push_back(at(cfg, rc.mark, key + ".ip_rules", why));
      }
      rs.ip_rules = std::move(rules);
    }
    if (const config::CorsConfig* c = effective(own.cors, def.cors)) {
      auth::CorsConfig ac;
      ac.origins = c->origins;
      ac.methods = c->methods;
      ac.allowed_headers = c->allowed_headers;
      ac.exposed_headers = c->exposed_headers;
      ac.credentials = c->credentials;
      ac.max_age_s = c->max_age_s;
      std::string why;
      rs.cors = auth::CorsPolicy::compile(ac, &why);
      if (!rs.cors) errors->push_back(at(cfg, rc.mark, key + ".cors", why));
    }
    if (const config::SecurityHeadersConfig* h = effective(own.headers, def.headers)) {
      std::string why;
      rs.headers = compile_headers(*h, &why);
      if (!rs.headers) errors->push_back(at(cfg, rc.mark, key + ".headers", why));
    }
    if (const config::AuthConfig* a = effective(own.auth, def.auth)) {
      filters::AuthPolicy& ap = rs.auth.emplace();
      for (const std::string& name : a->jwt) {
        for (const auto& p : t->providers) {
          if (p->name == name) ap.jwt.push_back(p.get());
        }
      }
      ap.api_key = a->api_key;
      ap.api_key_from = a->api_key_from;
      ap.hmac = a->hmac;
      ap.client_cert = a->client_cert;
      ap.hmac_window_s = a->hmac_window_s;
      ap.hmac_max_body_bytes = a->hmac_max_body_bytes;
      ap.optional = a->optional;
    }
    // RBAC: the route's own `filters.rbac`, else the roles of the route's own auth, else the
    // default's `filters.rbac`, else (when the route has no auth of its own) the default auth's.
    auto rbac_roles = [](const config::RbacConfig& r) {
      return r.enabled ? Roles{&r.roles, &r.method_roles} : Roles{};
    };
    auto auth_roles = [](const std::optional<config::AuthConfig>& a) -> std::optional<Roles> {
      if (!a || (a->roles.empty() && a->method_roles.empty())) return std::nullopt;
      return a->enabled ? Roles{&a->roles, &a->method_roles} : Roles{};
    };
    std::optional<Roles> roles;
    if (own.rbac) {
      roles = rbac_roles(*own.rbac);
    } else if (auto r = auth_roles(own.auth)) {
      roles = r;
    } else if (def.rbac) {
      roles = rbac_roles(*def.rbac);
      rs.rbac_from_default = true;
    } else if (!own.auth) {
      roles = auth_roles(def.auth);
      rs.rbac_from_default = true;
    }
    if (roles && roles->roles != nullptr) {
      rs.rbac.roles = *roles->roles;
      for (const auto& [method, list] : *roles->method_roles) {
        rs.rbac.method_roles[static_cast<size_t>(http::parse_method(method))] = list;
      }
    }
  }
  // The identity headers sluice sets are dropped from every client request, authenticated route
  // or not, so an upstream can trust them wherever they appear.
  t->owned_headers = std::move(owned);
  if (const config::SecurityHeadersConfig* h = effective(no_headers, cfg.security.headers)) {
    std::string why;
    t->default_headers = compile_headers(*h, &why);
    if (!t->default_headers) errors->push_back(at(cfg, {}, "security.headers", why));
  }
  if (errors->size() != errors_before) return nullptr;
  return t;
}

}  // namespace sluice::proxy
