#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"

namespace sluice::config {
namespace {

// The YAML in these tests starts on the line after R"( so that line 1 of the text is line 1 of
// the source as written.
LoadResult load(std::string yaml) {
  if (!yaml.empty() && yaml.front() == '\n') yaml.erase(0, 1);
  return load_config_string(yaml, "test.yaml");
}

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.to_string());
  return out;
}

// One error expected; returns it (or a blank one, after failing the test).
ConfigError only_error(const std::string& yaml) {
  LoadResult r = load(yaml);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.errors.size(), 1u) << testing::PrintToString(messages(r));
  return r.errors.empty() ? ConfigError{} : r.errors[0];
}

bool is_lower_hex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

constexpr const char* kFull = R"(
workers: 4
listeners:
  - address: 127.0.0.1:8080
  - address: "[::1]:8443"
admin:
  address: 127.0.0.1:9901
limits:
  max_header_bytes: 32KiB
  max_headers: 50
  max_uri_bytes: 4KiB
  max_body_bytes: 10MB
timeouts:
  client_header: 5s
  client_body: 30s
  idle: 2m
  upstream_connect: 750ms
  upstream_response: 1h
  drain: 3000
upstreams:
  - name: users
    targets:
      - address: 10.0.0.1:9001
        weight: 3
      - users-2.internal:9002
    connect_timeout: 1s
    response_timeout: 2s
    idle_timeout: 90s
    max_idle_per_worker: 8
  - name: billing.v2
    targets: ["[2001:db8::1]:80"]
routes:
  - name: get-user
    match:
      path: /users/{id}
      methods: [get, HEAD]
      host: API.Example.com
      headers: { X-Tenant: acme }
    priority: 7
    upstream: users
    strip_prefix: /users
    rewrite_prefix: /v2
    max_body_bytes: 1MiB
    timeout: 5s
  - name: hello
    match: { path: /hello, priority: -3, host: "*.example.com" }
    respond:
      status: 201
      body: "hello\n"
      headers: { Content-Type: text/plain }
  - name: bill
    match:
      path: /bill/{*rest}
    upstream: billing.v2
)";

