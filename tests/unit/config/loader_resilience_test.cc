// The upstream keys for balancing and resilience (balancer, hash_key, sticky, health_check,
// outlier, breaker, dns_refresh, retry_budget) and the route's retry policy.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace sluice::config {
namespace {

// As in loader_test.cc: line 1 of the text is the line after R"(.
LoadResult load(std::string yaml) {
  if (!yaml.empty() && yaml.front() == '\n') yaml.erase(0, 1);
  return load_config_string(yaml, "test.yaml");
}

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.to_string());
  return out;
}

// The config of a file that must load.
Config ok(const std::string& yaml) {
  LoadResult r = load(yaml);
  EXPECT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  return r.config.value_or(Config{});
}

// One upstream "u" with `extra` (indented 4) added to it.
std::string upstream_with(const std::string& extra) {
  return "listeners: [{address: \":80\"}]\n"
         "upstreams:\n"
         "  - name: u\n"
         "    targets: [u.internal:80]\n" +
         extra;
}

// One route "r" to upstream "u" with `extra` (indented 4) added to it.
std::string route_with(const std::string& extra) {
  return upstream_with("") +
         "routes:\n"
         "  - name: r\n"
         "    match: {path: /}\n"
         "    upstream: u\n" +
         extra;
}

using Ranges = std::vector<std::pair<int, int>>;

constexpr const char* kFullUpstream = R"(
listeners: [{address: ":80"}]
upstreams:
  - name: users
    targets:
      - address: Users-1.internal:8080
        weight: 2
      - 10.0.0.2:8080
    balancer: consistent_hash
    hash_key: header:X-User-Id
    sticky: {cookie: sluice_sticky, secret: "0123456789abcdef-secret", max_age: 1h}
    health_check:
      path: /healthz?full=1
      host: Users.internal:8080
      interval: 5s
      timeout: 1s
      healthy_threshold: 3
      unhealthy_threshold: 4
      expected_statuses: [200-299, 304]
    outlier: {consecutive_failures: 7, base_ejection: 10s, max_ejection: 5m, max_ejection_percent: 25%}
    breaker:
      error_rate: 40%
      min_requests: 30
      window: 20s
      consecutive_failures: 9
      open: 45s
      half_open_requests: 2
      per_target: true
      max_connections: 1000
      max_pending: 100
      max_requests: 500
    dns_refresh: 15s
    retry_budget: {percent: 10, min_concurrent: 5}
routes:
  - name: users
    match: {path: "/users/{*rest}"}
    upstream: users
    timeout: 10s
    retry:
      attempts: 3
      on: [connect_failure, timeout, 503, 429, 503]
      per_try_timeout: 2s
      backoff: {base: 50ms, max: 1s}
)";

