// rate_limit: local policies count a key in the policy's store (a request without the key is
// not limited), the first denial answers 429 and every answer of a limited request carries the
// tightest policy's RateLimit-* fields (Retry-After too when refused); a cluster policy may
// pause until its quota answers and resumes where it stopped; an unavailable store is a 503
// unless fail_open.
#include "filters/rate_limit/rate_limit_filter.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../../fake_services.h"
#include "auth/jwt.h"
#include "filter/context.h"
#include "limits/rate_policy.h"

namespace sluice::filters {
namespace {

using filter::Phase;
using filter::Status;
using Key = config::RateLimitConfig::Key;
using limits::QuotaResult;
using testing::FakeServices;
using testing::FilterRequest;

// A token bucket of `limit` per minute.
limits::RatePolicy policy(std::string name, Key key, std::string key_name, uint64_t limit,
                          bool cluster = false) {
  limits::RatePolicy p;
  p.name = std::move(name);
  p.key = key;
  p.key_name = std::move(key_name);
  p.params = {limits::RateAlgorithm::kTokenBucket, limit, 60000, 0};
  p.cluster = cluster;
  p.policy_id = "r:" + p.name;
  p.policy_header = std::to_string(limit) + ";w=60";
  p.runtime = std::make_shared<limits::RateLimitRuntime>(1000);
  return p;
}

limits::RateDecision decision(bool allowed, uint64_t limit, uint64_t remaining, uint64_t reset_ms,
                              uint64_t retry_after_ms = 0) {
  limits::RateDecision d;
  d.allowed = allowed;
  d.limit = limit;
  d.remaining = remaining;
  d.reset_ms = reset_ms;
  d.retry_after_ms = retry_after_ms;
  return d;
}

class RateLimitFilterTest : public ::testing::Test {
 protected:
  void make(std::vector<limits::RatePolicy> p, bool fail_open = false) {
    policies_ = std::move(p);
    filter_ = make_rate_limit_filter(
        std::make_shared<const std::vector<limits::RatePolicy>>(policies_), fail_open);
  }
  void begin(const std::string& headers = "", const std::string& target = "/") {
    req_.begin("GET " + target + " HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n", &svc_,
               filter_->state_size());
  }
  Status run() { return filter_->on_request_headers(req_.ctx); }
  // The response side of the same exchange: the fields the filter adds.
  void respond() {
    req_.ctx.set_response(200, {}, "10.0.0.1:80");
    EXPECT_EQ(filter_->on_response_headers(req_.ctx), Status::kContinue);
  }
  std::string_view field(std::string_view name) { return req_.ctx.response_header(name); }
  filter::Context& ctx() { return req_.ctx; }
  const limits::RateLimitRuntime& rt(size_t i) const { return *policies_[i].runtime; }

  FakeServices svc_;
  std::vector<limits::RatePolicy> policies_;
  std::unique_ptr<filter::Filter> filter_;
  FilterRequest req_;
};

TEST_F(RateLimitFilterTest, Shape) {
  make({policy("ip", Key::kClientIp, "", 2)});
  EXPECT_EQ(filter_->phases(),
            filter::phase_bit(Phase::kRequestHeaders) | filter::phase_bit(Phase::kResponseHeaders));
  EXPECT_TRUE(filter_->on_local_answers());  // the gateway's own 429 carries the fields
  EXPECT_GT(filter_->state_size(), 0u);
  EXPECT_LE(filter_->state_size(), filter::Context::kStateBytes);
  EXPECT_FALSE(filter_->reads_claims());
}

TEST_F(RateLimitFilterTest, LocalTokenBucket) {
  make({policy("ip", Key::kClientIp, "", 2)});
  begin();
  ASSERT_EQ(run(), Status::kContinue);
  respond();
  EXPECT_EQ(field("ratelimit-limit"), "2");
  EXPECT_EQ(field("ratelimit-remaining"), "1");
  EXPECT_EQ(field("ratelimit-reset"), "30");  // one token back in 30 s
  EXPECT_EQ(field("ratelimit-policy"), "2;w=60");
  EXPECT_FALSE(ctx().response_lines().find("Retry-After") != std::string::npos);

  begin();
  ASSERT_EQ(run(), Status::kContinue);
  respond();
  EXPECT_EQ(field("ratelimit-remaining"), "0");
  EXPECT_EQ(field("ratelimit-reset"), "60");

  begin();
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 429);
  EXPECT_STREQ(ctx().answer_reason(), "rate limit exceeded");
  // The fields go on the gateway's own answer, in its response-headers phase.
  EXPECT_EQ(ctx().response_lines(), "");
  respond();
  EXPECT_EQ(field("retry-after"), "30");
  EXPECT_EQ(field("ratelimit-limit"), "2");
  EXPECT_EQ(field("ratelimit-remaining"), "0");
  EXPECT_EQ(field("ratelimit-reset"), "60");
  EXPECT_EQ(field("ratelimit-policy"), "2;w=60");
  EXPECT_EQ(rt(0).allowed.load(), 2u);
  EXPECT_EQ(rt(0).denied.load(), 1u);