TEST(Loader, FullConfig) {
  LoadResult r = load(kFull);
  ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  const Config& c = *r.config;
  EXPECT_EQ(c.workers, 4);
  EXPECT_EQ(c.source_file, "test.yaml");
  EXPECT_EQ(c.hash.size(), 64u);
  EXPECT_TRUE(is_lower_hex(c.hash));

  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].address.host, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].address.port, 8080);
  EXPECT_EQ(c.listeners[0].address.text, "127.0.0.1:8080");
  EXPECT_EQ(c.listeners[0].mark.line, 3);
  EXPECT_EQ(c.listeners[0].mark.col, 5);
  EXPECT_EQ(c.listeners[1].address.host, "::1");
  EXPECT_EQ(c.listeners[1].address.port, 8443);
  EXPECT_EQ(c.listeners[1].mark.line, 4);

  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.address.host, "127.0.0.1");
  EXPECT_EQ(c.admin.address.port, 9901);
  EXPECT_EQ(c.admin.mark.line, 6);
  EXPECT_EQ(c.admin.mark.col, 3);

  EXPECT_EQ(c.limits.max_header_bytes, 32u * 1024);
  EXPECT_EQ(c.limits.max_headers, 50u);
  EXPECT_EQ(c.limits.max_uri_bytes, 4u * 1024);
  EXPECT_EQ(c.limits.max_body_bytes, 10u * 1000 * 1000);

  EXPECT_EQ(c.timeouts.client_header_ms, 5000u);
  EXPECT_EQ(c.timeouts.client_body_ms, 30000u);
  EXPECT_EQ(c.timeouts.idle_ms, 120000u);
  EXPECT_EQ(c.timeouts.upstream_connect_ms, 750u);
  EXPECT_EQ(c.timeouts.upstream_response_ms, 3600000u);
  EXPECT_EQ(c.timeouts.drain_ms, 3000u);

  ASSERT_EQ(c.upstreams.size(), 2u);
  const UpstreamConfig& users = c.upstreams[0];
  EXPECT_EQ(users.name, "users");
  EXPECT_EQ(users.mark.line, 20);
  EXPECT_EQ(users.mark.col, 5);
  ASSERT_EQ(users.targets.size(), 2u);
  EXPECT_EQ(users.targets[0].address.host, "10.0.0.1");
  EXPECT_EQ(users.targets[0].address.port, 9001);
  EXPECT_EQ(users.targets[0].weight, 3u);
  EXPECT_EQ(users.targets[0].mark.line, 22);
  EXPECT_EQ(users.targets[0].mark.col, 9);
  EXPECT_EQ(users.targets[1].address.host, "users-2.internal");
  EXPECT_EQ(users.targets[1].address.port, 9002);
  EXPECT_EQ(users.targets[1].weight, 1u);
  EXPECT_EQ(users.targets[1].mark.line, 24);
  EXPECT_EQ(users.targets[1].mark.col, 9);
  EXPECT_EQ(users.connect_timeout_ms, 1000u);
  EXPECT_EQ(users.response_timeout_ms, 2000u);
  EXPECT_EQ(users.idle_timeout_ms, 90000u);
  EXPECT_EQ(users.max_idle_per_worker, 8u);

  // Not set on the upstream: the global timeouts apply, idle and pool size keep their defaults.
  const UpstreamConfig& billing = c.upstreams[1];
  EXPECT_EQ(billing.name, "billing.v2");
  ASSERT_EQ(billing.targets.size(), 1u);
  EXPECT_EQ(billing.targets[0].address.host, "2001:db8::1");
  EXPECT_EQ(billing.targets[0].address.port, 80);
  EXPECT_EQ(billing.targets[0].mark.line, 30);
  EXPECT_EQ(billing.targets[0].mark.col, 15);
  EXPECT_EQ(billing.connect_timeout_ms, 750u);
  EXPECT_EQ(billing.response_timeout_ms, 3600000u);
  EXPECT_EQ(billing.idle_timeout_ms, 60000u);
  EXPECT_EQ(billing.max_idle_per_worker, 64u);

  ASSERT_EQ(c.routes.size(), 3u);
  const RouteConfig& get_user = c.routes[0];
  EXPECT_EQ(get_user.name, "get-user");
  EXPECT_EQ(get_user.mark.line, 32);
  EXPECT_EQ(get_user.mark.col, 5);
  EXPECT_EQ(get_user.path, "/users/{id}");
  EXPECT_EQ(get_user.path_mark.line, 34);
  EXPECT_EQ(get_user.path_mark.col, 13);
  EXPECT_EQ(get_user.methods, (std::vector<std::string>{"GET", "HEAD"}));
  EXPECT_EQ(get_user.host, "api.example.com");
  ASSERT_EQ(get_user.headers.size(), 1u);
  EXPECT_EQ(get_user.headers[0].name, "x-tenant");
  EXPECT_EQ(get_user.headers[0].value, "acme");
  EXPECT_EQ(get_user.priority, 7);
  EXPECT_EQ(get_user.upstream, "users");
  EXPECT_EQ(get_user.upstream_mark.line, 39);
  EXPECT_EQ(get_user.upstream_mark.col, 15);
  EXPECT_FALSE(get_user.respond.has_value());
  EXPECT_EQ(get_user.strip_prefix, "/users");
  EXPECT_EQ(get_user.rewrite_prefix, "/v2");
  EXPECT_EQ(get_user.max_body_bytes, 1024u * 1024);
  EXPECT_EQ(get_user.timeout_ms, 5000u);

  const RouteConfig& hello = c.routes[1];
  EXPECT_EQ(hello.name, "hello");
  EXPECT_EQ(hello.path, "/hello");
  EXPECT_EQ(hello.priority, -3);  // priority inside match: is accepted too
  EXPECT_EQ(hello.host, "*.example.com");
  EXPECT_TRUE(hello.methods.empty());
  EXPECT_TRUE(hello.upstream.empty());
  ASSERT_TRUE(hello.respond.has_value());
  EXPECT_EQ(hello.respond->status, 201);
  EXPECT_EQ(hello.respond->body, "hello\n");
  ASSERT_EQ(hello.respond->headers.size(), 1u);
  EXPECT_EQ(hello.respond->headers[0].first, "content-type");
  EXPECT_EQ(hello.respond->headers[0].second, "text/plain");

  const RouteConfig& bill = c.routes[2];
  EXPECT_EQ(bill.path, "/bill/{*rest}");
  EXPECT_EQ(bill.upstream, "billing.v2");
  EXPECT_EQ(bill.priority, 0);
  EXPECT_TRUE(bill.host.empty());
  EXPECT_TRUE(bill.headers.empty());
  EXPECT_TRUE(bill.strip_prefix.empty());
  EXPECT_TRUE(bill.rewrite_prefix.empty());
  EXPECT_FALSE(bill.max_body_bytes.has_value());
  EXPECT_FALSE(bill.timeout_ms.has_value());
}

