#include "router/path.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::router {
namespace {

std::string norm(std::string_view in) {
  std::string scratch;
  bool ok = false;
  std::string_view out = normalize_path(in, scratch, &ok);
  if (!ok) return "<invalid>";
  return std::string(out);
}

bool is_fast_path(std::string_view in) {
  std::string scratch;
  bool ok = false;
  std::string_view out = normalize_path(in, scratch, &ok);
  return ok && out.data() == in.data() && out.size() == in.size();
}

TEST(NormalizePath, UnchangedPathsAreReturnedWithoutCopy) {
  for (std::string_view p :
       {"/", "/a", "/a/b/c", "/a/", "//", "/a//b", "/static/app.min.js", "/.well-known/x", "/a/..b",
        "/a/b..", "/...", "/%2F", "/a%20b", "/%C3%A9t%C3%A9", "/a/.hidden/"}) {
    EXPECT_TRUE(is_fast_path(p)) << p;
    EXPECT_EQ(norm(p), p);
  }
}

TEST(NormalizePath, DecodesUnreservedEscapes) {
  EXPECT_EQ(norm("/%7E"), "/~");
  EXPECT_EQ(norm("/%7e"), "/~");
  EXPECT_EQ(norm("/a%7Euser"), "/a~user");
  EXPECT_EQ(norm("/%41%5a%61%7A%30%39%2D%2E%5F"), "/AZaz09-._");
  EXPECT_FALSE(is_fast_path("/%7E"));
}

TEST(NormalizePath, KeepsReservedEscapesUpperCased) {
  EXPECT_EQ(norm("/a%2Fb"), "/a%2Fb");
  EXPECT_TRUE(is_fast_path("/a%2Fb"));
  EXPECT_EQ(norm("/a%2fb"), "/a%2Fb");
  EXPECT_EQ(norm("/%3a%3F%25%20"), "/%3A%3F%25%20");
  EXPECT_EQ(norm("/%c3%a9"), "/%C3%A9");
  EXPECT_EQ(norm("/%252E"), "/%252E");  // an escaped '%' is not decoded twice
}

TEST(NormalizePath, RemovesDotSegments) {
  EXPECT_EQ(norm("/a/./b/../c"), "/a/c");
  EXPECT_EQ(norm("/.."), "/");
  EXPECT_EQ(norm("/."), "/");
  EXPECT_EQ(norm("/../../a"), "/a");
  EXPECT_EQ(norm("/a/b/../../.."), "/");
  EXPECT_EQ(norm("/a/.."), "/");
  EXPECT_EQ(norm("/a/b/.."), "/a/");
  EXPECT_EQ(norm("/a/b/."), "/a/b/");
  EXPECT_EQ(norm("/a/./"), "/a/");
  EXPECT_EQ(norm("/./a"), "/a");
  EXPECT_EQ(norm("/a//.."), "/a/");  // RFC 3986 5.2.4: ".." removes the empty segment
  EXPECT_EQ(norm("/a/b/c/./../../g"), "/a/g");
  EXPECT_EQ(norm("/mid/content=5/../6"), "/mid/6");
}

TEST(NormalizePath, RemovesPercentEncodedDotSegments) {
  EXPECT_EQ(norm("/a/%2E%2E/b"), "/b");
  EXPECT_EQ(norm("/a/%2e%2e/b"), "/b");
  EXPECT_EQ(norm("/a/.%2E/b"), "/b");
  EXPECT_EQ(norm("/a/%2E/b"), "/a/b");
  EXPECT_EQ(norm("/%2E%2E"), "/");
  EXPECT_EQ(norm("/a/%2E%2E%2E"), "/a/...");      // three dots is an ordinary segment
  EXPECT_EQ(norm("/a%2F..%2Fb"), "/a%2F..%2Fb");  // %2F is not a separator
}

TEST(NormalizePath, RejectsInvalidPaths) {
  for (std::string_view p : {"", "a", "a/b", "*", "?x", "/%", "/%2", "/%2G", "/%G2", "/a%",
                             "/a/%zz/b", "/%7E%", "/ok/%4"}) {
    std::string scratch;
    bool ok = true;
    EXPECT_TRUE(normalize_path(p, scratch, &ok).empty()) << p;
    EXPECT_FALSE(ok) << p;
  }
}

TEST(NormalizePath, OkMayBeNull) {
  std::string scratch;
  EXPECT_EQ(normalize_path("/a/../b", scratch, nullptr), "/b");
  EXPECT_TRUE(normalize_path("x", scratch, nullptr).empty());
}

TEST(NormalizePath, IsIdempotent) {
  for (std::string_view p : {"/a/./b/../c", "/%2e%2e/%7e/%2f", "/a/b/..", "/./", "/a/%2E%2E%2F..",
                             "/x/.%2e/.%2E./y/", "//..//.", "/%41/../%42"}) {
    std::string s1, s2;
    bool ok1 = false, ok2 = false;
    const std::string once(normalize_path(p, s1, &ok1));
    ASSERT_TRUE(ok1) << p;
    EXPECT_EQ(normalize_path(once, s2, &ok2), once) << p;
    EXPECT_TRUE(ok2);
    EXPECT_TRUE(is_fast_path(once)) << p;
  }
}

TEST(NormalizePath, ReusesScratch) {
  std::string scratch;
  bool ok = false;
  EXPECT_EQ(normalize_path("/a/../long/path/%7Ewith/stuff", scratch, &ok),
            "/long/path/~with/stuff");
  EXPECT_EQ(normalize_path("/x/./y", scratch, &ok), "/x/y");
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace sluice::router