TEST(LoaderResilience, FullUpstreamRoundTrips) {
  const Config c = ok(kFullUpstream);
  ASSERT_EQ(c.upstreams.size(), 1u);
  const UpstreamConfig& u = c.upstreams[0];
  ASSERT_EQ(u.targets.size(), 2u);
  EXPECT_EQ(u.targets[0].address.host, "users-1.internal");  // a host name, resolved at run time
  EXPECT_EQ(u.targets[0].address.port, 8080);
  EXPECT_EQ(u.targets[0].weight, 2u);
  EXPECT_EQ(u.balancer, "consistent_hash");
  EXPECT_EQ(u.hash_key.source, HashKeyConfig::Source::kHeader);
  EXPECT_EQ(u.hash_key.name, "x-user-id");

  EXPECT_TRUE(u.sticky.enabled);
  EXPECT_EQ(u.sticky.cookie, "sluice_sticky");
  EXPECT_EQ(u.sticky.secret, "0123456789abcdef-secret");
  EXPECT_EQ(u.sticky.max_age_s, 3600u);

  const HealthCheckConfig& h = u.health_check;
  EXPECT_TRUE(h.enabled);
  EXPECT_EQ(h.path, "/healthz?full=1");
  EXPECT_EQ(h.host, "users.internal:8080");
  EXPECT_EQ(h.interval_ms, 5000u);
  EXPECT_EQ(h.timeout_ms, 1000u);
  EXPECT_EQ(h.healthy_threshold, 3u);
  EXPECT_EQ(h.unhealthy_threshold, 4u);
  EXPECT_EQ(h.expected_statuses, (Ranges{{200, 299}, {304, 304}}));

  const OutlierConfig& o = u.outlier;
  EXPECT_TRUE(o.enabled);
  EXPECT_EQ(o.consecutive_failures, 7u);
  EXPECT_EQ(o.base_ejection_ms, 10000u);
  EXPECT_EQ(o.max_ejection_ms, 300000u);
  EXPECT_EQ(o.max_ejection_percent, 25u);

  const BreakerConfig& b = u.breaker;
  EXPECT_TRUE(b.enabled);
  EXPECT_EQ(b.error_rate_percent, 40u);
  EXPECT_EQ(b.min_requests, 30u);
  EXPECT_EQ(b.window_ms, 20000u);
  EXPECT_EQ(b.consecutive_failures, 9u);
  EXPECT_EQ(b.open_ms, 45000u);
  EXPECT_EQ(b.half_open_requests, 2u);
  EXPECT_TRUE(b.per_target);
  EXPECT_EQ(b.max_connections, 1000u);
  EXPECT_EQ(b.max_pending, 100u);
  EXPECT_EQ(b.max_requests, 500u);

  EXPECT_EQ(u.dns_refresh_ms, 15000u);
  EXPECT_EQ(u.retry_budget_percent, 10u);
  EXPECT_EQ(u.retry_budget_min, 5u);

  ASSERT_EQ(c.routes.size(), 1u);
  const RouteConfig& r = c.routes[0];
  EXPECT_EQ(r.timeout_ms, 10000u);
  EXPECT_EQ(r.retry.attempts, 3u);
  EXPECT_TRUE(r.retry.on_connect_failure);
  EXPECT_FALSE(r.retry.on_reset);  // not listed
  EXPECT_TRUE(r.retry.on_timeout);
  EXPECT_EQ(r.retry.on_statuses, (std::vector<int>{503, 429}));  // duplicates dropped
  EXPECT_EQ(r.retry.per_try_timeout_ms, 2000u);
  EXPECT_EQ(r.retry.backoff_base_ms, 50u);
  EXPECT_EQ(r.retry.backoff_max_ms, 1000u);
}

TEST(LoaderResilience, DefaultsWhenAbsent) {
  const Config c = ok(route_with(""));
  const UpstreamConfig& u = c.upstreams.at(0);
  const UpstreamConfig d;
  EXPECT_EQ(u.balancer, "round_robin");
  EXPECT_EQ(u.hash_key.source, HashKeyConfig::Source::kClientIp);
  EXPECT_EQ(u.hash_key.name, "");
  EXPECT_FALSE(u.sticky.enabled);
  EXPECT_EQ(u.sticky.cookie, "sluice_sticky");
  EXPECT_EQ(u.sticky.max_age_s, 0u);
  EXPECT_FALSE(u.health_check.enabled);
  EXPECT_EQ(u.health_check.path, "/healthz");
  EXPECT_EQ(u.health_check.interval_ms, 5000u);
  EXPECT_EQ(u.health_check.timeout_ms, 1000u);
  EXPECT_EQ(u.health_check.expected_statuses, (Ranges{{200, 399}}));
  EXPECT_TRUE(u.outlier.enabled);  // passive ejection is on unless turned off
  EXPECT_EQ(u.outlier.consecutive_failures, 5u);
  EXPECT_EQ(u.outlier.base_ejection_ms, 30000u);
  EXPECT_EQ(u.outlier.max_ejection_ms, 300000u);
  EXPECT_EQ(u.outlier.max_ejection_percent, 50u);
  EXPECT_FALSE(u.breaker.enabled);
  EXPECT_EQ(u.breaker.error_rate_percent, d.breaker.error_rate_percent);
  EXPECT_EQ(u.breaker.window_ms, d.breaker.window_ms);
  EXPECT_EQ(u.dns_refresh_ms, 30000u);
  EXPECT_EQ(u.retry_budget_percent, 20u);
  EXPECT_EQ(u.retry_budget_min, 3u);

  const RetryConfig& rt = c.routes.at(0).retry;
  EXPECT_EQ(rt.attempts, 1u);  // no retries
  EXPECT_TRUE(rt.on_connect_failure);
  EXPECT_TRUE(rt.on_reset);
  EXPECT_TRUE(rt.on_timeout);
  EXPECT_EQ(rt.on_statuses, (std::vector<int>{502, 503, 504}));
  EXPECT_EQ(rt.per_try_timeout_ms, 0u);
  EXPECT_EQ(rt.backoff_base_ms, 25u);
  EXPECT_EQ(rt.backoff_max_ms, 250u);
}

