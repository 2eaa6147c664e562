// Loading whole configs (every key, the defaults, short forms, the hash) and config files.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "loader_test_util.h"

namespace sluice::config {
namespace {

using loader_test_util::load;
using loader_test_util::messages;

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
