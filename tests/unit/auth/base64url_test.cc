#include "auth/base64url.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sluice::auth {
namespace {

TEST(Base64url, Rfc4648Vectors) {
  const std::pair<const char*, const char*> v[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (auto [raw, enc] : v) {
    EXPECT_EQ(base64url_encode(raw), enc);
    std::string out = "junk";
    ASSERT_TRUE(base64url_decode(enc, &out)) << enc;
    EXPECT_EQ(out, raw);
  }
  // The url-safe alphabet.
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
  std::string out;
  ASSERT_TRUE(base64url_decode("-_-_", &out));
  EXPECT_EQ(out, "\xfb\xff\xbf");
}

TEST(Base64url, RejectsWhatIsNotCanonical) {
  std::string out;
  EXPECT_FALSE(base64url_decode("Zg==", &out));  // padding
  EXPECT_FALSE(base64url_decode("Zm8=", &out));
  EXPECT_FALSE(base64url_decode("+/+/", &out));    // the standard alphabet
  EXPECT_FALSE(base64url_decode("Zm9v\n", &out));  // whitespace
  EXPECT_FALSE(base64url_decode("Zm 9v", &out));
  EXPECT_FALSE(base64url_decode("Z", &out));  // 1 mod 4
  EXPECT_FALSE(base64url_decode("Zm9vY", &out));
  EXPECT_FALSE(base64url_decode("Zh", &out));   // trailing bits set ("Zg" is canonical)
  EXPECT_FALSE(base64url_decode("Zm9", &out));  // ("Zm8" is canonical)
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4), &out));
  EXPECT_FALSE(base64url_decode("Zm9v\xff\xff\xff\xff", &out));
}

TEST(Base64url, RoundTripsRandomBytes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string raw(rng() % 70, '\0');
    for (char& c : raw) c = static_cast<char>(rng());
    std::string enc = base64url_encode(raw);
    EXPECT_EQ(enc.size() % 4 == 1, false);
    std::string back;
    ASSERT_TRUE(base64url_decode(enc, &back));
    EXPECT_EQ(back, raw);
    EXPECT_EQ(base64url_decoded_size(enc.size()), raw.size());
  }
  std::string appended = "x.";
  base64url_encode_append("foo", &appended);
  EXPECT_EQ(appended, "x.Zm9v");
}

}  // namespace
}  // namespace sluice::auth
