// query: set replaces, add appends, remove drops; values are percent-encoded.
#include <gtest/gtest.h>

#include "../../filter_harness.h"

namespace sluice::filters {
namespace {

using filter::Phase;
using testing::FilterHarness;

TEST(QueryFilter, SetAddRemove) {
  FilterHarness h(R"yaml(
routes:
  - name: r
    match: {path: "/u/{id}"}
    upstream: up
    filters:
      query: {set: {v: "2", id: "${path.id}"}, add: {tag: "a b&c"}, remove: [debug]}
)yaml");
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  h.request("GET /u/7?debug=1&v=1&keep=yes&debug&&v=3 HTTP/1.1\r\nHost: x\r\n\r\n");
  h.run(Phase::kRequestHeaders);
  EXPECT_EQ(h.ctx.query(), "keep=yes&v=2&id=7&tag=a%20b%26c");
  h.request("GET /u/8 HTTP/1.1\r\nHost: x\r\n\r\n");
  h.run(Phase::kRequestHeaders);
  EXPECT_EQ(h.ctx.query(), "v=2&id=8&tag=a%20b%26c");
}

TEST(QueryFilter, Errors) {
  FilterHarness h(R"yaml(
routes:
  - name: r
    match: {path: /r}
    upstream: up
    filters:
      query: {set: [a], remove: ["x=y"]}
)yaml");
  std::vector<std::string> m = h.messages();
  ASSERT_EQ(m.size(), 2u) << ::testing::PrintToString(m);
  EXPECT_NE(m[0].find("expected a map of parameter names to values"), std::string::npos);
  EXPECT_NE(m[1].find("invalid query parameter name 'x=y'"), std::string::npos);
}

}  // namespace
}  // namespace sluice::filters
