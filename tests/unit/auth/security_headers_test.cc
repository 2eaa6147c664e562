#include "auth/security_headers.h"

#include <gtest/gtest.h>

namespace sluice::auth {
namespace {

TEST(SecurityHeaders, RendersBlockAndNames) {
  SecurityHeadersConfig c;
  c.hsts = SecurityHeadersConfig::Hsts{63072000, true, true};
  c.content_type_nosniff = true;
  c.frame_options = FrameOptions::kSameOrigin;
  c.referrer_policy = "no-referrer, strict-origin-when-cross-origin";
  c.content_security_policy = "default-src 'self'; img-src *";
  c.permissions_policy = "geolocation=(), camera=()";
  c.server = ServerHeader::kSet;
  c.server_value = "sluice";
  std::string err;
  auto sh = SecurityHeaders::compile(c, &err);
  ASSERT_TRUE(sh) << err;
  EXPECT_EQ(sh->block(),
            "Strict-Transport-Security: max-age=63072000; includeSubDomains; preload\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "X-Frame-Options: SAMEORIGIN\r\n"
            "Referrer-Policy: no-referrer, strict-origin-when-cross-origin\r\n"
            "Content-Security-Policy: default-src 'self'; img-src *\r\n"
            "Permissions-Policy: geolocation=(), camera=()\r\n"
            "Server: sluice\r\n");
  EXPECT_EQ(sh->names().size(), 7u);
  EXPECT_TRUE(sh->sets("Strict-Transport-Security"));
  EXPECT_TRUE(sh->sets("server"));
  EXPECT_FALSE(sh->sets("content-type"));
}

TEST(SecurityHeaders, HideServerOwnsTheNameButWritesNothing) {
  SecurityHeadersConfig c;
  c.server = ServerHeader::kHide;
  c.frame_options = FrameOptions::kDeny;
  auto sh = SecurityHeaders::compile(c, nullptr);
  ASSERT_TRUE(sh);
  EXPECT_EQ(sh->block(), "X-Frame-Options: DENY\r\n");
  EXPECT_TRUE(sh->sets("Server"));
}

TEST(SecurityHeaders, EmptyConfigIsEmpty) {
  auto sh = SecurityHeaders::compile(SecurityHeadersConfig{}, nullptr);
  ASSERT_TRUE(sh);
  EXPECT_TRUE(sh->block().empty());
  EXPECT_TRUE(sh->names().empty());
}

TEST(SecurityHeaders, RejectsInvalidValues) {
  std::string err;
  auto refuse = [&](SecurityHeadersConfig c) {
    err.clear();
    EXPECT_FALSE(SecurityHeaders::compile(c, &err));
    EXPECT_FALSE(err.empty());
  };
  SecurityHeadersConfig c;
  c.content_security_policy = "default-src 'self'\r\nSet-Cookie: x=1";
  refuse(c);
  c = {};
  c.permissions_policy = " geolocation=()";
  refuse(c);
  c = {};
  c.server = ServerHeader::kSet;
  refuse(c);  // empty value
  c.server_value = std::string("a\0b", 3);
  refuse(c);
  c = {};
  c.referrer_policy = "sometimes";
  refuse(c);
  c = {};
  c.hsts = SecurityHeadersConfig::Hsts{300, true, true};  // preload needs a year
  refuse(c);
  c.hsts = SecurityHeadersConfig::Hsts{31536000, false, true};  // and includeSubDomains
  refuse(c);
}

}  // namespace
}  // namespace sluice::auth