TEST(Loader, MinimalConfigTakesAllDefaults) {
  LoadResult r = load_config_string("listeners:\n  - address: :80\n", "min.yaml");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  const Config& c = *r.config;
  const Config d;  // the documented defaults
  EXPECT_EQ(c.workers, 0);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].address.host, "");
  EXPECT_EQ(c.listeners[0].address.port, 80);
  EXPECT_FALSE(c.admin.enabled);
  EXPECT_TRUE(c.upstreams.empty());
  EXPECT_TRUE(c.routes.empty());
  EXPECT_EQ(c.limits.max_header_bytes, 64u * 1024);
  EXPECT_EQ(c.limits.max_headers, 100u);
  EXPECT_EQ(c.limits.max_uri_bytes, 8u * 1024);
  EXPECT_EQ(c.limits.max_body_bytes, 0u);
  EXPECT_EQ(c.timeouts.client_header_ms, 10000u);
  EXPECT_EQ(c.timeouts.client_body_ms, 60000u);
  EXPECT_EQ(c.timeouts.idle_ms, 60000u);
  EXPECT_EQ(c.timeouts.upstream_connect_ms, 5000u);
  EXPECT_EQ(c.timeouts.upstream_response_ms, 30000u);
  EXPECT_EQ(c.timeouts.drain_ms, 15000u);
  EXPECT_EQ(c.timeouts.drain_ms, d.timeouts.drain_ms);
  EXPECT_EQ(c.source_file, "min.yaml");
  EXPECT_EQ(c.hash, "600670891a0190a9a9ee6fe24fbc917eb7ed7c72f7cac541c2e13ab717e538a0");
}

TEST(Loader, UpstreamDefaultsComeFromTimeoutsWrittenLater) {
  LoadResult r = load(R"(
listeners: [{address: ":80"}]
upstreams:
  - name: a
    targets: [a.internal:1]
  - name: b
    targets: [b.internal:1]
    connect_timeout: 2s
timeouts:
  upstream_connect: 1s
  upstream_response: 9s
)");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  EXPECT_EQ(r.config->upstreams[0].connect_timeout_ms, 1000u);
  EXPECT_EQ(r.config->upstreams[0].response_timeout_ms, 9000u);
  EXPECT_EQ(r.config->upstreams[1].connect_timeout_ms, 2000u);
  EXPECT_EQ(r.config->upstreams[1].response_timeout_ms, 9000u);
}

TEST(Loader, EmptySectionsAndShortForms) {
  LoadResult r = load(R"(
workers: 0
listeners:
  - address: "*:8080"
limits:
timeouts:
upstreams:
routes:
  - name: one
    match:
      path: /
      methods: post
    respond: {}
)");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  EXPECT_EQ(r.config->listeners[0].address.host, "");
  EXPECT_EQ(r.config->listeners[0].address.text, "*:8080");
  ASSERT_EQ(r.config->routes.size(), 1u);
  EXPECT_EQ(r.config->routes[0].methods, std::vector<std::string>{"POST"});
  ASSERT_TRUE(r.config->routes[0].respond.has_value());
  EXPECT_EQ(r.config->routes[0].respond->status, 200);
  EXPECT_EQ(r.config->routes[0].respond->body, "");
}

TEST(Loader, SameInputSameHash) {
  LoadResult a = load(kFull);
  LoadResult b = load(kFull);
  LoadResult c = load(std::string(kFull) + "# a comment changes the bytes\n");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a.config->hash, b.config->hash);
  EXPECT_NE(a.config->hash, c.config->hash);
}

// --- one kind of error at a time, with its exact place ------------------------------------------

TEST(LoaderErrors, UnknownKey) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
routes:
  - name: r
    match:
      pth: /x
      path: /x
    respond: {}
)");
  EXPECT_EQ(e.to_string(),
            "test.yaml:6:7: routes[0].match.pth: unknown key 'pth' (did you mean 'path'?)");
  EXPECT_EQ(e.file, "test.yaml");
  EXPECT_EQ(e.mark.line, 6);
  EXPECT_EQ(e.mark.col, 7);
  EXPECT_EQ(e.key, "routes[0].match.pth");
  EXPECT_EQ(e.message, "unknown key 'pth' (did you mean 'path'?)");
}

TEST(LoaderErrors, UnknownTopLevelKey) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
frobnicate: true
)");
  EXPECT_EQ(e.to_string(), "test.yaml:3:1: frobnicate: unknown key 'frobnicate'");
}

TEST(LoaderErrors, BadDuration) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
timeouts:
  idle: abc
)");
  EXPECT_EQ(e.to_string(),
            "test.yaml:4:9: timeouts.idle: expected a duration like 10s or 250ms, got 'abc'");
}

