// fault: a delay as a pause of the upstream_request phase, an abort, shares of requests, errors.
#include <gtest/gtest.h>

#include "../../filter_harness.h"

namespace sluice::filters {
namespace {

using filter::Phase;
using filter::Status;
using testing::FilterHarness;

TEST(FaultFilter, DelaysThenAborts) {
  FilterHarness h(R"yaml(
routes:
  - name: both
    match: {path: /both}
    upstream: up
    filters:
      fault: {delay: 40ms, abort: 503}
  - name: delay
    match: {path: /delay}
    upstream: up
    filters:
      fault: {delay: 1s}
  - name: never
    match: {path: /never}
    upstream: up
    filters:
      fault: {delay: 1s, delay_percent: 0, abort: 500, abort_percent: 0}
)yaml");
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  const filter::Chain& c = *h.chains[0];
  ASSERT_EQ(c.entries().size(), 1u);
  EXPECT_EQ(c.entries()[0].priority, filter::priority::kFault);
  EXPECT_TRUE(c.phase(Phase::kRequestHeaders).empty()) << "only the upstream_request phase";
  EXPECT_EQ(c.phase(Phase::kUpstreamRequest).size(), 1u);

  h.request("GET /both HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kUpstreamRequest), Status::kPause);
  EXPECT_EQ(h.delays, (std::vector<uint64_t>{40}));
  EXPECT_EQ(h.resume(), Status::kRespond);
  EXPECT_EQ(h.ctx.answer_status(), 503);
  EXPECT_STREQ(h.ctx.answer_reason(), "fault injected");
  EXPECT_EQ(h.delays.size(), 1u) << "delayed once";

  h.delays.clear();
  h.request("GET /delay HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kUpstreamRequest), Status::kPause);
  EXPECT_EQ(h.resume(), Status::kContinue);
  EXPECT_EQ(h.delays, (std::vector<uint64_t>{1000}));

  h.delays.clear();
  for (int i = 0; i < 50; ++i) {
    h.request("GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(h.run(Phase::kUpstreamRequest), Status::kContinue);
  }
  EXPECT_TRUE(h.delays.empty());
}

TEST(FaultFilter, ResponseDelayPausesTheResponseHeadersPhase) {
  FilterHarness h(R"yaml(
routes:
  - name: late
    match: {path: /late}
    upstream: up
    filters:
      fault: {response_delay: 25ms}
)yaml");
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  EXPECT_EQ(h.chains[0]->phase(Phase::kResponseHeaders).size(), 1u);
  h.request("GET /late HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kUpstreamRequest), Status::kContinue);
  h.ctx.set_response(200, {}, "10.0.0.1:80");
  EXPECT_EQ(h.run(Phase::kResponseHeaders), Status::kPause);
  EXPECT_EQ(h.delays, (std::vector<uint64_t>{25}));
  EXPECT_EQ(h.resume(), Status::kContinue);
  // The gateway's own answers cannot wait: on_local_answers() is false, and a local run of the
  // phase never pauses.
  h.request("GET /late HTTP/1.1\r\nHost: x\r\n\r\n");
  filter::Cursor c;
  c.start(Phase::kResponseHeaders);
  EXPECT_EQ(filter::run_phase(h.chain(), h.ctx, c, true), Status::kContinue);
}

TEST(FaultFilter, ShareOfRequests) {
  FilterHarness h(R"yaml(
routes:
  - name: half
    match: {path: /half}
    upstream: up
    filters:
      fault: {abort: 502, abort_percent: 50}
)yaml");
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  int aborted = 0;
  for (int i = 0; i < 2000; ++i) {
    h.request("GET /half HTTP/1.1\r\nHost: x\r\n\r\n");
    if (h.run(Phase::kUpstreamRequest) == Status::kRespond) ++aborted;
  }
  EXPECT_GT(aborted, 800);
  EXPECT_LT(aborted, 1200);
}

TEST(FaultFilter, Errors) {
  FilterHarness h(R"yaml(
routes:
  - name: a
    match: {path: /a}
    upstream: up
    filters:
      fault: {delay_percent: 10}
  - name: b
    match: {path: /b}
    upstream: up
    filters:
      fault: {delay: 61s, abort: 99, abort_percent: -1, bogus: 1}
)yaml");
  const std::vector<std::string> m = h.messages();
  ASSERT_EQ(m.size(), 5u) << ::testing::PrintToString(m);
  auto has = [&](const std::string& text) {
    return std::any_of(m.begin(), m.end(),
                       [&](const std::string& e) { return e.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("routes[0].filters.fault: give 'delay', 'abort', 'response_delay' or several"));
  EXPECT_TRUE(has("routes[1].filters.fault.bogus: unknown key 'bogus'"));
  EXPECT_TRUE(has("routes[1].filters.fault.delay: at most 60s"));
  EXPECT_TRUE(has("routes[1].filters.fault.abort:"));
  EXPECT_TRUE(has("routes[1].filters.fault.abort_percent:"));
}

}  // namespace
}  // namespace sluice::filters
