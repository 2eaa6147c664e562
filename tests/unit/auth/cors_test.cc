#include "auth/cors.h"

#include <gtest/gtest.h>

namespace sluice::auth {
namespace {

CorsPolicy compile(CorsConfig c) {
  std::string err;
  std::optional<CorsPolicy> p = CorsPolicy::compile(c, &err);
  EXPECT_TRUE(p.has_value()) << err;
  return p ? std::move(*p) : CorsPolicy();
}

CorsConfig wildcard_subdomains() {
  CorsConfig c;
  c.origins = {"https://*.example.com", "https://app.other.org:8443"};
  c.methods = {"GET", "PUT"};
  c.allowed_headers = {"Content-Type", "authorization"};
  c.exposed_headers = {"X-Request-Id"};
  c.max_age_s = 600;
  return c;
}

TEST(Cors, WildcardMatchesWholeLabelsOnly) {
  const CorsPolicy p = compile(wildcard_subdomains());
  EXPECT_TRUE(p.origin_allowed("https://a.example.com"));
  EXPECT_TRUE(p.origin_allowed("https://a.b.example.com"));
  EXPECT_TRUE(p.origin_allowed("https://A-1.Example.COM"));
  EXPECT_FALSE(p.origin_allowed("https://example.com"));
  EXPECT_FALSE(p.origin_allowed("https://.example.com"));
  EXPECT_FALSE(p.origin_allowed("https://a..example.com"));
  EXPECT_FALSE(p.origin_allowed("https://evil-example.com"));
  EXPECT_FALSE(p.origin_allowed("https://evilexample.com"));
  EXPECT_FALSE(p.origin_allowed("https://a.example.com.evil.com"));
  EXPECT_FALSE(p.origin_allowed("http://a.example.com"));
  EXPECT_FALSE(p.origin_allowed("https://a.example.com:8443"));
  EXPECT_FALSE(p.origin_allowed("https://user@a.example.com"));
  EXPECT_FALSE(p.origin_allowed("https://a.example.com/"));
  EXPECT_FALSE(p.origin_allowed("https://a_b.example.com"));
  EXPECT_FALSE(p.origin_allowed("https://evil.com/.example.com"));
  EXPECT_FALSE(p.origin_allowed("null"));
  EXPECT_FALSE(p.origin_allowed(""));
  EXPECT_TRUE(p.origin_allowed("https://app.other.org:8443"));
  EXPECT_FALSE(p.origin_allowed("https://app.other.org"));
}

TEST(Cors, PreflightAllowed) {
  const CorsPolicy p = compile(wildcard_subdomains());
  std::string h;
  int status = 0;
  p.preflight_response("https://a.example.com", "PUT", "content-type, Authorization", h, &status);
  EXPECT_EQ(status, 204);
  EXPECT_EQ(h,
            "Access-Control-Allow-Origin: https://a.example.com\r\n"
            "Vary: Origin\r\n"
            "Access-Control-Allow-Methods: GET, PUT\r\n"
            "Access-Control-Allow-Headers: content-type, Authorization\r\n"
            "Access-Control-Max-Age: 600\r\n");
  h.clear();
  p.preflight_response("https://a.example.com", "GET", "", h, &status);
  EXPECT_EQ(status, 204);
  EXPECT_EQ(h.find("Allow-Headers"), std::string::npos);
}

TEST(Cors, PreflightRefused) {
  const CorsPolicy p = compile(wildcard_subdomains());
  struct Case {
    const char* origin;
    const char* method;
    const char* headers;
  } cases[] = {
      {"https://evil-example.com", "GET", ""},
      {"https://a.example.com", "DELETE", ""},
      {"https://a.example.com", "get", ""},  // methods are case-sensitive
      {"https://a.example.com", "GET", "content-type, x-secret"},
      {"https://a.example.com", "GET", "bad header"},
      {"", "GET", ""},
  };
  for (const Case& c : cases) {
    std::string h = "keep";
    int status = 0;
    p.preflight_response(c.origin, c.method, c.headers, h, &status);
    EXPECT_EQ(status, 403) << c.origin << " " << c.method << " " << c.headers;
    EXPECT_EQ(h, "keep");  // nothing appended
  }
}

TEST(Cors, ActualResponseHeaders) {
  const CorsPolicy p = compile(wildcard_subdomains());
  std::string h;
  p.actual_response_headers("https://x.example.com", h);
  EXPECT_EQ(h,
            "Access-Control-Allow-Origin: https://x.example.com\r\n"
            "Vary: Origin\r\n"
            "Access-Control-Expose-Headers: X-Request-Id\r\n");
  h.clear();
  p.actual_response_headers("https://evil-example.com", h);
  EXPECT_TRUE(h.empty());
}

TEST(Cors, AnyOriginWithoutCredentials) {
  CorsConfig c;
  c.origins = {"*"};
  c.methods = {"*"};
  c.allowed_headers = {"*"};
  const CorsPolicy p = compile(c);
  std::string h;
  int status = 0;
  p.preflight_response("https://anything.test", "PATCH", "x-custom", h, &status);
  EXPECT_EQ(status, 204);
  EXPECT_EQ(h,
            "Access-Control-Allow-Origin: *\r\n"
            "Access-Control-Allow-Methods: PATCH\r\n"
            "Access-Control-Allow-Headers: x-custom\r\n");
  h.clear();
  p.actual_response_headers("null", h);
  EXPECT_EQ(h, "Access-Control-Allow-Origin: *\r\n");
}

TEST(Cors, CredentialsEchoOrigin) {
  CorsConfig c;
  c.origins = {"https://app.example.com"};
  c.credentials = true;
  const CorsPolicy p = compile(c);
  std::string h;
  p.actual_response_headers("https://app.example.com", h);
  EXPECT_EQ(h,
            "Access-Control-Allow-Origin: https://app.example.com\r\n"
            "Access-Control-Allow-Credentials: true\r\n"
            "Vary: Origin\r\n");
  h.clear();
  int status = 0;
  p.preflight_response("https://app.example.com", "POST", "", h, &status);
  EXPECT_EQ(status, 204);
  EXPECT_NE(h.find("Access-Control-Allow-Methods: GET, HEAD, POST\r\n"), std::string::npos);
  EXPECT_NE(h.find("Access-Control-Allow-Credentials: true\r\n"), std::string::npos);
}

TEST(Cors, CompileRefusesWildcardsWithCredentials) {
  std::string err;
  for (int field = 0; field < 4; ++field) {
    CorsConfig c;
    c.origins = {"https://app.example.com"};
    c.credentials = true;
    if (field == 0) c.origins = {"*"};
    if (field == 1) c.methods = {"*"};
    if (field == 2) c.allowed_headers = {"*"};
    if (field == 3) c.exposed_headers = {"*"};
    err.clear();
    EXPECT_FALSE(CorsPolicy::compile(c, &err)) << field;
    EXPECT_FALSE(err.empty());
  }
}

TEST(Cors, CompileRefusesBadOrigins) {
  for (const char* o : {"example.com", "https://", "https://a.example.com/", "https://*",
                        "https://a.*.example.com", "https://*example.com", "://x.com",
                        "https://x.com:", "https://x.com:abc", "https://exa mple.com"}) {
    CorsConfig c;
    c.origins = {o};
    std::string err;
    EXPECT_FALSE(CorsPolicy::compile(c, &err)) << o;
  }
  CorsConfig none;
  std::string err;
  EXPECT_FALSE(CorsPolicy::compile(none, &err));
  CorsConfig bad_method;
  bad_method.origins = {"https://x.com"};
  bad_method.methods = {"GE T"};
  EXPECT_FALSE(CorsPolicy::compile(bad_method, &err));
  CorsConfig ok;
  ok.origins = {"null", "http://[::1]:8080", "http://127.0.0.1:3000"};
  EXPECT_TRUE(CorsPolicy::compile(ok, &err)) << err;
}

TEST(Cors, IsPreflight) {
  EXPECT_TRUE(CorsPolicy::is_preflight("OPTIONS", true, true));
  EXPECT_FALSE(CorsPolicy::is_preflight("OPTIONS", true, false));
  EXPECT_FALSE(CorsPolicy::is_preflight("OPTIONS", false, true));
  EXPECT_FALSE(CorsPolicy::is_preflight("GET", true, true));
}

}  // namespace
}  // namespace sluice::auth
