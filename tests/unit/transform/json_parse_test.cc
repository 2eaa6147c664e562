#include "transform/json_parse.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::transform {
namespace {

TEST(ParseJson, KeepsMemberOrder) {
  Json doc;
  std::string err;
  ASSERT_TRUE(parse_json(R"({"z":1,"a":2,"m":{"y":1,"b":2}})", doc, &err)) << err;
  EXPECT_EQ(dump_json(doc), R"({"z":1,"a":2,"m":{"y":1,"b":2}})");
}

TEST(ParseJson, RepeatedMemberKeepsFirstPositionAndLastValue) {
  Json doc;
  ASSERT_TRUE(parse_json(R"({"a":1,"b":2,"a":3})", doc, nullptr));
  EXPECT_EQ(dump_json(doc), R"({"a":3,"b":2})");
}

TEST(ParseJson, BigObjectsWithRepeatsParseInLinearTime) {
  // 200k members, the second half repeating the first: quadratic lookup would take minutes.
  constexpr int kN = 100'000;
  std::string text = "{";
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kN; ++i) {
      if (text.size() > 1) text += ',';
      text += "\"k" + std::to_string(i) + "\":" + std::to_string(round);
    }
  }
  text += '}';
  Json doc;
  std::string err;
  ASSERT_TRUE(parse_json(text, doc, &err)) << err;
  ASSERT_EQ(doc.size(), static_cast<size_t>(kN));
  EXPECT_EQ(doc.begin().key(), "k0");
  EXPECT_EQ(doc["k0"], 1);
  EXPECT_EQ(doc["k99999"], 1);
}

TEST(ParseJson, ScalarsAndNumbers) {
  Json doc;
  ASSERT_TRUE(parse_json("-12", doc, nullptr));
  EXPECT_EQ(dump_json(doc), "-12");
  ASSERT_TRUE(parse_json("18446744073709551615", doc, nullptr));  // uint64 max stays exact
  EXPECT_EQ(dump_json(doc), "18446744073709551615");
  ASSERT_TRUE(parse_json("1E2", doc, nullptr));  // re-serialised, not kept as written
  EXPECT_EQ(dump_json(doc), "100.0");
  ASSERT_TRUE(parse_json(" \"\\ud83d\\ude00\" ", doc, nullptr));
  EXPECT_EQ(dump_json(doc), "\"\xF0\x9F\x98\x80\"");
}

TEST(ParseJson, Errors) {
  Json doc;
  std::string err;
  EXPECT_FALSE(parse_json("{\"a\":", doc, &err));
  EXPECT_EQ(err,
            "invalid JSON at byte 5: syntax error while parsing value - unexpected end of input; "
            "expected '[', '{', or a literal");
  EXPECT_TRUE(doc.is_null());
  EXPECT_FALSE(parse_json("[1,]", doc, &err));
  EXPECT_EQ(err.rfind("invalid JSON at byte 3: ", 0), 0u) << err;
  EXPECT_FALSE(parse_json("// comment\n1", doc, &err));
  EXPECT_FALSE(parse_json("\"a\x01\"", doc, &err));
  EXPECT_NE(err.find("control character"), std::string::npos) << err;
  EXPECT_FALSE(parse_json("[1] [2]", doc, nullptr));  // a null error pointer is fine
}

TEST(ParseJson, ErrorMessagesAreShortAndPrintable) {
  Json doc;
  std::string err;
  std::string long_bad = "\"" + std::string(10'000, 'x') + "\xFF\"";
  EXPECT_FALSE(parse_json(long_bad, doc, &err));
  EXPECT_LT(err.size(), 200u) << err;
  for (char c : err) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << static_cast<int>(c);
  }
}

TEST(ParseJson, DepthLimitCountsContainers) {
  Json doc;
  std::string err;
  std::string obj;
  for (int i = 0; i < kMaxDepth; ++i) obj += "{\"a\":";
  obj += "1" + std::string(kMaxDepth, '}');
  EXPECT_TRUE(parse_json(obj, doc, &err)) << err;
  std::string deeper = "[" + obj + "]";
  EXPECT_FALSE(parse_json(deeper, doc, &err));
  EXPECT_EQ(err, "invalid JSON at byte " + std::to_string(5 * (kMaxDepth - 1) + 1) +
                     ": nesting too deep (more than 64 levels)");
  // Brackets inside strings do not count.
  std::string in_string = "[\"" + std::string(100, '[') + "\"]";
  EXPECT_TRUE(parse_json(in_string, doc, &err)) << err;
}

}  // namespace
}  // namespace sluice::transform