TEST(LoaderErrors, ZeroDuration) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
upstreams:
  - name: u
    targets: [u:1]
    response_timeout: 0ms
)");
  EXPECT_EQ(e.to_string(),
            "test.yaml:6:23: upstreams[0].response_timeout: duration must be greater than 0");
}

TEST(LoaderErrors, UndefinedUpstream) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
upstreams:
  - name: users
    targets: [127.0.0.1:9001]
routes:
  - name: a
    match: {path: /a}
    upstream: users
  - name: b
    match: {path: /b}
    upstream: nope
)");
  EXPECT_EQ(e.to_string(), "test.yaml:12:15: routes[1].upstream: upstream 'nope' is not defined");
}

TEST(LoaderErrors, DuplicateRouteName) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
routes:
  - name: x
    match: {path: /a}
    respond: {}
  - name: x
    match: {path: /b}
    respond: {}
)");
  EXPECT_EQ(e.to_string(),
            "test.yaml:7:11: routes[1].name: duplicate route name 'x' (first defined at line 4)");
}

TEST(LoaderErrors, DuplicateUpstreamName) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
upstreams:
  - name: u
    targets: [a:1]
  - name: u
    targets: [b:1]
)");
  EXPECT_EQ(e.to_string(),
            "test.yaml:6:11: upstreams[1].name: duplicate upstream name 'u' (first defined at "
            "line 4)");
}

TEST(LoaderErrors, InvalidUpstreamNameIsReportedOnce) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
upstreams:
  - name: "my upstream"
    targets: [a:1]
routes:
  - name: r
    match: {path: /}
    upstream: "my upstream"
)");
  EXPECT_EQ(e.to_string(),
            "test.yaml:4:11: upstreams[0].name: invalid upstream name 'my upstream': use letters, "
            "digits, '_', '.', '-'");
}

TEST(LoaderErrors, RouteNeedsExactlyOneAction) {
  LoadResult r = load(R"(
listeners:
  - address: :80
upstreams:
  - name: u
    targets: [a:1]
routes:
  - name: neither
    match: {path: /a}
  - name: both
    match: {path: /b}
    upstream: u
    respond: {status: 204}
)");
  EXPECT_EQ(messages(r), (std::vector<std::string>{
                             "test.yaml:7:5: routes[0]: route needs exactly one of 'upstream', "
                             "'respond' or 'mock'",
                             "test.yaml:9:5: routes[1]: route needs exactly one of 'upstream', "
                             "'respond' or 'mock'",
                         }));
}

TEST(LoaderErrors, InvalidAddresses) {
  LoadResult r = load(R"(
listeners:
  - address: 127.0.0.1
  - address: ::1:80
  - address: example.com:80
upstreams:
  - name: u
    targets:
      - address: 10.0.0.1:0
      - "[::1]:70000"
      - good.internal:80
admin:
  address: "[::1"
)");
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:2:14: listeners[0].address: invalid address '127.0.0.1': missing port "
                "(expected host:port)",
                "test.yaml:3:14: listeners[1].address: invalid address '::1:80': an IPv6 address "
                "needs brackets, like [::1]:8080",
                "test.yaml:4:14: listeners[2].address: invalid address 'example.com:80': a "
                "listening address needs an IP address, 'localhost' or '*' as host",
                "test.yaml:8:18: upstreams[0].targets[0].address: invalid address '10.0.0.1:0': "
                "port must be a number from 1 to 65535",
                "test.yaml:9:9: upstreams[0].targets[1]: invalid address '[::1]:70000': port must "
                "be a number from 1 to 65535",
                "test.yaml:12:12: admin.address: invalid address '[::1': missing ']' after IPv6 "
                "address",
            }));
}

TEST(LoaderErrors, MissingRequiredKeys) {
  LoadResult r = load(R"(
upstreams:
  - name: u
routes:
  - match:
      methods: [GET]
    upstream: u
)");
  EXPECT_EQ(messages(r), (std::vector<std::string>{
                             "test.yaml:1:1: listeners: missing required key 'listeners'",
                             "test.yaml:2:5: upstreams[0].targets: missing required key 'targets'",
                             "test.yaml:4:5: routes[0].name: missing required key 'name'",
                             "test.yaml:5:7: routes[0].match.path: missing required key 'path'",
                         }));
}

