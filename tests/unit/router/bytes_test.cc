#include "router/bytes.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::router {
namespace {

size_t naive_find(const std::string& s, char c) {
  const size_t i = s.find(c);
  return i == std::string::npos ? s.size() : i;
}

TEST(Bytes, FindByteMatchesNaiveScanAtEveryLengthAndPosition) {
  for (size_t len = 0; len <= 40; ++len) {
    // No match, and a match at each position, with a second match after it; the bytes around
    // '/' (0x2f) and values like 0x2e/0x30 that differ from it in one bit guard the SWAR trick.
    std::string base(len, 'a');
    for (size_t k = 0; k < len; ++k) base[k] = "a.0x\x01\xff"[k % 6];
    EXPECT_EQ(find_byte(base.data(), base.size(), '/'), naive_find(base, '/')) << len;
    for (size_t pos = 0; pos < len; ++pos) {
      std::string s = base;
      s[pos] = '/';
      if (pos + 3 < len) s[pos + 3] = '/';
      ASSERT_EQ(find_byte(s.data(), s.size(), '/'), pos) << len << " " << pos;
    }
  }
}

TEST(Bytes, FindByteDoesNotReadPastTheEnd) {
  const std::string buf = "xxxxxxxxxxxxxxxx/";
  EXPECT_EQ(find_byte(buf.data(), 16, '/'), 16u);
  EXPECT_EQ(find_byte(buf.data(), 11, '/'), 11u);
  EXPECT_EQ(find_byte(buf.data() + 3, 14, '/'), 13u);
}

TEST(Bytes, BytesEqualAtEveryLength) {
  for (size_t len = 0; len <= 40; ++len) {
    std::string a(len, 'q');
    for (size_t k = 0; k < len; ++k) a[k] = static_cast<char>('a' + k % 26);
    EXPECT_TRUE(bytes_equal(a.data(), std::string(a).data(), len));
    for (size_t pos = 0; pos < len; ++pos) {
      std::string b = a;
      b[pos] = '#';
      ASSERT_FALSE(bytes_equal(a.data(), b.data(), len)) << len << " " << pos;
    }
  }
}

}  // namespace
}  // namespace sluice::router
