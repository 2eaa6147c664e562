// request_headers / response_headers: set, add, remove with variables; reserved fields refused.
#include <gtest/gtest.h>

#include "../../filter_harness.h"

namespace sluice::filters {
namespace {

using filter::Phase;
using filter::Status;
using testing::FilterHarness;

TEST(HeadersFilter, EditsRequestAndResponse) {
  FilterHarness h(R"yaml(
routes:
  - name: r
    match: {path: "/u/{id}"}
    upstream: up
    filters:
      request_headers: {set: {x-id: "u-${path.id}", x-a: "new"}, add: {x-a: more}, remove: [x-gone]}
      response_headers: {set: {x-s: "${status}"}, add: {x-up: "${upstream_addr}"}, remove: [server]}
)yaml");
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  h.request("GET /u/9 HTTP/1.1\r\nHost: x\r\nX-A: old\r\nX-Gone: 1\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kContinue);
  EXPECT_EQ(h.ctx.request_header("x-id"), "u-9");
  EXPECT_EQ(h.ctx.request_header("x-a"), "new");
  EXPECT_FALSE(h.ctx.has_request_header("x-gone"));
  EXPECT_EQ(h.ctx.upstream_lines(), "x-id: u-9\r\nx-a: new\r\nx-a: more\r\n");
  http::Header resp[] = {{"Server", "x"}};
  h.ctx.set_response(404, resp, "1.2.3.4:5");
  EXPECT_EQ(h.run(Phase::kResponseHeaders), Status::kContinue);
  EXPECT_EQ(h.ctx.response_lines(), "x-s: 404\r\nx-up: 1.2.3.4:5\r\n");
  ASSERT_EQ(h.ctx.dropped_response_headers().size(), 2u);
  EXPECT_EQ(h.ctx.dropped_response_headers()[0], "server");
  EXPECT_TRUE(h.chain().entry(1).filter->on_local_answers());
}

TEST(HeadersFilter, RefusesFramingFieldsAndBadNames) {
  FilterHarness h(R"yaml(
routes:
  - name: r
    match: {path: /r}
    upstream: up
    filters:
      request_headers: {set: {transfer-encoding: chunked, x-request-id: a}, remove: [connection, "bad name"]}
      response_headers: {set: {x-a: "${path"}}
)yaml");
  std::vector<std::string> m = h.messages();
  ASSERT_EQ(m.size(), 5u) << ::testing::PrintToString(m);
  EXPECT_NE(m[0].find("'transfer-encoding' is set by the gateway"), std::string::npos);
  EXPECT_NE(m[1].find("'x-request-id' is set by the gateway"), std::string::npos);
  EXPECT_NE(m[2].find("'connection' is set by the gateway"), std::string::npos);
  EXPECT_NE(m[3].find("invalid header name 'bad name'"), std::string::npos);
  EXPECT_NE(m[4].find("unclosed variable"), std::string::npos);
}

}  // namespace
}  // namespace sluice::filters