TEST(LoaderErrors, WrongTypes) {
  LoadResult r = load(R"(
listeners:
  address: :80
limits: [1, 2]
timeouts:
  idle: {a: 1}
upstreams:
  - name: [u]
    targets: a:1
routes:
  - just a string
  - name: r
    match: /x
    respond:
      status: ok
      body: [1]
      headers: [a, b]
)");
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:2:3: listeners: expected a list, got a map",
                "test.yaml:3:9: limits: expected a map, got a list",
                "test.yaml:5:9: timeouts.idle: expected a duration like 10s or 250ms, got a map",
                "test.yaml:7:11: upstreams[0].name: expected a string, got a list",
                "test.yaml:8:14: upstreams[0].targets: expected a list, got 'a:1'",
                "test.yaml:10:5: routes[0]: expected a map, got 'just a string'",
                "test.yaml:12:12: routes[1].match: expected a map, got '/x'",
                "test.yaml:14:15: routes[1].respond.status: expected an integer from 200 to 599, "
                "got 'ok'",
                "test.yaml:15:13: routes[1].respond.body: expected a string, got a list",
                "test.yaml:16:16: routes[1].respond.headers: expected a map of header names to "
                "values, got a list",
            }));
}

TEST(LoaderErrors, NumbersOutOfRange) {
  LoadResult r = load(R"(
workers: 257
listeners:
  - address: :80
limits:
  max_header_bytes: 17MiB
  max_headers: 0
  max_uri_bytes: 0
  max_body_bytes: 99999999999999999999
upstreams:
  - name: u
    targets:
      - {address: "a:1", weight: 0}
      - {address: "b:1", weight: 1001}
      - {address: "c:1", weight: 1000}
    max_idle_per_worker: -1
routes:
  - name: r
    match: {path: /, priority: 1.5}
    respond: {status: 199}
)");
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:1:10: workers: expected an integer from 0 to 256, got '257'",
                "test.yaml:5:21: limits.max_header_bytes: size must be from 1 to 16MiB, got "
                "'17MiB'",
                "test.yaml:6:16: limits.max_headers: expected an integer from 1 to 10000, got '0'",
                "test.yaml:7:18: limits.max_uri_bytes: size must be from 1 to 16MiB, got '0'",
                "test.yaml:8:19: limits.max_body_bytes: expected a size like 64KiB, 1MiB or "
                "512KB, got '99999999999999999999'",
                "test.yaml:12:34: upstreams[0].targets[0].weight: expected an integer from 1 to "
                "1000, got '0'",
                "test.yaml:13:34: upstreams[0].targets[1].weight: expected an integer from 1 to "
                "1000, got '1001'",
                "test.yaml:15:26: upstreams[0].max_idle_per_worker: expected an integer from 0 to "
                "100000, got '-1'",
                "test.yaml:18:32: routes[0].match.priority: expected an integer from -1000000 to "
                "1000000, got '1.5'",
                "test.yaml:19:23: routes[0].respond.status: expected an integer from 200 to 599, "
                "got '199'",
            }));
}

TEST(LoaderErrors, HugeAndOddIntegers) {
  LoadResult r = load(R"(
workers: 99999999999999999999999999
listeners:
  - address: :80
limits:
  max_headers: 0x10
upstreams:
  - name: u
    targets: [{address: "a:1", weight: "+5"}, {address: "b:1", weight: 1_0}]
    max_idle_per_worker: -99999999999999999999
)");
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:1:10: workers: expected an integer from 0 to 256, got "
                "'99999999999999999999999999'",
                "test.yaml:5:16: limits.max_headers: expected an integer from 1 to 10000, got "
                "'0x10'",
                "test.yaml:8:72: upstreams[0].targets[1].weight: expected an integer from 1 to "
                "1000, got '1_0'",
                "test.yaml:9:26: upstreams[0].max_idle_per_worker: expected an integer from 0 to "
                "100000, got '-99999999999999999999'",
            }));
  ASSERT_EQ(load("listeners: [{address: ':80'}]\nworkers: +3\n").config->workers, 3);
}

