// json_escape: admin answers are JSON, so whatever bytes a config (and its error messages) holds
// come out as valid UTF-8 JSON string content.
#include <gtest/gtest.h>

#include <string>

#include "observe/json.h"

namespace sluice::observe {
namespace {

TEST(JsonEscape, QuotesBackslashesAndControls) {
  EXPECT_EQ(json_escape("a\"b\\c\n\t\r"), "a\\\"b\\\\c\\n\\t\\r");
  EXPECT_EQ(json_escape(std::string("\x01", 1)), "\\u0001");
}

TEST(JsonEscape, KeepsWellFormedUtf8) {
  EXPECT_EQ(json_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(JsonEscape, ReplacesBytesThatAreNotUtf8) {
  EXPECT_EQ(json_escape("unknown key '\x80'"), "unknown key '\\ufffd'");
  EXPECT_EQ(json_escape("\xff\xfe"), "\\ufffd\\ufffd");
  EXPECT_EQ(json_escape("\xc3"), "\\ufffd");                                   // truncated sequence
  EXPECT_EQ(json_escape("\xc0\xaf"), "\\ufffd\\ufffd");                        // overlong
  EXPECT_EQ(json_escape("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");             // a surrogate
  EXPECT_EQ(json_escape("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");  // > U+10FFFF
}

}  // namespace
}  // namespace sluice::observe
