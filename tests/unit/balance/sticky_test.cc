// hash_key and the signed sticky-session cookie values.
#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <thread>
#include <unordered_set>

#include "balance/balancer.h"

namespace sluice::balance {
namespace {

// ---- hash_key

TEST(HashKey, StableAcrossRunsAndBuilds) {
  // Fixed values: a change here moves every consistent_hash key of every deployment.
  EXPECT_EQ(hash_key(""), 1471106076447886454ULL);
  EXPECT_EQ(hash_key("10.1.2.3"), 6407739274679349299ULL);
  EXPECT_EQ(hash_key("user-42"), hash_key(std::string("user-") + "42"));
}

TEST(HashKey, DistinctForNearbyKeysOfAllLengths) {
  std::unordered_set<uint64_t> seen;
  std::string s;
  for (int len = 0; len < 200; ++len) {
    ASSERT_TRUE(seen.insert(hash_key(s)).second) << len;
    s.push_back('x');
  }
  for (int i = 0; i < 100000; ++i) {
    ASSERT_TRUE(seen.insert(hash_key("10.0." + std::to_string(i))).second) << i;
  }
}

// Flipping any one input bit flips about half of the output bits.
TEST(HashKey, Avalanche) {
  for (size_t len : {1, 3, 4, 8, 13, 16, 17, 40, 49, 100}) {
    std::string s(len, '\0');
    for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>(i * 37 + len);
    uint64_t base = hash_key(s);
    double total = 0;
    int flips = 0;
    for (size_t i = 0; i < len; ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string t = s;
        t[i] = static_cast<char>(t[i] ^ (1 << bit));
        int changed = std::popcount(base ^ hash_key(t));
        EXPECT_GT(changed, 8) << "len " << len << " byte " << i << " bit " << bit;
        total += changed;
        ++flips;
      }
    }
    EXPECT_NEAR(total / flips, 32.0, 3.0) << "len " << len;
  }
}

// ---- sticky

TEST(Sticky, FormatIsKeyDotFirst16BytesOfHmacSha256) {
  // printf '10.0.0.1:80' | openssl dgst -sha256 -hmac s3cret
  EXPECT_EQ(sign_sticky("10.0.0.1:80", "s3cret"), "10.0.0.1:80.f54c97f8db680229d60e9abf3a89f912");
  // printf 'api.internal:8080' | openssl dgst -sha256 -hmac ''
  EXPECT_EQ(sign_sticky("api.internal:8080", ""),
            "api.internal:8080.7f0b827e64caabacc877cf0530b1f9fa");
}

// Each thread caches the last secret's HMAC key; switching secrets must re-key every time.
TEST(Sticky, SecretsAlternating) {
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(sign_sticky("10.0.0.1:80", "s3cret"), "10.0.0.1:80.f54c97f8db680229d60e9abf3a89f912");
    EXPECT_EQ(sign_sticky("api.internal:8080", ""),
              "api.internal:8080.7f0b827e64caabacc877cf0530b1f9fa");
    EXPECT_EQ(sign_sticky("10.0.0.1:80", "s3cret"), "10.0.0.1:80.f54c97f8db680229d60e9abf3a89f912");
  }
  // The same key and secret on another thread.
  std::string other;
  std::thread t([&] { other = sign_sticky("10.0.0.1:80", "s3cret"); });
  t.join();
  EXPECT_EQ(other, "10.0.0.1:80.f54c97f8db680229d60e9abf3a89f912");
}

TEST(Sticky, RoundTrip) {
  for (std::string key : {"10.0.0.1:80", "backend.example.com:8443", "[::1]:80", "a"}) {
    std::string v = sign_sticky(key, "secret");
    std::optional<std::string_view> got = verify_sticky(v, "secret");
    ASSERT_TRUE(got.has_value()) << v;
    EXPECT_EQ(*got, key);
  }
}

TEST(Sticky, TamperedValuesAreRejected) {
  const std::string v = sign_sticky("10.0.0.1:80", "secret");
  ASSERT_TRUE(verify_sticky(v, "secret").has_value());
  EXPECT_FALSE(verify_sticky(v, "secret2").has_value());
  EXPECT_FALSE(verify_sticky(v, "").has_value());
  // Another key with this signature.
  std::string other_key = v;
  other_key[7] = '2';  // 10.0.0.2:80
  EXPECT_FALSE(verify_sticky(other_key, "secret").has_value());
  // Every single-character change of the signature.
  for (size_t i = v.size() - 32; i < v.size(); ++i) {
    std::string t = v;
    t[i] = t[i] == '0' ? '1' : '0';
    EXPECT_FALSE(verify_sticky(t, "secret").has_value()) << t;
  }
  // Upper-case hex is not what we issue.
  std::string upper = v;
  for (size_t i = v.size() - 32; i < v.size(); ++i) {
    if (upper[i] >= 'a' && upper[i] <= 'f') upper[i] = static_cast<char>(upper[i] - 32);
  }
  ASSERT_NE(upper, v);
  EXPECT_FALSE(verify_sticky(upper, "secret").has_value());
  // A valid value with something appended or the signature cut.
  EXPECT_FALSE(verify_sticky(v + "0", "secret").has_value());
  EXPECT_FALSE(verify_sticky(v.substr(0, v.size() - 1), "secret").has_value());
  EXPECT_FALSE(verify_sticky(v + ".", "secret").has_value());
}

TEST(Sticky, MalformedValuesAreRejected) {
  const std::string sig = sign_sticky("k", "secret").substr(2);  // a real 32-char signature
  for (const std::string& bad :
       {std::string(""), std::string("."), std::string("abc"), std::string("a.b"),
        std::string("a." + sig.substr(0, 31)), std::string("." + sig), std::string("k" + sig),
        std::string("k.." + sig), std::string("k." + sig + "0"), std::string("k.")}) {
    EXPECT_FALSE(verify_sticky(bad, "secret").has_value()) << '"' << bad << '"';
  }
  EXPECT_TRUE(verify_sticky("k." + sig, "secret").has_value());
}

TEST(Sticky, KeysWithDotsSplitAtTheLastDot) {
  std::string v = sign_sticky("svc.ns.cluster.local:80", "x");
  std::optional<std::string_view> got = verify_sticky(v, "x");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "svc.ns.cluster.local:80");
}

}  // namespace
}  // namespace sluice::balance
