#include "router/pattern.h"

#include <gtest/gtest.h>

#include <string>

#include "router/router.h"

namespace sluice::router {
namespace {

using Kind = PatternSegment::Kind;

void expect_error(std::string_view pattern, std::string_view fragment) {
  const std::string err = check_pattern(pattern);
  EXPECT_NE(err.find(fragment), std::string::npos)
      << "pattern " << pattern << " gave \"" << err << "\", wanted \"" << fragment << "\"";
}

TEST(CheckPattern, AcceptsValidPatterns) {
  for (std::string_view p :
       {"/", "/hello", "/users/{id}", "/users/{id}/posts/{post_id}", "/static/{*rest}", "/{*all}",
        "/a/", "/a//b", "/{_x1}/{Y}", "/files/{name}/", "/a%2Fb", "/caf%c3%a9", "/v1/{*p}",
        "/a-b.c_d~e/x:y@z!$&'()*+,;="}) {
    EXPECT_EQ(check_pattern(p), "") << p;
  }
}

TEST(CheckPattern, RejectsEverySyntaxError) {
  expect_error("", "empty");
  expect_error("users", "must start with '/'");
  expect_error("{id}", "must start with '/'");
  expect_error("/users/{id", "unclosed '{'");
  expect_error("/users/id}", "'}' without '{'");
  expect_error("/users/{}", "empty parameter name");
  expect_error("/users/{*}", "empty parameter name");
  expect_error("/users/{1id}", "invalid parameter name \"1id\"");
  expect_error("/users/{i-d}", "invalid parameter name");
  expect_error("/users/{i d}", "invalid parameter name");
  expect_error("/users/{**x}", "invalid parameter name \"*x\"");
  expect_error("/users/x{id}", "must be a whole segment");
  expect_error("/users/{id}x", "must be a whole segment");
  expect_error("/users/{a}{b}", "unexpected brace");
  expect_error("/users/{{a}}", "unexpected brace");
  expect_error("/a/{x}/b/{x}", "duplicate parameter name \"x\"");
  expect_error("/a/{x}/{*x}", "duplicate parameter name \"x\"");
  expect_error("/static/{*rest}/more", "must be the last segment");
  expect_error("/{*rest}/", "must be the last segment");
  expect_error("/a/../b", "dot segment");
  expect_error("/a/./b", "dot segment");
  expect_error("/a/%2e%2E", "dot segment");
  expect_error("/a%", "malformed percent-escape");
  expect_error("/a%zz", "malformed percent-escape");
  expect_error("/a?b=1", "'?'");
  expect_error("/a#frag", "'#'");
  expect_error("/a b", "space");
  expect_error("/a\tb", "control");
  expect_error("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{p}/{q}",
               "too many parameters");
  EXPECT_EQ(check_pattern("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{*p}"), "");
}

TEST(ParsePattern, SplitsSegmentsAndCanonicalises) {
  ParsedPattern p;
  ASSERT_EQ(parse_pattern("/users/{id}/files/{*path}", &p), "");
  ASSERT_EQ(p.segments.size(), 4u);
  EXPECT_EQ(p.segments[0].kind, Kind::kStatic);
  EXPECT_EQ(p.segments[0].text, "users");
  EXPECT_EQ(p.segments[1].kind, Kind::kParam);
  EXPECT_EQ(p.segments[1].text, "id");
  EXPECT_EQ(p.segments[3].kind, Kind::kCatchAll);
  EXPECT_EQ(p.segments[3].text, "path");
  EXPECT_EQ(p.param_names, (std::vector<std::string>{"id", "path"}));
  EXPECT_EQ(p.canonical, "/users/{}/files/{*}");

  ASSERT_EQ(parse_pattern("/", &p), "");
  ASSERT_EQ(p.segments.size(), 1u);
  EXPECT_EQ(p.segments[0].text, "");

  ASSERT_EQ(parse_pattern("/a/", &p), "");
  EXPECT_EQ(p.segments.size(), 2u);
}

TEST(ParsePattern, NormalisesStaticEscapesLikeRequestPaths) {
  ParsedPattern p;
  ASSERT_EQ(parse_pattern("/%7euser/a%2fb", &p), "");
  EXPECT_EQ(p.segments[0].text, "~user");
  EXPECT_EQ(p.segments[1].text, "a%2Fb");
  EXPECT_EQ(p.canonical, "/~user/a%2Fb");
}

}  // namespace
}  // namespace sluice::router
