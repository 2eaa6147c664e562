#include "http/status.h"

#include <gtest/gtest.h>

namespace sluice::http {
namespace {

TEST(ReasonPhrase, StandardCodes) {
  EXPECT_EQ(reason_phrase(100), "Continue");
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(204), "No Content");
  EXPECT_EQ(reason_phrase(206), "Partial Content");
  EXPECT_EQ(reason_phrase(301), "Moved Permanently");
  EXPECT_EQ(reason_phrase(304), "Not Modified");
  EXPECT_EQ(reason_phrase(308), "Permanent Redirect");
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(414), "URI Too Long");
  EXPECT_EQ(reason_phrase(429), "Too Many Requests");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(502), "Bad Gateway");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
}

TEST(ReasonPhrase, EveryCommonCodeHasAPhrase) {
  for (int code :
       {100, 101, 200, 201, 202, 203, 204, 205, 206, 301, 302, 303, 304, 305, 307, 308}) {
    EXPECT_NE(reason_phrase(code), "Unknown") << code;
  }
  for (int code = 400; code <= 418; ++code) EXPECT_NE(reason_phrase(code), "Unknown") << code;
  for (int code : {421, 422, 425, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505}) {
    EXPECT_NE(reason_phrase(code), "Unknown") << code;
  }
}

TEST(ReasonPhrase, UnknownCodes) {
  EXPECT_EQ(reason_phrase(0), "Unknown");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_EQ(reason_phrase(306), "Unknown");
  EXPECT_EQ(reason_phrase(999), "Unknown");
  EXPECT_EQ(reason_phrase(-1), "Unknown");
}

}  // namespace
}  // namespace sluice::http
