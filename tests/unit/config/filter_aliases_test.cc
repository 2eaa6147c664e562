// The `filters:` entries that name an older section (auth, rbac, cors, security_headers,
// rate_limit, respond): parsed into that section, kept apart for their when/timeout keys, and
// refused when both forms are given, a per-route one is a default, or rbac has no roles.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "security_config_test_util.h"

namespace sluice::config {
namespace {

using security_config_test_util::expect_error;
using security_config_test_util::kHashA;
using security_config_test_util::load;
using security_config_test_util::messages;

std::string head() {
  return R"(
listeners: [{address: 127.0.0.1:8080}]
consumers: [{name: alice, api_keys: [")" +
         std::string(kHashA) + R"("], roles: [admin]}]
upstreams: [{name: up, targets: [{address: 127.0.0.1:9}]}]
)";
}

TEST(FilterAliases, ParsedIntoTheirSections) {
  const LoadResult r = load(head() + R"(filters:
  auth: {api_key: true, when: {methods: [POST]}}
  rbac: {roles: [admin], method_roles: {DELETE: [root]}}
  security_headers: {nosniff: true}
routes:
  - name: a
    match: {path: /a}
    upstream: up
    filters:
      cors: {origins: ["https://x.test"]}
      rate_limit: {policies: [{name: p, key: route, limit: 5, period: 1s}], timeout: 10ms}
      request_headers: {set: {x-a: b}}
  - name: b
    match: {path: /b}
    filters:
      auth: off
      respond: {status: 201, body: made}
)");
  ASSERT_TRUE(r.ok()) << messages(r)[0];
  const Config& c = *r.config;
  ASSERT_TRUE(c.security.auth && c.security.auth->enabled && c.security.auth->api_key);
  ASSERT_TRUE(c.security.rbac && c.security.rbac->enabled);
  EXPECT_EQ(c.security.rbac->roles, (std::vector<std::string>{"admin"}));
  ASSERT_EQ(c.security.rbac->method_roles.size(), 1u);
  EXPECT_EQ(c.security.rbac->method_roles[0].first, "DELETE");
  ASSERT_TRUE(c.security.headers && c.security.headers->content_type_nosniff);
  EXPECT_TRUE(c.filters.empty()) << "aliases are not factory entries";
  ASSERT_EQ(c.filter_aliases.size(), 1u) << "only the entry with when/timeout is kept";
  EXPECT_EQ(c.filter_aliases[0].name, "auth");

  const RouteConfig& a = c.routes[0];
  ASSERT_TRUE(a.security->cors && a.security->cors->enabled);
  ASSERT_EQ(a.rate_limits.size(), 1u);
  EXPECT_EQ(a.rate_limits[0].limit, 5u);
  ASSERT_EQ(a.filters.size(), 1u);
  EXPECT_EQ(a.filters[0].name, "request_headers");
  ASSERT_EQ(a.filter_aliases.size(), 1u);
  EXPECT_EQ(a.filter_aliases[0].name, "rate_limit");

  const RouteConfig& b = c.routes[1];
  ASSERT_TRUE(b.security->auth);
  EXPECT_FALSE(b.security->auth->enabled) << "auth: off is present and switched off";
  ASSERT_TRUE(b.respond);
  EXPECT_EQ(b.respond->status, 201);
  EXPECT_EQ(b.respond->body, "made");
  EXPECT_TRUE(b.upstream.empty());
}

TEST(FilterAliases, BothFormsAtOneLevel) {
  expect_error(head() + R"(routes:
  - name: a
    match: {path: /a}
    upstream: up
    security: {cors: {origins: ["https://x.test"]}}
    filters:
      cors: {origins: ["https://y.test"]}
)",
               10, "routes[0].filters.cors", "give 'security.cors' or 'filters.cors', not both");
  expect_error(head() + R"(routes:
  - name: a
    match: {path: /a}
    upstream: up
    rate_limits: [{name: p, key: route, limit: 5, period: 1s}]
    filters:
      rate_limit: [{name: q, key: route, limit: 5, period: 1s}]
)",
               10, "routes[0].filters.rate_limit", "give 'rate_limits' or 'filters.rate_limit'");
  expect_error(head() + R"(filters:
  auth: {api_key: true, roles: [admin]}
  rbac: {roles: [admin]}
routes:
  - name: a
    match: {path: /a}
    upstream: up
)",
               6, "filters.rbac", "give roles in 'auth' or in 'filters.rbac', not both");
}

TEST(FilterAliases, PerRouteOnesAreNotDefaults) {
  expect_error(head() + R"(filters:
  respond: {status: 200}
routes:
  - name: a
    match: {path: /a}
    upstream: up
)",
               5, "filters.respond", "'respond' is set per route, not as a default");
}

TEST(FilterAliases, RbacNeedsRolesAndRateLimitMapNeedsPolicies) {
  expect_error(head() + R"(routes:
  - name: a
    match: {path: /a}
    upstream: up
    filters:
      rbac: {}
)",
               9, "routes[0].filters.rbac", "rbac needs 'roles', 'method_roles' or both");
  expect_error(head() + R"(routes:
  - name: a
    match: {path: /a}
    upstream: up
    filters:
      rate_limit: {when: {methods: [GET]}}
)",
               9, "routes[0].filters.rate_limit.policies", "missing required key 'policies'");
}

}  // namespace
}  // namespace sluice::config