TEST(LoaderResilience, PresenceEnablesWithDefaults) {
  const Config c = ok(route_with("    retry:\n") + "");
  EXPECT_EQ(c.routes.at(0).retry.attempts, 1u);
  const Config u =
      ok(upstream_with("    health_check:\n"
                       "    breaker: {}\n"
                       "    sticky: {secret: 0123456789abcdef}\n"
                       "    outlier: {}\n"
                       "    retry_budget:\n"));
  const UpstreamConfig& up = u.upstreams.at(0);
  EXPECT_TRUE(up.health_check.enabled);
  EXPECT_EQ(up.health_check.path, "/healthz");
  EXPECT_EQ(up.health_check.expected_statuses, (Ranges{{200, 399}}));
  EXPECT_TRUE(up.breaker.enabled);
  EXPECT_EQ(up.breaker.error_rate_percent, 50u);
  EXPECT_EQ(up.breaker.min_requests, 20u);
  EXPECT_EQ(up.breaker.window_ms, 10000u);
  EXPECT_EQ(up.breaker.open_ms, 30000u);
  EXPECT_EQ(up.breaker.half_open_requests, 1u);
  EXPECT_FALSE(up.breaker.per_target);
  EXPECT_TRUE(up.sticky.enabled);
  EXPECT_EQ(up.sticky.cookie, "sluice_sticky");
  EXPECT_EQ(up.sticky.secret, "0123456789abcdef");  // 16 bytes: the minimum
  EXPECT_TRUE(up.outlier.enabled);
  EXPECT_EQ(up.retry_budget_percent, 20u);
}

TEST(LoaderResilience, OutlierOff) {
  for (const char* off : {"    outlier: off\n", "    outlier: false\n",
                          "    outlier: {enabled: false, consecutive_failures: 3}\n"}) {
    const Config c = ok(upstream_with(off));
    EXPECT_FALSE(c.upstreams.at(0).outlier.enabled) << off;
  }
  const Config on = ok(upstream_with("    outlier: {enabled: true}\n"));
  EXPECT_TRUE(on.upstreams.at(0).outlier.enabled);
  EXPECT_EQ(messages(load(upstream_with("    outlier: on\n"))),
            std::vector<std::string>{
                "test.yaml:5:14: upstreams[0].outlier: expected a map or 'off', got 'on'"});
  EXPECT_EQ(messages(load(upstream_with("    outlier: [off]\n"))),
            std::vector<std::string>{
                "test.yaml:5:14: upstreams[0].outlier: expected a map or 'off', got a list"});
  EXPECT_EQ(messages(load(upstream_with("    outlier: {enabled: no}\n"))),
            std::vector<std::string>{"test.yaml:5:24: upstreams[0].outlier.enabled: expected "
                                     "true or false, got 'no'"});
}

TEST(LoaderResilience, Balancers) {
  for (const char* b : {"round_robin", "weighted_round_robin", "least_connections", "p2c",
                        "consistent_hash", "random"}) {
    const Config c = ok(upstream_with(std::string("    balancer: ") + b + "\n"));
    EXPECT_EQ(c.upstreams.at(0).balancer, b);
  }
  EXPECT_EQ(messages(load(upstream_with("    balancer: round-robin\n"))),
            std::vector<std::string>{"test.yaml:5:15: upstreams[0].balancer: unknown balancer "
                                     "'round-robin' (did you mean 'round_robin'?)"});
  EXPECT_EQ(messages(load(upstream_with("    balancer: fastest\n"))),
            std::vector<std::string>{
                "test.yaml:5:15: upstreams[0].balancer: unknown balancer 'fastest' (expected "
                "round_robin, weighted_round_robin, least_connections, p2c, consistent_hash or "
                "random)"});
}

