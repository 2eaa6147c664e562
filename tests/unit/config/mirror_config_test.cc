// A route's `mirror:`: its keys, their defaults, and the errors.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "loader_test_util.h"

namespace sluice::config {
namespace {

using loader_test_util::load;
using loader_test_util::messages;
using loader_test_util::only_error;

constexpr const char* kUpstreams = R"(
listeners: [{address: ":80"}]
upstreams:
  - {name: live, targets: ["127.0.0.1:9001"]}
  - {name: shadow, targets: ["127.0.0.1:9002"]}
routes:
)";

std::string with_route(const std::string& route) {
  return std::string(kUpstreams) + route;
}

TEST(MirrorConfig, EveryKey) {
  LoadResult r = load(with_route(R"(  - name: a
    match: {path: /a}
    upstream: live
    mirror: {upstream: shadow, percent: 10%, max_body: 1MiB, timeout: 2s, max_in_flight: 16}
)"));
  ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  const std::optional<MirrorConfig>& m = r.config->routes[0].mirror;
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->upstream, "shadow");
  EXPECT_EQ(m->percent, 10u);
  EXPECT_EQ(m->max_body_bytes, 1024u * 1024);
  EXPECT_EQ(m->timeout_ms, 2000u);
  EXPECT_EQ(m->max_in_flight, 16u);
}

TEST(MirrorConfig, Defaults) {
  LoadResult r = load(with_route(R"(  - name: a
    match: {path: /a}
    upstream: live
    mirror: {upstream: shadow}
  - name: b
    match: {path: /b}
    upstream: live
)"));
  ASSERT_TRUE(r.ok()) << testing::PrintToString(messages(r));
  const std::optional<MirrorConfig>& m = r.config->routes[0].mirror;
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->percent, 100u);
  EXPECT_EQ(m->max_body_bytes, 64u * 1024);
  EXPECT_FALSE(m->timeout_ms.has_value());  // the shadow's response_timeout
  EXPECT_EQ(m->max_in_flight, 256u);
  EXPECT_FALSE(r.config->routes[1].mirror.has_value());
}

TEST(MirrorConfig, Errors) {
  ConfigError e = only_error(with_route(R"(  - name: a
    match: {path: /a}
    upstream: live
    mirror: {upstream: ghost}
)"));
  EXPECT_EQ(e.key, "routes[0].mirror.upstream");
  EXPECT_EQ(e.mark.line, 9);
  EXPECT_NE(e.message.find("'ghost' is not defined"), std::string::npos) << e.message;

  e = only_error(with_route(R"(  - name: a
    match: {path: /a}
    respond: {status: 200}
    mirror: {upstream: shadow}
)"));
  EXPECT_EQ(e.key, "routes[0].mirror");
  EXPECT_NE(e.message.find("needs 'upstream'"), std::string::npos) << e.message;

  e = only_error(with_route(R"(  - name: a
    match: {path: /a}
    upstream: live
    mirror: {upstream: shadow, max_body: 2GiB}
)"));
  EXPECT_EQ(e.key, "routes[0].mirror.max_body");

  e = only_error(with_route(R"(  - name: a
    match: {path: /a}
    upstream: live
    mirror: shadow
)"));
  EXPECT_EQ(e.key, "routes[0].mirror");
}

}  // namespace
}  // namespace sluice::config