  // A token is back 30 s later.
  svc_.now_ms += 30000;
  begin();
  EXPECT_EQ(run(), Status::kContinue);
}

TEST_F(RateLimitFilterTest, KeysAreCountedApart) {
  make({policy("tenant", Key::kHeader, "x-tenant", 1)});
  begin("X-Tenant: a\r\n");
  EXPECT_EQ(run(), Status::kContinue);
  begin("X-Tenant: b\r\n");
  EXPECT_EQ(run(), Status::kContinue);
  begin("X-Tenant: a\r\n");
  EXPECT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 429);
}

TEST_F(RateLimitFilterTest, AbsentKeyIsNotLimited) {
  make({policy("tenant", Key::kHeader, "x-tenant", 1)});
  for (int i = 0; i < 3; ++i) {
    begin();
    ASSERT_EQ(run(), Status::kContinue);
    respond();
    EXPECT_EQ(ctx().response_lines(), "");  // no decision, no fields
  }
  EXPECT_EQ(rt(0).allowed.load(), 0u);
  EXPECT_EQ(rt(0).denied.load(), 0u);
}

TEST_F(RateLimitFilterTest, QueryConsumerAndRouteKeys) {
  make({policy("q", Key::kQuery, "api", 1), policy("c", Key::kConsumer, "", 5),
        policy("route", Key::kRoute, "", 10)});
  begin("", "/?api=k1");
  ASSERT_EQ(run(), Status::kContinue);
  begin("", "/?api=k1");
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(rt(0).denied.load(), 1u);
  EXPECT_EQ(rt(1).allowed.load(), 0u);  // not identified: no consumer key
  EXPECT_EQ(rt(2).allowed.load(), 1u);  // the first denial stops the policies after it
  const std::vector<std::string> roles;
  begin();
  ctx().set_consumer("alice", roles);
  ASSERT_EQ(run(), Status::kContinue);
  EXPECT_EQ(rt(1).allowed.load(), 1u);
  EXPECT_EQ(rt(2).allowed.load(), 2u);
}

TEST_F(RateLimitFilterTest, TightestPolicyIsReported) {
  make({policy("ip", Key::kClientIp, "", 10), policy("tenant", Key::kHeader, "x-tenant", 3)});
  begin("X-Tenant: a\r\n");
  ASSERT_EQ(run(), Status::kContinue);
  respond();
  EXPECT_EQ(field("ratelimit-limit"), "3");
  EXPECT_EQ(field("ratelimit-remaining"), "2");
  EXPECT_EQ(field("ratelimit-policy"), "3;w=60");
}

TEST_F(RateLimitFilterTest, JwtClaimKey) {
  make({policy("tenant", Key::kJwtClaim, "tenant", 1)});
  EXPECT_TRUE(filter_->reads_claims());
  auth::JwtClaims claims;
  claims.sub = "u1";
  claims.strings = {{"sub", "u1"}, {"tenant", "acme"}};
  for (int i = 0; i < 2; ++i) {
    begin();
    ctx().set_keep_claims(true);
    ctx().set_token(claims);
    ASSERT_EQ(run(), i == 0 ? Status::kContinue : Status::kRespond);
  }
  EXPECT_EQ(ctx().answer_status(), 429);
  // Without the claim the policy does not apply.
  begin();
  EXPECT_EQ(run(), Status::kContinue);
}