TEST(LoaderResilience, HashKeys) {
  using Source = HashKeyConfig::Source;
  const std::pair<const char*, HashKeyConfig> cases[] = {
      {"client_ip", {Source::kClientIp, ""}},
      {"path", {Source::kPath, ""}},
      {"header:X-Tenant", {Source::kHeader, "x-tenant"}},
      {"cookie:Session_ID", {Source::kCookie, "Session_ID"}},
      {"query:user.id", {Source::kQuery, "user.id"}},
  };
  for (const auto& [text, want] : cases) {
    // Accepted with any balancer; only consistent_hash uses it.
    for (const char* balancer : {"consistent_hash", "round_robin"}) {
      const Config c = ok(upstream_with(std::string("    balancer: ") + balancer +
                                        "\n    hash_key: \"" + text + "\"\n"));
      EXPECT_EQ(c.upstreams.at(0).hash_key.source, want.source) << text;
      EXPECT_EQ(c.upstreams.at(0).hash_key.name, want.name) << text;
    }
  }
}

TEST(LoaderResilience, HashKeyErrors) {
  LoadResult r = load(upstream_with(R"(    balancer: consistent_hash
    hash_key: ip
  - name: a
    targets: [a:1]
    hash_key: "header:"
  - name: b
    targets: [b:1]
    hash_key: "header:x y"
  - name: c
    targets: [c:1]
    hash_key: "path:x"
  - name: d
    targets: [d:1]
    hash_key: "query:a=b"
  - name: e
    targets: [e:1]
    hash_key: [client_ip]
)"));
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:6:15: upstreams[0].hash_key: invalid hash key 'ip': expected "
                "client_ip, header:NAME, cookie:NAME, path or query:NAME",
                "test.yaml:9:15: upstreams[1].hash_key: invalid hash key 'header:': missing name "
                "after 'header:'",
                "test.yaml:12:15: upstreams[2].hash_key: invalid hash key 'header:x y': 'x y' is "
                "not a valid header name",
                "test.yaml:15:15: upstreams[3].hash_key: invalid hash key 'path:x': 'path' takes "
                "no name",
                "test.yaml:18:15: upstreams[4].hash_key: invalid hash key 'query:a=b': 'a=b' is "
                "not a valid query name",
                "test.yaml:21:15: upstreams[5].hash_key: expected a string, got a list",
            }));
}

TEST(LoaderResilience, StickyErrors) {
  LoadResult r = load(upstream_with(R"(    sticky: {cookie: "a b", max_age: 1500ms}
  - name: a
    targets: [a:1]
    sticky:
      secret: short
      max_age: forever
  - name: b
    targets: [b:1]
    sticky: {secret: 0123456789abcdef, max_age: 0, coookie: x}
)"));
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:5:13: upstreams[0].sticky.secret: missing required key 'secret'",
                "test.yaml:5:22: upstreams[0].sticky.cookie: invalid cookie name 'a b'",
                "test.yaml:5:38: upstreams[0].sticky.max_age: max_age must be a whole number of "
                "seconds, got '1500ms'",
                "test.yaml:9:15: upstreams[1].sticky.secret: secret must be at least 16 bytes "
                "long, got 5",
                "test.yaml:10:16: upstreams[1].sticky.max_age: expected a duration like 10s or "
                "250ms, got 'forever'",
                "test.yaml:13:52: upstreams[2].sticky.coookie: unknown key 'coookie' (did you "
                "mean 'cookie'?)",
            }));
  // The secret is never quoted in a message.
  for (const std::string& m : messages(r)) EXPECT_EQ(m.find("short'"), std::string::npos) << m;
  // max_age: 0 is a session cookie.
  EXPECT_EQ(ok(upstream_with("    sticky: {secret: 0123456789abcdef, max_age: 0}\n"))
                .upstreams.at(0)
                .sticky.max_age_s,
            0u);
}