TEST(LoaderErrors, RouteMatchDetails) {
  LoadResult r = load(R"(
listeners:
  - address: :80
routes:
  - name: bad name
    match:
      path: no-slash
      methods: [GET, "BAD METHOD"]
      host: "exa mple.com"
      headers: {"x tenant": a, X-A: "1", x-a: "2", x-b: "line\nbreak"}
      priority: 1
    priority: 2
    strip_prefix: api
    rewrite_prefix: ""
    max_body_bytes: lots
    respond: {}
)");
  std::vector<std::string> m = messages(r);
  ASSERT_EQ(m.size(), 11u) << testing::PrintToString(m);
  EXPECT_EQ(m[0],
            "test.yaml:4:11: routes[0].name: invalid route name 'bad name': use letters, digits, "
            "'_', '.', '-'");
  // The message after the colon comes from router::check_pattern.
  EXPECT_EQ(
      m[1].rfind("test.yaml:6:13: routes[0].match.path: invalid path pattern 'no-slash': ", 0), 0u)
      << m[1];
  EXPECT_EQ(m[2], "test.yaml:7:22: routes[0].match.methods[1]: invalid method 'BAD METHOD'");
  EXPECT_EQ(m[3],
            "test.yaml:8:13: routes[0].match.host: invalid host 'exa mple.com': expected a host "
            "name or *.suffix");
  EXPECT_EQ(m[4],
            "test.yaml:9:17: routes[0].match.headers.x tenant: invalid header name 'x tenant'");
  EXPECT_EQ(m[5], "test.yaml:9:42: routes[0].match.headers.x-a: duplicate header 'x-a'");
  EXPECT_EQ(m[6],
            "test.yaml:9:57: routes[0].match.headers.x-b: header value must not contain control "
            "characters");
  EXPECT_EQ(m[7],
            "test.yaml:10:17: routes[0].match.priority: priority is given both on the route and "
            "inside match");
  EXPECT_EQ(m[8], "test.yaml:12:19: routes[0].strip_prefix: must start with '/', got 'api'");
  EXPECT_EQ(m[9], "test.yaml:13:21: routes[0].rewrite_prefix: must start with '/', got ''");
  EXPECT_EQ(m[10],
            "test.yaml:14:21: routes[0].max_body_bytes: expected a size like 64KiB, 1MiB or "
            "512KB, got 'lots'");
}

TEST(LoaderErrors, RouteTimeout) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
routes:
  - name: r
    match: {path: /}
    respond: {}
    timeout: forever
)");
  EXPECT_EQ(e.to_string(),
            "test.yaml:7:14: routes[0].timeout: expected a duration like 10s or 250ms, got "
            "'forever'");
}

TEST(LoaderErrors, DuplicatesAndClashes) {
  LoadResult r = load(R"(
listeners:
  - address: 127.0.0.1:80
  - address: 127.0.0.1:80
admin:
  address: 127.0.0.1:80
upstreams:
  - name: u
    targets: [a:1, "A:1"]
workers: 1
workers: 2
)");
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:3:14: listeners[1].address: duplicate listener address '127.0.0.1:80' "
                "(first defined at line 2)",
                "test.yaml:5:12: admin.address: admin address '127.0.0.1:80' is also a listener "
                "(line 2)",
                "test.yaml:8:20: upstreams[0].targets[1]: duplicate target 'A:1' (first defined at "
                "line 8)",
                "test.yaml:10:1: workers: duplicate key 'workers' (first at line 9)",
            }));
}

TEST(LoaderErrors, ListenersMustNotBeEmpty) {
  ConfigError e = only_error("listeners: []\n");
  EXPECT_EQ(e.to_string(), "test.yaml:1:12: listeners: at least one listener is required");
  e = only_error("listeners:\n");
  EXPECT_EQ(e.to_string(), "test.yaml:1:1: listeners: at least one listener is required");
}

TEST(LoaderErrors, TargetsMustNotBeEmpty) {
  ConfigError e = only_error(R"(
listeners: [{address: ":80"}]
upstreams:
  - name: u
    targets: []
)");
  EXPECT_EQ(e.to_string(),
            "test.yaml:4:14: upstreams[0].targets: an upstream needs at least one target");
}

TEST(LoaderErrors, EmptyValueIsReportedAtItsKey) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
admin:
timeouts:
  idle: 1s
)");
  EXPECT_EQ(e.to_string(), "test.yaml:3:1: admin.address: missing required key 'address'");
}

TEST(LoaderErrors, ManyErrorsReportedTogetherInFileOrder) {
  // Each section has its own mistake; all are reported, sorted by position, even the cross
  // reference (checked last) that sits in the middle of the file.
  LoadResult r = load(R"(
workers: many
listeners:
  - address: 127.0.0.1:8080
routes:
  - name: r1
    match: {path: /a}
    upstream: missing
timeouts:
  drain: soon
upstreams:
  - name: u
    targets: [nohost]
    colour: blue
)");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "test.yaml:1:10: workers: expected an integer from 0 to 256, got 'many'",
                "test.yaml:7:15: routes[0].upstream: upstream 'missing' is not defined",
                "test.yaml:9:10: timeouts.drain: expected a duration like 10s or 250ms, got "
                "'soon'",
                "test.yaml:12:15: upstreams[0].targets[0]: invalid address 'nohost': missing port "
                "(expected host:port)",
                "test.yaml:13:5: upstreams[0].colour: unknown key 'colour'",
            }));
}