TEST_F(RateLimitFilterTest, ClusterPausesThenResumes) {
  make({policy("ip", Key::kClientIp, "", 1000), policy("user", Key::kHeader, "x-user", 100, true)});
  svc_.take_result = QuotaResult::kWait;
  begin("X-User: u1\r\n");
  ASSERT_EQ(run(), Status::kPause);
  EXPECT_EQ(svc_.quota_takes, 1);
  EXPECT_EQ(svc_.last_quota_policy, "user");
  EXPECT_EQ(svc_.last_quota_key, "u1");
  EXPECT_EQ(rt(0).allowed.load(), 1u);

  // The store answered: the chain runs the phase again.
  svc_.answer_decision = decision(true, 100, 41, 1500);
  ASSERT_EQ(run(), Status::kContinue);
  EXPECT_EQ(svc_.quota_takes, 1);  // not asked again
  EXPECT_EQ(svc_.quota_answers, 1);
  EXPECT_EQ(rt(0).allowed.load(), 1u);  // the local policy before it is not counted twice
  EXPECT_EQ(rt(1).allowed.load(), 1u);
  respond();  // the cluster policy has the fewest left
  EXPECT_EQ(field("ratelimit-limit"), "100");
  EXPECT_EQ(field("ratelimit-remaining"), "41");
  EXPECT_EQ(field("ratelimit-reset"), "2");
  EXPECT_EQ(field("ratelimit-policy"), "100;w=60");
}

TEST_F(RateLimitFilterTest, ClusterDecidedAndDenied) {
  make({policy("user", Key::kHeader, "x-user", 100, true)});
  svc_.take_decision = decision(true, 100, 99, 600);
  begin("X-User: u1\r\n");
  ASSERT_EQ(run(), Status::kContinue);
  respond();
  EXPECT_EQ(field("ratelimit-remaining"), "99");
  EXPECT_EQ(field("ratelimit-reset"), "1");

  // Denied after a wait.
  svc_.take_result = QuotaResult::kWait;
  svc_.answer_decision = decision(false, 100, 0, 60000, 2500);
  begin("X-User: u1\r\n");
  ASSERT_EQ(run(), Status::kPause);
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 429);
  EXPECT_STREQ(ctx().answer_reason(), "rate limit exceeded");
  respond();
  EXPECT_EQ(field("retry-after"), "3");
  EXPECT_EQ(field("ratelimit-remaining"), "0");
  EXPECT_EQ(rt(0).denied.load(), 1u);
}

TEST_F(RateLimitFilterTest, ClusterWaitCancelled) {
  make({policy("user", Key::kHeader, "x-user", 100, true)});
  svc_.take_result = QuotaResult::kWait;
  begin("X-User: u1\r\n");
  ASSERT_EQ(run(), Status::kPause);
  filter_->on_cancel(ctx());
  // No answer is read for a cancelled wait: a new run asks again.
  EXPECT_EQ(run(), Status::kPause);
  EXPECT_EQ(svc_.quota_takes, 2);
  EXPECT_EQ(svc_.quota_answers, 0);
}

TEST_F(RateLimitFilterTest, StoreUnavailable) {
  make({policy("user", Key::kHeader, "x-user", 100, true)});
  svc_.take_result = QuotaResult::kUnavailable;
  begin("X-User: u1\r\n");
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 503);
  EXPECT_STREQ(ctx().answer_reason(), "rate limit store unavailable");
  respond();
  EXPECT_EQ(field("retry-after"), "1");
  EXPECT_EQ(field("ratelimit-limit"), "");  // no decision
  EXPECT_EQ(rt(0).errors.load(), 1u);

  // Lost while waiting.
  svc_.take_result = QuotaResult::kWait;
  svc_.answer_ok = false;
  begin("X-User: u1\r\n");
  ASSERT_EQ(run(), Status::kPause);
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 503);
  EXPECT_EQ(rt(0).errors.load(), 2u);
}

TEST_F(RateLimitFilterTest, StoreUnavailableFailOpen) {
  make({policy("user", Key::kHeader, "x-user", 100, true), policy("ip", Key::kClientIp, "", 5)},
       true);
  svc_.take_result = QuotaResult::kUnavailable;
  begin("X-User: u1\r\n");
  ASSERT_EQ(run(), Status::kContinue);
  EXPECT_EQ(ctx().answer_status(), 0);
  EXPECT_EQ(rt(0).errors.load(), 1u);
  EXPECT_EQ(rt(1).allowed.load(), 1u);  // the policies after it still count
  respond();
  EXPECT_EQ(field("retry-after"), "");
  EXPECT_EQ(field("ratelimit-limit"), "5");

  svc_.take_result = QuotaResult::kWait;
  svc_.answer_ok = false;
  begin("X-User: u1\r\n");
  ASSERT_EQ(run(), Status::kPause);
  EXPECT_EQ(run(), Status::kContinue);
  EXPECT_EQ(rt(0).errors.load(), 2u);
}

}  // namespace
}  // namespace sluice::filters