TEST(LoaderResilience, HealthCheckStatuses) {
  const Config one = ok(upstream_with("    health_check: {expected_statuses: 204}\n"));
  EXPECT_EQ(one.upstreams.at(0).health_check.expected_statuses, (Ranges{{204, 204}}));
  const Config edges =
      ok(upstream_with("    health_check: {expected_statuses: [100-599, \"404\"]}\n"));
  EXPECT_EQ(edges.upstreams.at(0).health_check.expected_statuses, (Ranges{{100, 599}, {404, 404}}));

  LoadResult r = load(upstream_with(R"(    health_check:
      expected_statuses: [200-299, 600, 300-200, 99-200, ok, {a: 1}]
  - name: a
    targets: [a:1]
    health_check: {expected_statuses: []}
)"));
  EXPECT_EQ(
      messages(r),
      (std::vector<std::string>{
          "test.yaml:6:36: upstreams[0].health_check.expected_statuses[1]: expected a status from "
          "100 to 599 or a range like 200-299, got '600'",
          "test.yaml:6:41: upstreams[0].health_check.expected_statuses[2]: empty status range "
          "'300-200': 300 is greater than 200",
          "test.yaml:6:50: upstreams[0].health_check.expected_statuses[3]: expected a status from "
          "100 to 599 or a range like 200-299, got '99-200'",
          "test.yaml:6:58: upstreams[0].health_check.expected_statuses[4]: expected a status from "
          "100 to 599 or a range like 200-299, got 'ok'",
          "test.yaml:6:62: upstreams[0].health_check.expected_statuses[5]: expected a status from "
          "100 to 599 or a range like 200-299, got a map",
          "test.yaml:9:39: upstreams[1].health_check.expected_statuses: at least one status or "
          "status range is needed",
      }));
}

TEST(LoaderResilience, HealthCheckErrors) {
  LoadResult r = load(upstream_with(R"(    health_check:
      path: healthz
      host: "bad host"
      interval: 1s
      timeout: 1s
      healthy_threshold: 0
      unhealthy_threshold: 1001
      intervall: 2s
  - name: a
    targets: [a:1]
    health_check: {interval: 500ms}
  - name: b
    targets: [b:1]
    health_check: {timeout: 6s, path: "/a b"}
  - name: c
    targets: [c:1]
    health_check: {interval: soon, timeout: 9s}
)"));
  EXPECT_EQ(
      messages(r),
      (std::vector<std::string>{
          "test.yaml:6:13: upstreams[0].health_check.path: expected a path starting with '/' (no "
          "spaces or control characters), got 'healthz'",
          "test.yaml:7:13: upstreams[0].health_check.host: invalid host 'bad host': expected a "
          "host name or host:port",
          "test.yaml:9:16: upstreams[0].health_check.timeout: timeout (1s) must be shorter than "
          "interval (1s)",
          "test.yaml:10:26: upstreams[0].health_check.healthy_threshold: expected an integer from "
          "1 to 1000, got '0'",
          "test.yaml:11:28: upstreams[0].health_check.unhealthy_threshold: expected an integer "
          "from 1 to 1000, got '1001'",
          "test.yaml:12:7: upstreams[0].health_check.intervall: unknown key 'intervall' (did you "
          "mean 'interval'?)",
          "test.yaml:15:30: upstreams[1].health_check.interval: timeout (1s, the default) must be "
          "shorter than interval (500ms)",
          "test.yaml:18:29: upstreams[2].health_check.timeout: timeout (6s) must be shorter than "
          "interval (5s, the default)",
          "test.yaml:18:39: upstreams[2].health_check.path: expected a path starting with '/' (no "
          "spaces or control characters), got '/a b'",
          // An invalid interval is reported alone, not compared.
          "test.yaml:21:30: upstreams[3].health_check.interval: expected a duration like 10s or "
          "250ms, got 'soon'",
      }));
}

TEST(LoaderResilience, OutlierErrors) {
  LoadResult r = load(upstream_with(R"(    outlier:
      consecutive_failures: 0
      base_ejection: 10m
      max_ejection_percent: 101%
  - name: a
    targets: [a:1]
    outlier: {max_ejection: 10s, base_ejection: 11s}
  - name: b
    targets: [b:1]
    outlier: {max_ejection: 1s, max_ejection_percent: half}
)"));
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:6:29: upstreams[0].outlier.consecutive_failures: expected an integer "
                "from 1 to 1000000000, got '0'",
                "test.yaml:7:22: upstreams[0].outlier.base_ejection: base_ejection (10m) must not "
                "be longer than max_ejection (5m, the default)",
                "test.yaml:8:29: upstreams[0].outlier.max_ejection_percent: expected a percentage "
                "from 0 to 100 like 50% or 50, got '101%'",
                "test.yaml:11:49: upstreams[1].outlier.base_ejection: base_ejection (11s) must "
                "not be longer than max_ejection (10s)",
                "test.yaml:14:29: upstreams[2].outlier.max_ejection: base_ejection (30s, the "
                "default) must not be longer than max_ejection (1s)",
                "test.yaml:14:55: upstreams[2].outlier.max_ejection_percent: expected a "
                "percentage from 0 to 100 like 50% or 50, got 'half'",
            }));
  // Equal is fine, and 0% means "never eject".
  const Config c = ok(upstream_with(
      "    outlier: {base_ejection: 1m, max_ejection: 60s, max_ejection_percent: 0}\n"));
  EXPECT_EQ(c.upstreams.at(0).outlier.max_ejection_percent, 0u);
}

