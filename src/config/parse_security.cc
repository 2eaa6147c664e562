// Parser's `security` sections (top level and per route): auth and its method roles, ip rules,
// cors and security headers, and the check of their references once the file is read.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "auth/cidr.h"
#include "auth/cors.h"
#include "auth/security_headers.h"
#include "config/config.h"
#include "config/parser.h"
#include "config/reader.h"
#include "config/scalars.h"

namespace sluice::config {

namespace {

constexpr uint64_t kMaxHmacBodyBytes = kMiB * 1024;  // 1GiB
constexpr uint64_t kDefaultHstsMaxAgeS = 31536000;   // one year

}  // namespace

void Parser::parse_security(const Item& it, SecurityConfig& s) {
  if (it.node.is_scalar()) {
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
    if (v->node.is_scalar()) {
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

void Parser::parse_auth(const Item& it, AuthConfig& a) {
  std::optional<MapItem> m =
      map(it, {"jwt", "api_key", "hmac", "client_cert", "roles", "method_roles", "optional"});
  if (!m) return;
  a.enabled = true;
  // Whether some credential is accepted; a key that failed to parse counts (it is reported).
  bool any = false;
  auto given = [](const Item& v) { return !(v.node.is_scalar() && v.node.scalar() == "false"); };
  if (const Item* j = m->get("jwt")) {
    any = true;
    const std::vector<Item> names = list_or_one(*j);
    if (names.empty() && (j->node.is_null() || j->node.is_sequence())) {
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
    if (k->node.is_scalar()) {
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
    if (h->node.is_scalar()) {
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
  if (const Item* r = m->get("method_roles")) parse_method_roles(*r, a.method_roles);
  if (const Item* o = m->get("optional")) {
    if (auto b = boolean(*o)) a.optional = *b;
  }
  if (!any) {
    error(it.mark, it.path,
          "auth needs at least one of 'jwt', 'api_key', 'hmac' or 'client_cert' (write "
          "'auth: off' for no authentication)");
  }
}

void Parser::parse_rbac(const Item& it, RbacConfig& r) {
  std::optional<MapItem> m = map(it, {"roles", "method_roles"});
  if (!m) return;
  r.enabled = true;
  r.mark = it.mark;
  if (const Item* v = m->get("roles")) r.roles = role_list(*v);
  if (const Item* v = m->get("method_roles")) parse_method_roles(*v, r.method_roles);
  if (m->get("roles") == nullptr && m->get("method_roles") == nullptr) {
    error(it.mark, it.path, "rbac needs 'roles', 'method_roles' or both");
  }
}

void Parser::take_filter_aliases(std::vector<FilterSpec>& specs, std::vector<FilterSpec>& aliases,
                                 SecurityConfig& sec, RouteConfig* route,
                                 std::optional<Item>* respond) {
  // The keys every chain entry takes are read when the chain is built; the section's parser
  // sees the entry without them (the values keep their marks).
  auto settings = [&](const FilterSpec& f) {
    if (!f.node.is_map()) return Item{f.node, f.path, f.mark};
    static constexpr std::string_view kCommon[] = {"when", "timeout", "on_timeout"};
    Node own = f.node.without_keys(kCommon);
    if (own.size() != f.node.size()) aliases.push_back(f);
    return Item{std::move(own), f.path, f.mark};
  };
  // A section given as a map, or `off` (present but switched off).
  auto section = [&](const FilterSpec& f, auto& out, auto parse) {
    typename std::remove_reference_t<decltype(out)>::value_type value;
    if (!f.off) parse(settings(f), value);
    out = std::move(value);
  };
  auto both = [&](const FilterSpec& f, std::string_view older) {
    error(f.key_mark, f.path,
          "give '" + std::string(older) + "' or 'filters." + f.name + "', not both");
    return true;
  };
  std::erase_if(specs, [&](const FilterSpec& f) {
    if (f.name == "auth") {
      if (sec.auth) return both(f, "security.auth");
      section(f, sec.auth, [&](const Item& i, AuthConfig& a) {
        a.mark = i.mark;
        parse_auth(i, a);
      });
    } else if (f.name == "rbac") {
      section(f, sec.rbac, [&](const Item& i, RbacConfig& r) { parse_rbac(i, r); });
    } else if (f.name == "cors") {
      if (sec.cors) return both(f, "security.cors");
      section(f, sec.cors, [&](const Item& i, CorsConfig& c) { parse_cors(i, c); });
    } else if (f.name == "security_headers") {
      if (sec.headers) return both(f, "security.headers");
      section(f, sec.headers,
              [&](const Item& i, SecurityHeadersConfig& h) { parse_security_headers(i, h); });
    } else if (f.name != "rate_limit" && f.name != "respond") {
      return false;
    } else if (route == nullptr) {
      error(f.key_mark, f.path, "'" + f.name + "' is set per route, not as a default");
    } else if (f.name == "rate_limit") {
      if (!route->rate_limits.empty()) return both(f, "rate_limits");
      if (f.off) return true;
      // The list of policies, or {policies: [...]} with the keys of every entry.
      const Item v = settings(f);
      if (!v.node.is_map()) {
        parse_rate_limits(v, *route);
      } else if (std::optional<MapItem> m = map(v, {"policies"})) {
        if (const Item* p = require(*m, "policies")) parse_rate_limits(*p, *route);
      }
    } else if (!f.off) {
      *respond = settings(f);
    }
    return true;
  });
  if (sec.rbac && sec.auth && (!sec.auth->roles.empty() || !sec.auth->method_roles.empty())) {
    error(sec.rbac->mark, "filters.rbac", "give roles in 'auth' or in 'filters.rbac', not both");
  }
}

void Parser::parse_method_roles(
    const Item& it, std::vector<std::pair<std::string, std::vector<std::string>>>& out) {
  for (const MapEntry& e : entries(it, "methods to roles", "method")) {
    const std::string& path = e.value.path;
    const Mark key_mark = e.key_mark;
    const Node& v = e.value.node;
    std::optional<std::string> method =
        route_method(Item{Node::scalar_node(e.key, key_mark), path, key_mark});
    if (!method) continue;
    const bool dup =
        std::any_of(out.begin(), out.end(), [&](const auto& mr) { return mr.first == *method; });
    if (dup) {
      error(key_mark, path, "duplicate method " + quote(*method));
      continue;
    }
    const Item& value = e.value;
    std::vector<std::string> roles = role_list(value);
    if (roles.empty() && (v.is_null() || v.is_sequence())) {
      error(value.mark, path, "at least one role is needed");
    }
    out.emplace_back(std::move(*method), std::move(roles));
  }
}

void Parser::parse_ip_rules(const Item& it, IpRulesConfig& r) {
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

void Parser::parse_cors(const Item& it, CorsConfig& c) {
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
        (v->node.is_null() || v->node.is_sequence())) {
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

void Parser::parse_security_headers(const Item& it, SecurityHeadersConfig& h) {
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

std::vector<std::string> Parser::role_list(const Item& it) {
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

void Parser::finish_security(const Config& cfg) {
  std::vector<std::string_view> providers;
  for (const auto& [name, mark] : jwt_provider_names_) providers.push_back(name);
  for (const Item& ref : jwt_refs_) {
    const std::string name(ref.node.scalar());
    if (jwt_provider_names_.contains(name)) continue;
    std::string msg = "JWT provider " + quote(name) + " is not defined";
    const std::string_view best = suggest(name, providers);
    if (!best.empty()) msg += " (did you mean '" + std::string(best) + "'?)";
    error(ref.mark, ref.path, std::move(msg));
  }
  const bool api_keys =
      std::any_of(cfg.consumers.begin(), cfg.consumers.end(),
                  [](const ConsumerConfig& c) { return !c.api_key_hashes.empty(); });
  const bool hmac_keys = std::any_of(cfg.consumers.begin(), cfg.consumers.end(),
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

}  // namespace sluice::config
