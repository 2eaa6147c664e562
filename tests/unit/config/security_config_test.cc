// consumers, jwt_providers and security (top level and per route): every key, the defaults and
// `off`; the errors of security (see credentials_config_test.cc for consumers and jwt_providers),
// each with its line and key path.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "security_config_test_util.h"

namespace sluice::config {
namespace {

using security_config_test_util::expect_error;
using security_config_test_util::kHashA;
using security_config_test_util::kHashB;
using security_config_test_util::kHead;
using security_config_test_util::load;
using security_config_test_util::messages;
using security_config_test_util::upper_hex;

TEST(SecurityConfig, EveryKey) {
  const LoadResult r = load(R"(
listeners:
  - address: 127.0.0.1:8080
consumers:
  - name: alice
    api_keys: [")" + upper_hex(kHashA) +
                            R"("]
    hmac_keys:
      - {key_id: alice-1, secret: "0123456789abcdef"}
      - {key_id: alice-2, secret_file: @DIR@/secret}
      - {key_id: alice-3, secret_file: @DIR@/secret2}
    roles: [admin, reader, admin]
  - name: bob
    api_keys: )" + kHashB + R"Y(
jwt_providers:
  - name: corp
    issuer: https://idp.example.com
    audiences: [api, web]
    algorithms: [RS256, ES256]
    jwks_url: http://127.0.0.1:9000/jwks.json
    jwks_refresh: 5m
    jwks_min_refresh: 20s
    keys:
      - {pem_file: @DIR@/pub.pem, kid: k1, alg: ES256}
      - {secret: "at-least-16-bytes", alg: HS256, kid: h1}
    clock_skew: 30s
    require_exp: false
    required_claims: [sub, tenant]
    roles_claim: groups
    from: [bearer, "header:X-Token", "cookie:session", "query:access_token"]
    forward_claims: {X-User-Id: sub, x-tenant: tenant}
  - name: partner
    issuers: [https://a.example, https://b.example]
    audience: api
    jwks_url: http://[::1]:9001/keys
security:
  auth:
    jwt: [corp, partner]
    api_key: {header: X-Api-Key-2}
    hmac: {window: 2m, max_body: 64KiB}
    roles: [reader]
    method_roles: {delete: [admin], POST: [admin, writer]}
    optional: true
  ip_rules: {allow: [10.0.0.0/8, "2001:db8::/32"], deny: 10.1.0.0/16}
  cors:
    origins: ["https://app.example.com", "https://*.example.com"]
    methods: [GET, POST]
    headers: [content-type, authorization]
    expose: [x-request-id]
    credentials: true
    max_age: 10m
  headers:
    hsts: {max_age: 365d, include_subdomains: true, preload: true}
    nosniff: true
    frame_options: deny
    referrer_policy: no-referrer
    content_security_policy: "default-src 'self'"
    permissions_policy: "geolocation=()"
    server: hide
routes:
  - name: open
    match: {path: /open}
    respond: {status: 200}
    security: {auth: off, cors: off}
  - name: keyed
    match: {path: /keyed}
    respond: {status: 200}
    security:
      auth: {api_key: {query: key}}
      ip_rules: {allow: 127.0.0.1}
      headers: {server: sluice, hsts: {}}
  - name: plain
    match: {path: /plain}
    respond: {status: 200}
  - name: none
    match: {path: /none}
    respond: {status: 200}
    security: off
)Y");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  const Config& c = *r.config;

  ASSERT_EQ(c.consumers.size(), 2u);
  const ConsumerConfig& alice = c.consumers[0];
  EXPECT_EQ(alice.name, "alice");
  EXPECT_EQ(alice.mark.line, 4);
  EXPECT_EQ(alice.api_key_hashes, std::vector<std::string>{kHashA});  // lower-cased
  ASSERT_EQ(alice.hmac_keys.size(), 3u);
  EXPECT_EQ(alice.hmac_keys[0].key_id, "alice-1");
  EXPECT_EQ(alice.hmac_keys[0].secret, "0123456789abcdef");
  EXPECT_EQ(alice.hmac_keys[1].key_id, "alice-2");
  EXPECT_EQ(alice.hmac_keys[1].secret, "0123456789abcdef-from-file");  // one newline stripped
  EXPECT_EQ(alice.hmac_keys[2].secret, "0123456789abcdef\r\n");        // only one
  EXPECT_EQ(alice.roles, (std::vector<std::string>{"admin", "reader"}));
  EXPECT_EQ(c.consumers[1].name, "bob");
  EXPECT_EQ(c.consumers[1].api_key_hashes, std::vector<std::string>{kHashB});
  EXPECT_TRUE(c.consumers[1].hmac_keys.empty());

  ASSERT_EQ(c.jwt_providers.size(), 2u);
  const JwtProviderConfig& corp = c.jwt_providers[0];
  EXPECT_EQ(corp.name, "corp");
  EXPECT_EQ(corp.mark.line, 14);
  EXPECT_EQ(corp.issuers, std::vector<std::string>{"https://idp.example.com"});
  EXPECT_EQ(corp.audiences, (std::vector<std::string>{"api", "web"}));
  EXPECT_EQ(corp.algorithms, (std::vector<std::string>{"RS256", "ES256"}));
  EXPECT_EQ(corp.jwks_url, "http://127.0.0.1:9000/jwks.json");
  EXPECT_EQ(corp.jwks_refresh_ms, 300000u);
  EXPECT_EQ(corp.jwks_min_refresh_ms, 20000u);
  ASSERT_EQ(corp.keys.size(), 2u);
  EXPECT_NE(corp.keys[0].pem.find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_EQ(corp.keys[0].kid, "k1");
  EXPECT_EQ(corp.keys[0].alg, "ES256");
  EXPECT_TRUE(corp.keys[0].secret.empty());
  EXPECT_EQ(corp.keys[1].secret, "at-least-16-bytes");
  EXPECT_EQ(corp.keys[1].kid, "h1");
  EXPECT_EQ(corp.keys[1].alg, "HS256");
  EXPECT_TRUE(corp.keys[1].pem.empty());
  EXPECT_EQ(corp.clock_skew_s, 30u);
  EXPECT_FALSE(corp.require_exp);
  EXPECT_EQ(corp.required_claims, (std::vector<std::string>{"sub", "tenant"}));
  EXPECT_EQ(corp.roles_claim, "groups");
  ASSERT_EQ(corp.from.size(), 4u);
  EXPECT_EQ(corp.from[0].kind, TokenSource::Kind::kBearer);
  EXPECT_EQ(corp.from[1].kind, TokenSource::Kind::kHeader);
  EXPECT_EQ(corp.from[1].name, "x-token");
  EXPECT_EQ(corp.from[2].kind, TokenSource::Kind::kCookie);
  EXPECT_EQ(corp.from[2].name, "session");
  EXPECT_EQ(corp.from[3].kind, TokenSource::Kind::kQuery);
  EXPECT_EQ(corp.from[3].name, "access_token");
  const std::vector<std::pair<std::string, std::string>> forwarded{{"x-user-id", "sub"},
                                                                   {"x-tenant", "tenant"}};
  EXPECT_EQ(corp.forward_claims, forwarded);
  const JwtProviderConfig& partner = c.jwt_providers[1];
  EXPECT_EQ(partner.issuers, (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(partner.audiences, std::vector<std::string>{"api"});
  EXPECT_TRUE(partner.keys.empty());

  ASSERT_TRUE(c.security.auth.has_value());
  const AuthConfig& a = *c.security.auth;
  EXPECT_TRUE(a.enabled);
  EXPECT_EQ(a.mark.line, 36);
  EXPECT_EQ(a.jwt, (std::vector<std::string>{"corp", "partner"}));
  EXPECT_TRUE(a.api_key);
  EXPECT_EQ(a.api_key_from.kind, TokenSource::Kind::kHeader);
  EXPECT_EQ(a.api_key_from.name, "x-api-key-2");
  EXPECT_TRUE(a.hmac);
  EXPECT_EQ(a.hmac_window_s, 120u);
  EXPECT_EQ(a.hmac_max_body_bytes, 64u * 1024);
  EXPECT_EQ(a.roles, std::vector<std::string>{"reader"});
  ASSERT_EQ(a.method_roles.size(), 2u);
  EXPECT_EQ(a.method_roles[0].first, "DELETE");
  EXPECT_EQ(a.method_roles[0].second, std::vector<std::string>{"admin"});
  EXPECT_EQ(a.method_roles[1].first, "POST");
  EXPECT_EQ(a.method_roles[1].second, (std::vector<std::string>{"admin", "writer"}));
  EXPECT_TRUE(a.optional);

  ASSERT_TRUE(c.security.ip_rules.has_value());
  EXPECT_TRUE(c.security.ip_rules->enabled);
  EXPECT_EQ(c.security.ip_rules->allow, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"}));
  EXPECT_EQ(c.security.ip_rules->deny, std::vector<std::string>{"10.1.0.0/16"});

  ASSERT_TRUE(c.security.cors.has_value());
  const CorsConfig& cors = *c.security.cors;
  EXPECT_TRUE(cors.enabled);
  EXPECT_EQ(cors.origins,
            (std::vector<std::string>{"https://app.example.com", "https://*.example.com"}));
  EXPECT_EQ(cors.methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(cors.allowed_headers, (std::vector<std::string>{"content-type", "authorization"}));
  EXPECT_EQ(cors.exposed_headers, std::vector<std::string>{"x-request-id"});
  EXPECT_TRUE(cors.credentials);
  EXPECT_EQ(cors.max_age_s, 600u);

  ASSERT_TRUE(c.security.headers.has_value());
  const SecurityHeadersConfig& h = *c.security.headers;
  EXPECT_TRUE(h.enabled);
  EXPECT_EQ(h.hsts_max_age_s, 31536000u);
  EXPECT_TRUE(h.hsts_include_subdomains);
  EXPECT_TRUE(h.hsts_preload);
  EXPECT_TRUE(h.content_type_nosniff);
  EXPECT_EQ(h.frame_options, "DENY");
  EXPECT_EQ(h.referrer_policy, "no-referrer");
  EXPECT_EQ(h.content_security_policy, "default-src 'self'");
  EXPECT_EQ(h.permissions_policy, "geolocation=()");
  EXPECT_EQ(h.server, "hide");

  ASSERT_EQ(c.routes.size(), 4u);
  // `off`: present and disabled; what a route leaves out stays unset (the default applies).
  const SecurityConfig& open = *c.routes[0].security;
  ASSERT_TRUE(open.auth.has_value());
  EXPECT_FALSE(open.auth->enabled);
  ASSERT_TRUE(open.cors.has_value());
  EXPECT_FALSE(open.cors->enabled);
  EXPECT_FALSE(open.ip_rules.has_value());
  EXPECT_FALSE(open.headers.has_value());

  const SecurityConfig& keyed = *c.routes[1].security;
  ASSERT_TRUE(keyed.auth.has_value());
  EXPECT_TRUE(keyed.auth->enabled);
  EXPECT_TRUE(keyed.auth->api_key);
  EXPECT_EQ(keyed.auth->api_key_from.kind, TokenSource::Kind::kQuery);
  EXPECT_EQ(keyed.auth->api_key_from.name, "key");
  EXPECT_TRUE(keyed.auth->jwt.empty());
  EXPECT_FALSE(keyed.auth->hmac);
  ASSERT_TRUE(keyed.ip_rules.has_value());
  EXPECT_EQ(keyed.ip_rules->allow, std::vector<std::string>{"127.0.0.1"});
  ASSERT_TRUE(keyed.headers.has_value());
  EXPECT_EQ(keyed.headers->server, "sluice");
  EXPECT_EQ(keyed.headers->hsts_max_age_s, 31536000u);  // hsts: {} is one year
  EXPECT_FALSE(keyed.headers->hsts_include_subdomains);
  EXPECT_FALSE(keyed.headers->content_type_nosniff);
  EXPECT_FALSE(keyed.cors.has_value());

  const SecurityConfig& plain = *c.routes[2].security;
  EXPECT_FALSE(plain.auth || plain.ip_rules || plain.cors || plain.headers);

  const SecurityConfig& none = *c.routes[3].security;
  ASSERT_TRUE(none.auth && none.ip_rules && none.cors && none.headers);
  EXPECT_FALSE(none.auth->enabled || none.ip_rules->enabled || none.cors->enabled ||
               none.headers->enabled);
}

TEST(SecurityConfig, Defaults) {
  const LoadResult r = load(R"(
listeners:
  - address: 127.0.0.1:8080
consumers:
  - name: svc
    api_keys: [")" + kHashA +
                            R"("]
    hmac_keys: [{key_id: svc-1, secret: "0123456789abcdef"}]
jwt_providers:
  - name: idp
    jwks_url: http://idp.internal/jwks
routes:
  - name: r
    match: {path: /}
    respond: {}
    security:
      auth: {api_key: true, hmac: true, jwt: idp}
      ip_rules:
      cors: {origins: "*"}
      headers: {}
)");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  const Config& c = *r.config;
  EXPECT_TRUE(c.consumers[0].roles.empty());
  const JwtProviderConfig& p = c.jwt_providers[0];
  EXPECT_TRUE(p.issuers.empty());
  EXPECT_TRUE(p.audiences.empty());
  EXPECT_TRUE(p.algorithms.empty());
  EXPECT_EQ(p.jwks_refresh_ms, 300000u);
  EXPECT_EQ(p.jwks_min_refresh_ms, 10000u);
  EXPECT_TRUE(p.keys.empty());
  EXPECT_EQ(p.clock_skew_s, 60u);
  EXPECT_TRUE(p.require_exp);
  EXPECT_TRUE(p.required_claims.empty());
  EXPECT_EQ(p.roles_claim, "roles");
  ASSERT_EQ(p.from.size(), 1u);
  EXPECT_EQ(p.from[0].kind, TokenSource::Kind::kBearer);
  EXPECT_TRUE(p.forward_claims.empty());

  EXPECT_FALSE(c.security.auth || c.security.ip_rules || c.security.cors || c.security.headers);

  const SecurityConfig& s = *c.routes[0].security;
  ASSERT_TRUE(s.auth.has_value());
  EXPECT_TRUE(s.auth->enabled);
  EXPECT_EQ(s.auth->jwt, std::vector<std::string>{"idp"});
  EXPECT_TRUE(s.auth->api_key);
  EXPECT_EQ(s.auth->api_key_from.kind, TokenSource::Kind::kHeader);
  EXPECT_EQ(s.auth->api_key_from.name, "x-api-key");
  EXPECT_TRUE(s.auth->hmac);
  EXPECT_EQ(s.auth->hmac_window_s, 300u);
  EXPECT_EQ(s.auth->hmac_max_body_bytes, 1u << 20);
  EXPECT_TRUE(s.auth->roles.empty());
  EXPECT_TRUE(s.auth->method_roles.empty());
  EXPECT_FALSE(s.auth->optional);
  ASSERT_TRUE(s.ip_rules.has_value());
  EXPECT_TRUE(s.ip_rules->enabled);
  EXPECT_TRUE(s.ip_rules->allow.empty() && s.ip_rules->deny.empty());
  ASSERT_TRUE(s.cors.has_value());
  EXPECT_EQ(s.cors->origins, std::vector<std::string>{"*"});
  EXPECT_TRUE(s.cors->methods.empty());
  EXPECT_FALSE(s.cors->credentials);
  EXPECT_EQ(s.cors->max_age_s, 600u);
  ASSERT_TRUE(s.headers.has_value());
  EXPECT_TRUE(s.headers->enabled);
  EXPECT_EQ(s.headers->hsts_max_age_s, 0u);
  EXPECT_FALSE(s.headers->content_type_nosniff);
  EXPECT_EQ(s.headers->frame_options, "");
  EXPECT_EQ(s.headers->server, "");
}

// --- security ----------------------------------------------------------------------------------

TEST(SecurityConfigErrors, Auth) {
  expect_error(kHead + R"(security:
  auth: {roles: [admin]}
)",
               4, "security.auth",
               "auth needs at least one of 'jwt', 'api_key', 'hmac' or 'client_cert'");
  expect_error(kHead + R"(security:
  auth: {api_key: false}
)",
               4, "security.auth", "auth needs at least one of");
  expect_error(kHead + R"(security:
  auth: on
)",
               4, "security.auth", "expected a map or 'off', got 'on'");
  expect_error(kHead + R"(jwt_providers:
  - name: corp
    jwks_url: http://h/j
security:
  auth:
    jwt: [corp, crop2]
)",
               8, "security.auth.jwt[1]", "JWT provider 'crop2' is not defined");
  expect_error(kHead + R"(jwt_providers:
  - name: corp
    jwks_url: http://h/j
routes:
  - name: r
    match: {path: /}
    respond: {}
    security: {auth: {jwt: crop}}
)",
               10, "routes[0].security.auth.jwt",
               "JWT provider 'crop' is not defined (did you mean 'corp'?)");
  expect_error(kHead + R"(consumers:
  - name: a
    hmac_keys: [{key_id: k, secret: "0123456789abcdef"}]
security:
  auth: {api_key: true}
)",
               7, "security.auth.api_key", "no consumer has api_keys");
  expect_error(kHead + R"(consumers:
  - name: a
    api_keys: [")" +
                   kHashA + R"("]
routes:
  - name: r
    match: {path: /}
    respond: {}
    security:
      auth: {hmac: {window: 60s}}
)",
               11, "routes[0].security.auth.hmac", "no consumer has hmac_keys");
  expect_error(kHead + R"(security:
  auth:
    jwt: []
)",
               5, "security.auth.jwt", "at least one JWT provider name is needed");
  expect_error(kHead + R"(consumers: [{name: a, api_keys: [")" + kHashA + R"("]}]
security:
  auth:
    api_key: {header: x-key, query: key}
)",
               6, "security.auth.api_key.query", "give 'header' or 'query', not both");
  expect_error(kHead + R"(consumers: [{name: a, api_keys: [")" + kHashA + R"("]}]
security:
  auth:
    api_key: true
    method_roles: {CONNECT: [admin]}
)",
               7, "security.auth.method_roles.CONNECT", "method 'CONNECT' cannot be routed");
  expect_error(kHead + R"(consumers: [{name: a, api_keys: [")" + kHashA + R"("]}]
security:
  auth:
    api_key: true
    method_roles: {get: [a], GET: [b]}
)",
               7, "security.auth.method_roles.GET", "duplicate method 'GET'");
  expect_error(kHead + R"(consumers: [{name: a, api_keys: [")" + kHashA + R"("]}]
security:
  auth:
    api_key: true
    roles: ["a b"]
)",
               7, "security.auth.roles[0]", "invalid role 'a b'");
  expect_error(kHead + R"(consumers: [{name: a, api_keys: [")" + kHashA + R"("]}]
security:
  auth:
    api_key: true
    optinal: true
)",
               7, "security.auth.optinal", "unknown key 'optinal' (did you mean 'optional'?)");
}