TEST(LoaderResilience, BreakerErrors) {
  LoadResult r = load(upstream_with(R"(    breaker:
      error_rate: 0%
      min_requests: 0
      window: 99ms
      consecutive_failures: -1
      open: 0s
      half_open_requests: 0
      per_target: yes
      max_connections: 1.5
      max_pending: 2000000000
      max_requests: lots
  - name: a
    targets: [a:1]
    breaker: {error_rate: 101, window: 100ms, max_requests: 0}
)"));
  EXPECT_EQ(
      messages(r),
      (std::vector<std::string>{
          "test.yaml:6:19: upstreams[0].breaker.error_rate: expected a percentage from 1 to 100 "
          "like 50% or 50, got '0%'",
          "test.yaml:7:21: upstreams[0].breaker.min_requests: expected an integer from 1 to "
          "1000000000, got '0'",
          "test.yaml:8:15: upstreams[0].breaker.window: window must be at least 100ms, got '99ms'",
          "test.yaml:9:29: upstreams[0].breaker.consecutive_failures: expected an integer from 0 "
          "to 1000000000, got '-1'",
          "test.yaml:10:13: upstreams[0].breaker.open: duration must be greater than 0",
          "test.yaml:11:27: upstreams[0].breaker.half_open_requests: expected an integer from 1 to "
          "1000000000, got '0'",
          "test.yaml:12:19: upstreams[0].breaker.per_target: expected true or false, got 'yes'",
          "test.yaml:13:24: upstreams[0].breaker.max_connections: expected an integer from 0 to "
          "1000000000, got '1.5'",
          "test.yaml:14:20: upstreams[0].breaker.max_pending: expected an integer from 0 to "
          "1000000000, got '2000000000'",
          "test.yaml:15:21: upstreams[0].breaker.max_requests: expected an integer from 0 to "
          "1000000000, got 'lots'",
          "test.yaml:18:27: upstreams[1].breaker.error_rate: expected a percentage from 1 to 100 "
          "like 50% or 50, got '101'",
      }));
  const Config c = ok(upstream_with("    breaker: {error_rate: 100, window: 100ms}\n"));
  EXPECT_EQ(c.upstreams.at(0).breaker.error_rate_percent, 100u);
  EXPECT_EQ(c.upstreams.at(0).breaker.window_ms, 100u);
}

TEST(LoaderResilience, DnsRefreshAndRetryBudgetErrors) {
  LoadResult r = load(upstream_with(R"(    dns_refresh: 0s
    retry_budget: {percent: 150, min_concurrent: -1, min: 3}
  - name: a
    targets: [a:1]
    retry_budget: 20%
)"));
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:5:18: upstreams[0].dns_refresh: duration must be greater than 0",
                "test.yaml:6:29: upstreams[0].retry_budget.percent: expected a percentage from 0 "
                "to 100 like 50% or 50, got '150'",
                "test.yaml:6:50: upstreams[0].retry_budget.min_concurrent: expected an integer "
                "from 0 to 1000000000, got '-1'",
                "test.yaml:6:54: upstreams[0].retry_budget.min: unknown key 'min'",
                "test.yaml:9:19: upstreams[1].retry_budget: expected a map, got '20%'",
            }));
  const Config c = ok(upstream_with("    retry_budget: {percent: 0%, min_concurrent: 0}\n"));
  EXPECT_EQ(c.upstreams.at(0).retry_budget_percent, 0u);
  EXPECT_EQ(c.upstreams.at(0).retry_budget_min, 0u);
}

TEST(LoaderResilience, UnknownUpstreamKeySuggestsNewKeys) {
  EXPECT_EQ(messages(load(upstream_with("    healthcheck: {}\n"))),
            std::vector<std::string>{"test.yaml:5:5: upstreams[0].healthcheck: unknown key "
                                     "'healthcheck' (did you mean 'health_check'?)"});
}

