// Config errors: one kind at a time with its exact place, several together in file order, and
// files that are not valid YAML or not a map.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "loader_test_util.h"

namespace sluice::config {
namespace {

using loader_test_util::load;
using loader_test_util::messages;
using loader_test_util::only_error;

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

TEST(LoaderErrors, YamlTagsAreRefused) {
  ConfigError e = only_error(R"(
listeners:
  - address: !secret listen
)");
  EXPECT_EQ(e.to_string(),
            "test.yaml:2:14: YAML tag '!secret' is not supported (write the value itself)");
  e = only_error(R"(
listeners: !!seq
  - address: :80
)");
  EXPECT_NE(e.message.find("'!!seq'"), std::string::npos) << e.message;
}

TEST(LoaderErrors, TooDeepNestingSaysSo) {
  const std::string deep = "a: " + std::string(2000, '[') + std::string(2000, ']') + "\n";
  LoadResult r = load_config_string(deep, "deep.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("nested too deeply"), std::string::npos)
      << r.errors[0].message;
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
redis:
timeouts:
  idle: 1s
)");
  EXPECT_EQ(e.to_string(), "test.yaml:3:1: redis.address: missing required key 'address'");
}

TEST(LoaderErrors, AnEmptyAdminSectionIsTheDefaultLoopbackAddress) {
  LoadResult r = load_config_string("listeners:\n  - address: :80\nadmin:\n", "test.yaml");
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
  EXPECT_TRUE(r.config->admin.enabled);
  EXPECT_EQ(r.config->admin.address.text, "127.0.0.1:9901");
  EXPECT_EQ(r.config->admin.history, 50u);
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
  EXPECT_EQ(e.to_string(),
            "test.yaml:3:2: invalid YAML: did not find expected ',' or ']' (while parsing a flow "
            "sequence started at line 2)");

  e = only_error("listeners: []\n  bad: indent\n");
  EXPECT_EQ(e.to_string(),
            "test.yaml:2:3: invalid YAML: did not find expected key (while parsing a block "
            "mapping started at line 1)");
  e = only_error("listeners: &l [{address: ':80'}]\nadmin: *nope\n");
  EXPECT_EQ(e.to_string(),
            "test.yaml:2:8: invalid YAML: the referenced anchor 'nope' is not defined (an "
            "alias follows its anchor's whole node)");
}

TEST(LoaderErrors, StrayCommaDoesNotHang) {
  // yaml-cpp's LoadAll looped forever on these (found by fuzz/config_fuzz.cc).
  EXPECT_EQ(only_error("- a\n, b\n").to_string(),
            "test.yaml:2:1: invalid YAML: did not find expected '-' indicator (while parsing a "
            "block collection started at line 1)");
  EXPECT_EQ(only_error(",\xed\n- b\n").to_string(),
            "test.yaml:1:3: invalid YAML: invalid trailing UTF-8 octet");
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
