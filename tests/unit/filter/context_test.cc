// Context: header edits as later filters and the renderer see them, path and query changes,
// route parameters that survive the router's scratch, claims, answers.
#include "filter/context.h"

#include <gtest/gtest.h>

#include <string>

#include "http/request_parser.h"

namespace sluice::filter {
namespace {

class ContextTest : public ::testing::Test {
 protected:
  void begin(const std::string& raw, std::string path_storage = "/u/42") {
    raw_ = raw;
    http::RequestParser p;
    ASSERT_EQ(p.parse(raw_, head_), http::ParseStatus::kDone);
    path_ = std::move(path_storage);
    router::MatchResult m;
    m.status = router::MatchStatus::kFound;
    m.params[0] = {"id", std::string_view(path_).substr(3)};
    m.param_count = 1;
    ctx_.begin(head_, path_, &m, "users", *auth::IpAddress::parse("2001:db8::1"), "rid", nullptr);
  }
  std::string raw_;
  std::string path_;
  http::RequestHead head_;
  Context ctx_;
};

TEST_F(ContextTest, HeaderEditsAreSeenByLaterReaders) {
  begin("GET /u/42?a=1 HTTP/1.1\r\nHost: x\r\nX-A: one\r\nX-A: two\r\nX-B: b\r\n\r\n");
  EXPECT_EQ(ctx_.request_header("x-a"), "one");
  ctx_.set_request_header("x-a", "three");
  EXPECT_EQ(ctx_.request_header("X-A"), "three");
  ctx_.add_request_header("x-c", "c1");
  ctx_.add_request_header("x-c", "c2");
  EXPECT_EQ(ctx_.request_header("x-c"), "c1");
  ctx_.remove_request_header("x-b");
  EXPECT_FALSE(ctx_.has_request_header("x-b"));
  EXPECT_EQ(ctx_.request_header("x-b"), "");
  EXPECT_TRUE(ctx_.has_request_header("x-c"));
  ctx_.set_request_header("x-c", "only");
  EXPECT_EQ(ctx_.upstream_lines(), "x-a: three\r\nx-c: only\r\n");
  ASSERT_EQ(ctx_.dropped_request_headers().size(), 3u);
  EXPECT_EQ(ctx_.dropped_request_headers()[0], "x-a");
}

TEST_F(ContextTest, ControlBytesCannotAddAHeader) {
  begin("GET /u/42 HTTP/1.1\r\nHost: x\r\n\r\n");
  ctx_.set_request_header("x-a", "v\r\nx-evil: 1");
  EXPECT_EQ(ctx_.upstream_lines(), "x-a: vx-evil: 1\r\n");
}

TEST_F(ContextTest, PathQueryParamsAndIdentity) {
  begin("GET /u/42?a=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  path_.assign("/zz/zz");  // the router's scratch is reused: the context has its own copy
  EXPECT_EQ(ctx_.param("id"), "42");
  EXPECT_EQ(ctx_.param("nope"), "");
  EXPECT_EQ(ctx_.path(), "/u/42");
  EXPECT_EQ(ctx_.query(), "a=1");
  ctx_.set_path("/v2/42");
  ctx_.set_query("");
  EXPECT_TRUE(ctx_.path_changed() && ctx_.query_changed());
  EXPECT_EQ(ctx_.path(), "/v2/42");
  EXPECT_EQ(ctx_.matched_path(), "/u/42");
  EXPECT_EQ(ctx_.query(), "");
  EXPECT_EQ(ctx_.client_ip(), "2001:db8::1");
  EXPECT_EQ(ctx_.route(), "users");
  auth::JwtClaims claims;
  claims.sub = "alice";
  claims.strings = {{"sub", "alice"}, {"tenant", "acme"}};
  claims.roles = {"reader"};
  ctx_.set_token(claims);  // not kept: only the principal
  EXPECT_EQ(ctx_.consumer(), "alice");
  EXPECT_TRUE(ctx_.identified());
  EXPECT_EQ(ctx_.claim("tenant"), "");
  EXPECT_TRUE(ctx_.roles().empty());
  ctx_.set_keep_claims(true);
  ctx_.set_token(claims);
  claims = auth::JwtClaims();  // the worker's cache may change: the context has its own copy
  EXPECT_EQ(ctx_.claim("tenant"), "acme");
  EXPECT_EQ(ctx_.claim("sub"), "alice");
  EXPECT_EQ(ctx_.claim("missing"), "");
  EXPECT_EQ(ctx_.consumer(), "alice");
  ASSERT_EQ(ctx_.roles().size(), 1U);
  EXPECT_EQ(ctx_.roles()[0], "reader");
}

TEST_F(ContextTest, ConsumerIdentityAndRefusal) {
  begin("GET /u/42 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_FALSE(ctx_.identified());
  const std::vector<std::string> roles = {"admin"};
  ctx_.set_consumer("svc", roles);
  EXPECT_EQ(ctx_.consumer(), "svc");
  EXPECT_EQ(ctx_.roles().size(), 1U);
  ctx_.refuse(401, "missing credentials", Refusal::kMissing);
  ctx_.add_answer_header("WWW-Authenticate", "Bearer realm=\"sluice\"");
  EXPECT_EQ(ctx_.answer_status(), 401);
  EXPECT_STREQ(ctx_.answer_reason(), "missing credentials");
  EXPECT_EQ(ctx_.refusal(), Refusal::kMissing);
  EXPECT_EQ(ctx_.answer_body(), "");
  EXPECT_EQ(ctx_.answer_lines(), "WWW-Authenticate: Bearer realm=\"sluice\"\r\n");
  ctx_.reset();
  EXPECT_FALSE(ctx_.identified());
  EXPECT_EQ(ctx_.consumer(), "");
}

TEST_F(ContextTest, ResponseEditsAndAnswer) {
  begin("GET /u/42 HTTP/1.1\r\nHost: x\r\n\r\n");
  http::Header h[] = {{"Server", "nginx"}, {"X-Up", "1"}};
  ctx_.set_response(201, h, "10.0.0.1:80");
  EXPECT_EQ(ctx_.response_header("server"), "nginx");
  ctx_.remove_response_header("server");
  ctx_.set_response_header("x-up", "2");
  EXPECT_EQ(ctx_.response_header("server"), "");
  EXPECT_EQ(ctx_.response_header("x-up"), "2");
  EXPECT_EQ(ctx_.response_lines(), "x-up: 2\r\n");
  ctx_.respond(418, "tea", "text/plain");
  ctx_.add_answer_header("x-a", "b");
  EXPECT_EQ(ctx_.answer_status(), 418);
  EXPECT_EQ(ctx_.answer_body(), "tea");
  EXPECT_EQ(ctx_.answer_lines(), "content-type: text/plain\r\nx-a: b\r\n");
}

TEST_F(ContextTest, ResetKeepsNothingButCapacity) {
  begin("GET /u/42 HTTP/1.1\r\nHost: x\r\n\r\n");
  ctx_.set_request_header("x-a", "1");
  ctx_.set_path("/p");
  ctx_.respond(500, "x");
  ctx_.reset();
  begin("GET /u/43 HTTP/1.1\r\nHost: x\r\n\r\n", "/u/43");
  EXPECT_EQ(ctx_.upstream_lines(), "");
  EXPECT_TRUE(ctx_.dropped_request_headers().empty());
  EXPECT_FALSE(ctx_.path_changed());
  EXPECT_EQ(ctx_.answer_status(), 0);
  EXPECT_EQ(ctx_.param("id"), "43");
}

TEST_F(ContextTest, ControlBytesAreDroppedWherever) {
  begin("GET /u/42 HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string clean = "abcdefghijklmnopqrstuvwxyz\tABCDEFGHIJ";  // a tab stays
  for (size_t at = 0; at <= clean.size(); ++at) {
    for (const char bad : {'\r', '\n', '\0', '\x7f', '\x1f'}) {
      std::string v = clean;
      v.insert(at, 1, bad);
      ctx_.set_request_header("x-v", v);
      ASSERT_EQ(ctx_.request_header("x-v"), clean) << at << " " << static_cast<int>(bad);
    }
  }
  ctx_.set_request_header("x-v", "\x80\xff high bytes pass \xa0\xa0\xa0\xa0");
  EXPECT_EQ(ctx_.request_header("x-v"), "\x80\xff high bytes pass \xa0\xa0\xa0\xa0");
  EXPECT_EQ(ctx_.upstream_lines().find("x-v", 10), std::string::npos) << "set replaced it";
}

}  // namespace
}  // namespace sluice::filter