// --- dns -----------------------------------------------------------------------------------------

TEST(LoaderDns, ServersAndTimeout) {
  const Config d = ok("listeners: [{address: \":80\"}]\n");
  EXPECT_TRUE(d.dns.servers.empty());  // /etc/resolv.conf
  EXPECT_EQ(d.dns.timeout_ms, 2000u);
  const Config c = ok(R"(
dns:
  servers: [127.0.0.1:5353, 10.0.0.2, "[::1]:53", "::1", "[2001:db8::1]"]
  timeout: 500ms
listeners: [{address: ":80"}]
)");
  EXPECT_EQ(c.dns.servers, (std::vector<std::string>{"127.0.0.1:5353", "10.0.0.2", "[::1]:53",
                                                     "::1", "[2001:db8::1]"}));
  EXPECT_EQ(c.dns.timeout_ms, 500u);
  EXPECT_EQ(ok("dns: {servers: 10.0.0.53}\nlisteners: [{address: \":80\"}]\n").dns.servers,
            std::vector<std::string>{"10.0.0.53"});
}

TEST(LoaderDns, Errors) {
  LoadResult r = load(R"(
dns:
  servers: [ns.internal:53, "10.0.0.1:0", "[::1", ":53", {a: 1}]
  timeout: 0ms
  retries: 2
listeners: [{address: ":80"}]
)");
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:2:13: dns.servers[0]: invalid DNS server 'ns.internal:53': expected "
                "IP, IP:port or [IPv6]:port",
                "test.yaml:2:29: dns.servers[1]: invalid DNS server '10.0.0.1:0': expected IP, "
                "IP:port or [IPv6]:port",
                "test.yaml:2:43: dns.servers[2]: invalid DNS server '[::1': expected IP, IP:port "
                "or [IPv6]:port",
                "test.yaml:2:51: dns.servers[3]: invalid DNS server ':53': expected IP, IP:port or "
                "[IPv6]:port",
                "test.yaml:2:58: dns.servers[4]: expected a string, got a map",
                "test.yaml:3:12: dns.timeout: duration must be greater than 0",
                "test.yaml:4:3: dns.retries: unknown key 'retries'",
            }));
}

// --- routes[].retry ------------------------------------------------------------------------------

TEST(LoaderRetry, ShortForms) {
  const Config c = ok(route_with("    retry: {attempts: 2, on: 503, backoff: 100ms}\n"));
  const RetryConfig& rt = c.routes.at(0).retry;
  EXPECT_EQ(rt.attempts, 2u);
  EXPECT_FALSE(rt.on_connect_failure);
  EXPECT_FALSE(rt.on_reset);
  EXPECT_FALSE(rt.on_timeout);
  EXPECT_EQ(rt.on_statuses, std::vector<int>{503});
  EXPECT_EQ(rt.backoff_base_ms, 100u);
  EXPECT_EQ(rt.backoff_max_ms, 250u);  // the default max still applies

  // Keywords only: no status is retried.
  const Config k = ok(route_with("    retry: {attempts: 10, on: [reset]}\n"));
  EXPECT_TRUE(k.routes.at(0).retry.on_reset);
  EXPECT_FALSE(k.routes.at(0).retry.on_timeout);
  EXPECT_TRUE(k.routes.at(0).retry.on_statuses.empty());
}

TEST(LoaderRetry, BackoffAloneMovesTheOtherDefault) {
  const Config base = ok(route_with("    retry: {backoff: 1s}\n"));
  EXPECT_EQ(base.routes.at(0).retry.backoff_base_ms, 1000u);
  EXPECT_EQ(base.routes.at(0).retry.backoff_max_ms, 1000u);
  const Config max = ok(route_with("    retry: {backoff: {max: 10ms}}\n"));
  EXPECT_EQ(max.routes.at(0).retry.backoff_base_ms, 10u);
  EXPECT_EQ(max.routes.at(0).retry.backoff_max_ms, 10u);
  const Config both = ok(route_with("    retry: {backoff: {base: 5ms, max: 5ms}}\n"));
  EXPECT_EQ(both.routes.at(0).retry.backoff_base_ms, 5u);
  EXPECT_EQ(both.routes.at(0).retry.backoff_max_ms, 5u);
}