// --- the file as a whole ------------------------------------------------------------------------

TEST(LoaderErrors, YamlSyntaxErrorHasItsPosition) {
  ConfigError e = only_error(R"(
listeners:
  - address: [1
x: 1
)");
  EXPECT_EQ(e.mark.line, 3);
  EXPECT_EQ(e.mark.col, 2);
  EXPECT_EQ(e.key, "");
  EXPECT_EQ(e.to_string(), "test.yaml:3:2: invalid YAML: end of sequence flow not found");

  e = only_error("listeners: []\n  bad: indent\n");
  EXPECT_EQ(e.to_string(), "test.yaml:2:3: invalid YAML: end of map not found");
  e = only_error("listeners: &l [{address: ':80'}]\nadmin: *nope\n");
  EXPECT_EQ(e.to_string(), "test.yaml:2:8: invalid YAML: the referenced anchor is not defined");
}

TEST(LoaderErrors, StrayCommaDoesNotHang) {
  // yaml-cpp's LoadAll loops forever on these (found by fuzz/config_fuzz.cc).
  EXPECT_EQ(only_error("- a\n, b\n").to_string(), "test.yaml:2:1: invalid YAML: unexpected ','");
  EXPECT_EQ(only_error(",\xed\n- b\n").to_string(), "test.yaml:1:1: invalid YAML: unexpected ','");
}

TEST(LoaderErrors, EmptyOrNotAMap) {
  EXPECT_EQ(only_error("").to_string(), "test.yaml: the config is empty");
  EXPECT_EQ(only_error("# nothing but a comment\n").to_string(), "test.yaml: the config is empty");
  EXPECT_EQ(only_error("- a\n- b\n").to_string(),
            "test.yaml:1:1: the top level must be a map, got a list");
  EXPECT_EQ(only_error("hello\n").to_string(),
            "test.yaml:1:1: the top level must be a map, got 'hello'");
  EXPECT_EQ(only_error("listeners: [{address: ':80'}]\n---\nworkers: 2\n").to_string(),
            "test.yaml:2:1: only one YAML document is allowed per config file");
}

TEST(LoaderErrors, NonStringKey) {
  ConfigError e = only_error("listeners: [{address: ':80'}]\n? [a, b]\n: 1\n");
  EXPECT_EQ(e.to_string(), "test.yaml:2:3: a key must be a plain string, got a list");
}

TEST(LoaderErrors, MessagesQuoteControlBytesAndLongValues) {
  ConfigError e = only_error("listeners: [{address: ':80'}]\ntimeouts: {idle: \"a\\tb\"}\n");
  EXPECT_EQ(e.message, "expected a duration like 10s or 250ms, got 'a\\x09b'");
  e = only_error("listeners: [{address: ':80'}]\ntimeouts: {idle: " + std::string(200, 'x') +
                 "}\n");
  EXPECT_EQ(e.message,
            "expected a duration like 10s or 250ms, got '" + std::string(80, 'x') + "...'");
}

TEST(LoaderErrors, AliasesAreReadNotFollowedForever) {
  LoadResult r = load(R"(
listeners: &l
  - address: :80
admin: *l
)");
  EXPECT_EQ(messages(r),
            std::vector<std::string>{"test.yaml:3:1: admin: expected a map, got a list"});
}

TEST(ConfigError, ToString) {
  EXPECT_EQ((ConfigError{"f.yaml", {3, 7}, "routes[1].match.path", "bad"}).to_string(),
            "f.yaml:3:7: routes[1].match.path: bad");
  EXPECT_EQ((ConfigError{"f.yaml", {3, 7}, "", "bad"}).to_string(), "f.yaml:3:7: bad");
  EXPECT_EQ((ConfigError{"f.yaml", {0, 0}, "", "gone"}).to_string(), "f.yaml: gone");
}

// --- files --------------------------------------------------------------------------------------

TEST(LoadFile, MissingFile) {
  LoadResult r = load_config_file("/nonexistent/sluice/config.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.errors[0].file, "/nonexistent/sluice/config.yaml");
  EXPECT_EQ(r.errors[0].mark.line, 0);
  EXPECT_EQ(r.errors[0].to_string(),
            "/nonexistent/sluice/config.yaml: cannot open config file: No such file or directory");
}

TEST(LoadFile, DirectoryIsAnError) {
  LoadResult r = load_config_file(SLUICE_SOURCE_DIR "/config");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].mark.line, 0);
  EXPECT_NE(r.errors[0].message.find("Is a directory"), std::string::npos) << r.errors[0].message;
}

