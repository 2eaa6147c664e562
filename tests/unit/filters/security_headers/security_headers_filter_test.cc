// security_headers: the policy's lines replace the upstream's copies, Server is hidden, and the
// filter also runs on the gateway's own answers.
#include "filters/security_headers/security_headers_filter.h"

#include <gtest/gtest.h>

#include "filter/context.h"
#include "http/request_parser.h"

namespace sluice::filters {
namespace {

TEST(SecurityHeadersFilter, ReplacesTheUpstreamsCopies) {
  auth::SecurityHeadersConfig cfg;
  cfg.content_type_nosniff = true;
  cfg.frame_options = auth::FrameOptions::kDeny;
  cfg.server = auth::ServerHeader::kHide;
  std::string error;
  std::optional<auth::SecurityHeaders> policy = auth::SecurityHeaders::compile(cfg, &error);
  ASSERT_TRUE(policy) << error;
  std::unique_ptr<filter::Filter> f = make_security_headers_filter(*policy);
  EXPECT_TRUE(f->on_local_answers());
  EXPECT_EQ(f->phases(), filter::phase_bit(filter::Phase::kResponseHeaders));

  std::string raw = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  http::RequestHead head;
  http::RequestParser p;
  ASSERT_EQ(p.parse(raw, head), http::ParseStatus::kDone);
  filter::Context ctx;
  ctx.begin(head, "/", nullptr, "r", *auth::IpAddress::parse("192.0.2.1"), "rid", nullptr);
  http::Header resp[] = {{"Server", "nginx"}, {"X-Frame-Options", "SAMEORIGIN"}, {"X-A", "1"}};
  ctx.set_response(200, resp, "10.0.0.1:80");
  EXPECT_EQ(f->on_response_headers(ctx), filter::Status::kContinue);
  EXPECT_EQ(ctx.response_header("server"), "");
  EXPECT_EQ(ctx.response_header("x-frame-options"), "DENY");
  EXPECT_EQ(ctx.response_header("x-content-type-options"), "nosniff");
  EXPECT_EQ(ctx.response_header("x-a"), "1");
  EXPECT_EQ(ctx.response_lines(), policy->block());
}

}  // namespace
}  // namespace sluice::filters
