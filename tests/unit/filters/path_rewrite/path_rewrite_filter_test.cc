// path_rewrite: RE2 groups, prefixes, no match, and errors at load.
#include <gtest/gtest.h>

#include "../../filter_harness.h"

namespace sluice::filters {
namespace {

using filter::Phase;
using filter::Status;
using testing::FilterHarness;

TEST(PathRewrite, RegexGroupsAndPrefix) {
  FilterHarness h(R"yaml(
routes:
  - name: re
    match: {path: "/api/{*rest}"}
    upstream: up
    filters:
      path_rewrite: {regex: "^/api/users/([0-9]+)/(\\w+)$", to: "/v2/$2/$1/$$"}
  - name: pre
    match: {path: "/{*rest}"}
    upstream: up
    filters:
      path_rewrite: {prefix: /old, to: /}
)yaml");
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  h.request("GET /api/users/42/posts HTTP/1.1\r\nHost: x\r\n\r\n");
  h.run(Phase::kRequestHeaders);
  EXPECT_EQ(h.ctx.path(), "/v2/posts/42/$");
  h.request("GET /api/other HTTP/1.1\r\nHost: x\r\n\r\n");
  h.run(Phase::kRequestHeaders);
  EXPECT_FALSE(h.ctx.path_changed());
  h.route = 1;
  h.request("GET /old/a/b HTTP/1.1\r\nHost: x\r\n\r\n");
  h.run(Phase::kRequestHeaders);
  EXPECT_EQ(h.ctx.path(), "/a/b");
  h.request("GET /old HTTP/1.1\r\nHost: x\r\n\r\n");
  h.run(Phase::kRequestHeaders);
  EXPECT_EQ(h.ctx.path(), "/");
  h.request("GET /oldx HTTP/1.1\r\nHost: x\r\n\r\n");  // whole segments only
  h.run(Phase::kRequestHeaders);
  EXPECT_FALSE(h.ctx.path_changed());
}

TEST(PathRewrite, Errors) {
  FilterHarness h(R"yaml(
routes:
  - name: a
    match: {path: /a}
    upstream: up
    filters: {path_rewrite: {regex: "(a)(", to: /x}}
  - name: b
    match: {path: /b}
    upstream: up
    filters: {path_rewrite: {regex: "(a)", to: /x/$2}}
  - name: c
    match: {path: /c}
    upstream: up
    filters: {path_rewrite: {regex: "a", prefix: /a, to: /x}}
  - name: d
    match: {path: /d}
    upstream: up
    filters: {path_rewrite: {prefix: /d, to: "x y"}}
)yaml");
  std::vector<std::string> m = h.messages();
  ASSERT_EQ(m.size(), 4u) << ::testing::PrintToString(m);
  EXPECT_NE(m[0].find("invalid regular expression"), std::string::npos);
  EXPECT_NE(m[1].find("$2 names a group the regex does not have (it has 1)"), std::string::npos);
  EXPECT_NE(m[2].find("give exactly one of 'regex' or 'prefix'"), std::string::npos);
  EXPECT_NE(m[3].find("must start with '/'"), std::string::npos);
}

}  // namespace
}  // namespace sluice::filters