TEST(LoadFile, HashAndSourceOfARealFile) {
  const std::string path = testing::TempDir() + "sluice_loader_test.yaml";
  const std::string text = "listeners:\n  - address: :80\n";
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  LoadResult r = load_config_file(path);
  std::remove(path.c_str());
  ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  EXPECT_EQ(r.config->source_file, path);
  EXPECT_EQ(r.config->hash, "600670891a0190a9a9ee6fe24fbc917eb7ed7c72f7cac541c2e13ab717e538a0");
  EXPECT_EQ(r.config->hash, load_config_string(text, "x").config->hash);
}

TEST(LoadFile, ErrorsNameTheFile) {
  const std::string path = testing::TempDir() + "sluice_loader_bad.yaml";
  {
    std::ofstream out(path, std::ios::binary);
    out << "listeners:\n  - address: :80\nworkers: -1\n";
  }
  LoadResult r = load_config_file(path);
  std::remove(path.c_str());
  EXPECT_EQ(messages(r), std::vector<std::string>{
                             path + ":3:10: workers: expected an integer from 0 to 256, got '-1'"});
}

TEST(LoadFile, ShippedDefaultConfig) {
  const std::string path = SLUICE_SOURCE_DIR "/config/sluice.yaml";
  LoadResult r = load_config_file(path);
  ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  const Config& c = *r.config;
  EXPECT_EQ(c.source_file, path);
  EXPECT_EQ(c.workers, 0);  // one per core
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].address.text, "127.0.0.1:8080");
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.address.port, 9901);
  ASSERT_EQ(c.upstreams.size(), 1u);
  EXPECT_EQ(c.upstreams[0].name, "echo");
  ASSERT_EQ(c.upstreams[0].targets.size(), 1u);
  EXPECT_EQ(c.upstreams[0].targets[0].address.text, "127.0.0.1:9001");
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].name, "hello");
  EXPECT_EQ(c.routes[0].path, "/hello");
  ASSERT_TRUE(c.routes[0].respond.has_value());
  EXPECT_EQ(c.routes[0].respond->status, 200);
  EXPECT_EQ(c.routes[0].respond->body, "hello\n");
  EXPECT_EQ(c.routes[1].name, "echo");
  EXPECT_EQ(c.routes[1].path, "/echo/{*rest}");
  EXPECT_EQ(c.routes[1].upstream, "echo");
  EXPECT_EQ(c.routes[1].strip_prefix, "/echo");
  EXPECT_EQ(c.routes[2].name, "users");
  EXPECT_EQ(c.routes[2].path, "/users/{id}");
  EXPECT_EQ(c.routes[2].methods, (std::vector<std::string>{"GET", "HEAD"}));
  EXPECT_EQ(c.routes[2].upstream, "echo");
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

TEST(LoaderErrors, RespondCannotSetFramingHeaders) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
routes:
  - name: r
    match: {path: /x}
    respond:
      body: "hi"
      headers: {content-length: "5"}
)");
  EXPECT_EQ(e.key, "routes[0].respond.headers.content-length");
  EXPECT_EQ(e.mark.line, 8);
  EXPECT_NE(e.message.find("set by sluice"), std::string::npos) << e.message;
}

TEST(LoaderErrors, NoContentStatusWithBody) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
routes:
  - name: r
    match: {path: /x}
    respond: {status: 204, body: "x"}
)");
  EXPECT_EQ(e.key, "routes[0].respond.body");
  EXPECT_EQ(e.message, "status 204 cannot have a body");
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

TEST(LoaderErrors, UnroutableMethod) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
routes:
  - name: r
    match: {path: /x, methods: [GET, purge]}
    respond: {}
)");
  EXPECT_EQ(e.key, "routes[0].match.methods[1]");
  EXPECT_NE(e.message.find("'PURGE' cannot be routed"), std::string::npos) << e.message;
}

}  // namespace
}  // namespace sluice::config

namespace sluice::config {
namespace {

TEST(LoaderErrors, TargetWithoutHost) {
  ConfigError e = only_error(R"(
listeners:
  - address: :80
upstreams:
  - name: u
    targets: [":9001"]
)");
  EXPECT_EQ(e.key, "upstreams[0].targets[0]");
  EXPECT_NE(e.message.find("needs a host"), std::string::npos) << e.message;
}

}  // namespace
}  // namespace sluice::config