TEST(LoaderRetry, Errors) {
  LoadResult r = load(upstream_with("") + R"(routes:
  - name: r
    match: {path: /a}
    upstream: u
    retry:
      attempts: 11
      on: [connect_failure, timout, 200, 600, retry_all, 502x]
      per_try_timeout: never
      backoff: {base: 1s, max: 500ms}
      jitter: true
  - name: s
    match: {path: /b}
    upstream: u
    retry: {attempts: 0, on: [], backoff: [25ms]}
)");
  EXPECT_EQ(
      messages(r),
      (std::vector<std::string>{
          "test.yaml:10:17: routes[0].retry.attempts: expected an integer from 1 to 10, got '11'",
          "test.yaml:11:29: routes[0].retry.on[1]: unknown retry condition 'timout' (did you mean "
          "'timeout'?)",
          "test.yaml:11:37: routes[0].retry.on[2]: expected an integer from 400 to 599, got '200'",
          "test.yaml:11:42: routes[0].retry.on[3]: expected an integer from 400 to 599, got '600'",
          "test.yaml:11:47: routes[0].retry.on[4]: unknown retry condition 'retry_all' (expected "
          "connect_failure, reset, timeout or a status from 400 to 599)",
          "test.yaml:11:58: routes[0].retry.on[5]: unknown retry condition '502x' (expected "
          "connect_failure, reset, timeout or a status from 400 to 599)",
          "test.yaml:12:24: routes[0].retry.per_try_timeout: expected a duration like 10s or "
          "250ms, got 'never'",
          "test.yaml:13:23: routes[0].retry.backoff.base: backoff base (1s) must not be longer "
          "than max (500ms)",
          "test.yaml:14:7: routes[0].retry.jitter: unknown key 'jitter'",
          "test.yaml:18:23: routes[1].retry.attempts: expected an integer from 1 to 10, got '0'",
          "test.yaml:18:30: routes[1].retry.on: at least one retry condition is needed (leave out "
          "'retry' for no retries)",
          "test.yaml:18:43: routes[1].retry.backoff: expected a map, got a list",
      }));
}

TEST(LoaderRetry, NeedsAnUpstream) {
  LoadResult r = load(R"(
listeners: [{address: ":80"}]
routes:
  - name: r
    match: {path: /}
    respond: {status: 204}
    retry: {attempts: 2}
)");
  EXPECT_EQ(messages(r),
            std::vector<std::string>{"test.yaml:6:12: routes[0].retry: retry needs 'upstream': a "
                                     "'respond' route has nothing to retry"});
}

TEST(LoaderRetry, PerTryTimeoutWithinTheRouteTimeout) {
  EXPECT_EQ(messages(load(route_with(R"(    timeout: 2s
    retry:
      attempts: 2
      per_try_timeout: 2500ms
)"))),
            std::vector<std::string>{
                "test.yaml:12:24: routes[0].retry.per_try_timeout: per_try_timeout (2500ms) must "
                "not be longer than the route's timeout (2s), the time for all tries together"});
  // Written before timeout: the same check.
  EXPECT_EQ(messages(load(route_with("    retry: {per_try_timeout: 3s}\n    timeout: 1s\n"))),
            std::vector<std::string>{
                "test.yaml:9:30: routes[0].retry.per_try_timeout: per_try_timeout (3s) must not "
                "be longer than the route's timeout (1s), the time for all tries together"});
  // Equal is fine; without a route timeout there is nothing to compare.
  ok(route_with("    timeout: 2s\n    retry: {per_try_timeout: 2s}\n"));
  const Config c = ok(route_with("    retry: {per_try_timeout: 1h}\n"));
  EXPECT_EQ(c.routes.at(0).retry.per_try_timeout_ms, 3600000u);
}

TEST(LoaderRetry, ListenersStillRefuseHostNames) {
  // Targets take host names (resolved at run time); listening addresses do not.
  EXPECT_EQ(messages(load("listeners: [{address: \"gw.internal:80\"}]\n")),
            std::vector<std::string>{
                "test.yaml:1:23: listeners[0].address: invalid address 'gw.internal:80': a "
                "listening address needs an IP address, 'localhost' or '*' as host"});
}

}  // namespace
}  // namespace sluice::config
