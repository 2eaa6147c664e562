// ip_rules: deny wins, a non-empty allow list admits only its blocks, the refusal is a 403 with
// its reason and kind; bad CIDRs are config errors.
#include <gtest/gtest.h>

#include "../../filter_harness.h"

namespace sluice::filters {
namespace {

using filter::Phase;
using filter::Status;
using testing::FilterHarness;

TEST(IpRulesFilter, AllowAndDeny) {
  // The harness's client is 192.0.2.7.
  FilterHarness h(R"yaml(
routes:
  - name: allowed
    match: {path: /a}
    upstream: up
    filters: {ip_rules: {allow: [192.0.2.0/24], deny: [192.0.2.8/32]}}
  - name: denied
    match: {path: /d}
    upstream: up
    filters: {ip_rules: {allow: [192.0.2.0/24], deny: [192.0.2.7]}}
  - name: outside
    match: {path: /o}
    upstream: up
    filters: {ip_rules: {allow: ["10.0.0.0/8", "2001:db8::/32"]}}
)yaml");
  ASSERT_TRUE(h.errors.empty()) << h.messages()[0];
  h.route = 0;
  h.request("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kContinue);
  for (size_t r : {1, 2}) {
    h.route = r;
    h.request(r == 1 ? "GET /d HTTP/1.1\r\nHost: x\r\n\r\n" : "GET /o HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(h.run(Phase::kRequestHeaders), Status::kRespond);
    EXPECT_EQ(h.ctx.answer_status(), 403);
    EXPECT_STREQ(h.ctx.answer_reason(), "address not allowed");
    EXPECT_EQ(h.ctx.refusal(), filter::Refusal::kAddress);
  }
  EXPECT_EQ(h.chain().entry(0).priority, filter::priority::kIpRules);
}

TEST(IpRulesFilter, Errors) {
  FilterHarness h(R"yaml(
routes:
  - name: a
    match: {path: /a}
    upstream: up
    filters: {ip_rules: {allow: [10.0.0.0/33, nonsense]}}
  - name: b
    match: {path: /b}
    upstream: up
    filters: {ip_rules: {}}
)yaml");
  std::vector<std::string> m = h.messages();
  ASSERT_EQ(m.size(), 3u) << ::testing::PrintToString(m);
  EXPECT_NE(m[0].find("routes[0].filters.ip_rules.allow[0]"), std::string::npos) << m[0];
  EXPECT_NE(m[1].find("routes[0].filters.ip_rules.allow[1]"), std::string::npos) << m[1];
  EXPECT_NE(m[2].find("give 'allow', 'deny' or both"), std::string::npos) << m[2];
}

}  // namespace
}  // namespace sluice::filters
