// cors: preflights answered (204 with the policy's lines, 403 when refused), actual requests of
// an allowed origin get their headers, upstream Access-Control-* fields are dropped.
#include "filters/cors/cors_filter.h"

#include <gtest/gtest.h>

#include "filter/context.h"
#include "http/request_parser.h"

namespace sluice::filters {
namespace {

class CorsFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auth::CorsConfig cfg;
    cfg.origins = {"https://app.test"};
    cfg.methods = {"GET", "POST"};
    std::string error;
    std::optional<auth::CorsPolicy> policy = auth::CorsPolicy::compile(cfg, &error);
    ASSERT_TRUE(policy) << error;
    filter_ = make_cors_filter(std::move(*policy));
  }
  void begin(const std::string& raw) {
    raw_ = raw;
    http::RequestParser p;
    ASSERT_EQ(p.parse(raw_, head_), http::ParseStatus::kDone);
    ctx_.reset();
    ctx_.begin(head_, "/", nullptr, "r", *auth::IpAddress::parse("192.0.2.1"), "rid", nullptr);
  }
  std::unique_ptr<filter::Filter> filter_;
  std::string raw_;
  http::RequestHead head_;
  filter::Context ctx_;
};

TEST_F(CorsFilterTest, Preflights) {
  begin(
      "OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: https://app.test\r\n"
      "Access-Control-Request-Method: POST\r\n\r\n");
  EXPECT_EQ(filter_->on_request_headers(ctx_), filter::Status::kRespond);
  EXPECT_EQ(ctx_.answer_status(), 204);
  EXPECT_NE(ctx_.answer_lines().find("Access-Control-Allow-Origin: https://app.test"),
            std::string::npos)
      << ctx_.answer_lines();
  begin(
      "OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.test\r\n"
      "Access-Control-Request-Method: POST\r\n\r\n");
  EXPECT_EQ(filter_->on_request_headers(ctx_), filter::Status::kRespond);
  EXPECT_EQ(ctx_.answer_status(), 403);
  EXPECT_STREQ(ctx_.answer_reason(), "CORS preflight refused");
}

TEST_F(CorsFilterTest, ActualRequests) {
  begin("GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://app.test\r\n\r\n");
  EXPECT_EQ(filter_->on_request_headers(ctx_), filter::Status::kContinue);
  http::Header resp[] = {{"Access-Control-Allow-Origin", "*"}, {"X-A", "1"}};
  ctx_.set_response(200, resp, "10.0.0.1:80");
  EXPECT_EQ(filter_->on_response_headers(ctx_), filter::Status::kContinue);
  EXPECT_EQ(ctx_.dropped_response_prefix(), "access-control-");
  EXPECT_EQ(ctx_.response_header("access-control-allow-origin"), "https://app.test");
  EXPECT_EQ(ctx_.response_header("x-a"), "1");
  // Another origin: the upstream's fields are still dropped, none are added.
  begin("GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.test\r\n\r\n");
  ctx_.set_response(200, resp, "10.0.0.1:80");
  filter_->on_response_headers(ctx_);
  EXPECT_EQ(ctx_.response_header("access-control-allow-origin"), "");
  EXPECT_EQ(ctx_.response_lines(), "");
}

}  // namespace
}  // namespace sluice::filters
