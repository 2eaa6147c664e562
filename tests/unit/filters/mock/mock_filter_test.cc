// mock: templates, examples by header or query, content types, delays as pauses, errors.
#include <gtest/gtest.h>

#include "../../filter_harness.h"

namespace sluice::filters {
namespace {

using filter::Phase;
using filter::Status;
using testing::FilterHarness;

TEST(MockFilter, AnswersExamplesAndDelays) {
  FilterHarness h(R"yaml(
routes:
  - name: m
    match: {path: "/u/{id}"}
    mock:
      status: 201
      headers: {x-id: "${path.id}"}
      body: '{"id": "${path.id}"}'
      examples:
        gone: {status: 410, body: "gone", delay: 20ms}
  - name: q
    match: {path: /q}
    mock: {body: "[1]", example_from: "query:ex", examples: {two: {body: "[2]"}}}
)yaml");
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  h.request("GET /u/5 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kRespond);
  EXPECT_EQ(h.ctx.answer_status(), 201);
  EXPECT_EQ(h.ctx.answer_body(), R"({"id": "5"})");
  EXPECT_EQ(h.ctx.answer_lines(), "content-type: application/json\r\nx-id: 5\r\n");
  h.request("GET /u/5 HTTP/1.1\r\nHost: x\r\nX-Mock-Example: gone\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kPause);
  EXPECT_EQ(h.delays, (std::vector<uint64_t>{20}));
  EXPECT_EQ(h.resume(), Status::kRespond);
  EXPECT_EQ(h.ctx.answer_status(), 410);
  EXPECT_EQ(h.ctx.answer_lines(), "content-type: text/plain; charset=utf-8\r\n");
  h.route = 1;
  h.request("GET /q?ex=two HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kRespond);
  EXPECT_EQ(h.ctx.answer_body(), "[2]");
}

TEST(MockFilter, Errors) {
  FilterHarness h(R"yaml(
routes:
  - name: m
    match: {path: /m}
    mock:
      status: 99
      body: x
      file: /nonexistent/file
      delay: 2m
      example_from: cookie:x
      examples: {"bad name": {body: y}, ok: {bogus: 1}}
)yaml");
  std::vector<std::string> m = h.messages();
  ASSERT_EQ(m.size(), 6u) << ::testing::PrintToString(m);
  EXPECT_NE(m[0].find("mock.status: expected an integer from 200 to 599"), std::string::npos);
  EXPECT_NE(m[1].find("give 'body' or 'file', not both"), std::string::npos);
  EXPECT_NE(m[2].find("mock.delay: at most 60s"), std::string::npos);
  EXPECT_NE(m[3].find("invalid example name 'bad name'"), std::string::npos);
  EXPECT_NE(m[4].find("examples.ok.bogus: unknown key 'bogus'"), std::string::npos);
  EXPECT_NE(m[5].find("expected header:NAME or query:NAME"), std::string::npos);
}

}  // namespace
}  // namespace sluice::filters