TEST(SecurityConfigErrors, IpRulesCorsHeaders) {
  expect_error(kHead + R"(security:
  ip_rules: {allow: [10.0.0.0/8, 10.0.0.0/33]}
)",
               4, "security.ip_rules.allow[1]", "10.0.0.0/33");
  expect_error(kHead + R"(security:
  ip_rule: {allow: 10.0.0.0/8}
)",
               4, "security.ip_rule", "unknown key 'ip_rule' (did you mean 'ip_rules'?)");
  expect_error(kHead + R"(security:
  cors:
    origins: ["https://app.example.com", "app.example.com"]
)",
               5, "security.cors.origins[1]", "must look like scheme://host[:port]");
  expect_error(kHead + R"(security:
  cors:
    origins: "*"
    credentials: true
)",
               5, "security.cors.origins", "cannot be combined with credentials");
  expect_error(kHead + R"(security:
  cors:
    origins: ["https://a.example"]
    headers: [content-type, "*"]
    credentials: true
)",
               6, "security.cors.headers[1]", "cannot be combined with credentials");
  expect_error(kHead + R"(security:
  cors: {methods: [GET]}
)",
               4, "security.cors.origins", "missing required key 'origins'");
  expect_error(kHead + R"(security:
  headers:
    hsts: {max_age: 365d, preload: true}
)",
               5, "security.headers.hsts.preload", "preload needs include_subdomains");
  expect_error(kHead + R"(security:
  headers:
    referrer_policy: sometimes
)",
               5, "security.headers.referrer_policy", "unknown referrer_policy");
  expect_error(kHead + R"(security:
  headers:
    frame_options: ALLOW
)",
               5, "security.headers.frame_options", "expected DENY or SAMEORIGIN");
  expect_error(kHead + R"(security:
  headers:
    content_security_policy: " default-src"
)",
               5, "security.headers.content_security_policy", "not a valid header value");
  expect_error(kHead + R"(routes:
  - name: r
    match: {path: /}
    respond: {}
    securty: off
)",
               7, "routes[0].securty", "unknown key 'securty' (did you mean 'security'?)");
  expect_error(kHead + R"(routes:
  - name: r
    match: {path: /}
    respond: {}
    security: on
)",
               7, "routes[0].security", "expected a map or 'off'");
}

// Every error of a file is reported, in file order.
TEST(SecurityConfigErrors, AllReported) {
  const LoadResult r = load(kHead + R"(consumers:
  - name: a
    api_keys: [nope]
jwt_providers:
  - name: p
security:
  auth: {jwt: q}
)");
  ASSERT_EQ(r.errors.size(), 3u) << testing::PrintToString(messages(r));
  EXPECT_EQ(r.errors[0].mark.line, 5);
  EXPECT_EQ(r.errors[1].mark.line, 7);
  EXPECT_EQ(r.errors[2].mark.line, 9);
  EXPECT_EQ(r.errors[2].key, "security.auth.jwt");
}

}  // namespace
}  // namespace sluice::config
