#include "auth/api_key.h"

#include <gtest/gtest.h>

#include <set>

namespace sluice::auth {
namespace {

TEST(ApiKey, HashIsSha256HexWithPrefix) {
  // SHA-256("test"), a published test vector.
  EXPECT_EQ(hash_api_key("test"),
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(hash_api_key(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ApiKey, ParseRoundTrip) {
  Sha256Digest d{};
  ASSERT_TRUE(parse_api_key_hash(hash_api_key("abc"), &d));
  EXPECT_EQ(d, sha256("abc"));
  // Upper-case hex is accepted too.
  ASSERT_TRUE(parse_api_key_hash(
      "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", &d));
  EXPECT_EQ(d, sha256("abc"));
}

TEST(ApiKey, ParseRejectsMalformed) {
  Sha256Digest d{};
  d.fill(7);
  const Sha256Digest before = d;
  EXPECT_FALSE(parse_api_key_hash("", &d));
  EXPECT_FALSE(parse_api_key_hash("sha256:", &d));
  EXPECT_FALSE(parse_api_key_hash("sha1:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", &d));
  EXPECT_FALSE(parse_api_key_hash(
      "SHA256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", &d));
  EXPECT_FALSE(parse_api_key_hash(
      "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0", &d));  // 63
  EXPECT_FALSE(parse_api_key_hash(
      "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a080", &d));  // 65
  EXPECT_FALSE(parse_api_key_hash(
      "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0g", &d));
  EXPECT_FALSE(parse_api_key_hash(
      " sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", &d));
  EXPECT_EQ(d, before);
}

TEST(ApiKey, GenerateIs43Base64UrlCharsAndRandom) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string k = generate_api_key();
    ASSERT_EQ(k.size(), 43u);
    for (char c : k) {
      EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_')
          << k;
    }
    seen.insert(k);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(ApiKeyTable, FindsConsumerByPresentedKey) {
  ApiKeyTable t;
  const std::string k1 = generate_api_key();
  const std::string k2 = generate_api_key();
  Sha256Digest h{};
  ASSERT_TRUE(parse_api_key_hash(hash_api_key(k1), &h));
  t.add(h, "billing");
  ASSERT_TRUE(parse_api_key_hash(hash_api_key(k2), &h));
  t.add(h, "search");
  EXPECT_EQ(t.size(), 2u);
  ASSERT_NE(t.find(k1), nullptr);
  EXPECT_EQ(*t.find(k1), "billing");
  ASSERT_NE(t.find(k2), nullptr);
  EXPECT_EQ(*t.find(k2), "search");
  EXPECT_EQ(t.find(""), nullptr);
  EXPECT_EQ(t.find(k1.substr(1)), nullptr);
  EXPECT_EQ(t.find(k1 + "x"), nullptr);
  // The stored hash is not itself a key.
  EXPECT_EQ(t.find(hash_api_key(k1)), nullptr);
}

TEST(ApiKeyTable, ReAddReplacesConsumer) {
  ApiKeyTable t;
  t.add(sha256("k"), "a");
  t.add(sha256("k"), "b");
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(*t.find("k"), "b");
}

}  // namespace
}  // namespace sluice::auth
