#include "auth/nonce_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace sluice::auth {
namespace {

TEST(NonceCache, SecondUseWithinTtlIsAReplay) {
  NonceCache c(1024);
  EXPECT_TRUE(c.insert_if_new("k1", "nonce-0001", 1000, 600));
  EXPECT_FALSE(c.insert_if_new("k1", "nonce-0001", 1000, 600));
  EXPECT_EQ(c.check_and_insert("k1", "nonce-0001", 1599, 600), NonceResult::kReplay);
  EXPECT_EQ(c.replays(), 2u);
  EXPECT_EQ(c.inserted(), 1u);
}

TEST(NonceCache, NoncesArePerKeyId) {
  NonceCache c(1024);
  EXPECT_TRUE(c.insert_if_new("k1", "nonce-0001", 1000, 600));
  EXPECT_TRUE(c.insert_if_new("k2", "nonce-0001", 1000, 600));
  // The length prefix keeps ("ab","c") and ("a","bc") apart.
  EXPECT_TRUE(c.insert_if_new("ab", "cdefghij", 1000, 600));
  EXPECT_TRUE(c.insert_if_new("a", "bcdefghij", 1000, 600));
}

TEST(NonceCache, ExpiresAfterTtl) {
  NonceCache c(1024);
  EXPECT_TRUE(c.insert_if_new("k", "nonce-0001", 1000, 600));
  EXPECT_FALSE(c.insert_if_new("k", "nonce-0001", 1599, 600));
  EXPECT_TRUE(c.insert_if_new("k", "nonce-0001", 1600, 600));
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.expired(), 1u);
}

TEST(NonceCache, ZeroTtlStillStoresForASecond) {
  NonceCache c(1024);
  EXPECT_TRUE(c.insert_if_new("k", "nonce-0001", 1000, 0));
  EXPECT_FALSE(c.insert_if_new("k", "nonce-0001", 1000, 0));
  EXPECT_TRUE(c.insert_if_new("k", "nonce-0001", 1001, 0));
  EXPECT_TRUE(c.insert_if_new("k", "nonce-0001", 1002, 0));
}

TEST(NonceCache, MixedTtlsReuseExpiredEntries) {
  NonceCache c(64 * 64);
  // Same shard or not, a long-ttl entry ahead of a short one must not break expiry.
  for (int i = 0; i < 50; ++i) {
    const std::string n = "nonce-" + std::to_string(i);
    EXPECT_TRUE(c.insert_if_new("k", n, 1000, i % 2 == 0 ? 1000 : 10));
  }
  for (int i = 0; i < 50; ++i) {
    const std::string n = "nonce-" + std::to_string(i);
    EXPECT_EQ(c.insert_if_new("k", n, 1011, 10), i % 2 == 1) << i;
  }
  for (int i = 0; i < 50; ++i) {
    const std::string n = "nonce-" + std::to_string(i);
    EXPECT_TRUE(c.insert_if_new("k", n, 3000, 10)) << i;
  }
}

TEST(NonceCache, FullRefusesNewNoncesUntilOldOnesExpire) {
  NonceCache c(NonceCache::kShards);  // one entry per shard
  EXPECT_EQ(c.capacity(), NonceCache::kShards);
  size_t accepted = 0;
  size_t full = 0;
  for (int i = 0; i < 1000; ++i) {
    const NonceResult r = c.check_and_insert("k", "nonce-" + std::to_string(i), 1000, 60);
    EXPECT_NE(r, NonceResult::kReplay);
    if (r == NonceResult::kNew) ++accepted;
    if (r == NonceResult::kFull) ++full;
  }
  EXPECT_EQ(accepted, c.size());
  EXPECT_LE(accepted, NonceCache::kShards);
  EXPECT_GT(full, 0u);
  EXPECT_EQ(c.refused_full(), full);
  // The accepted ones are still protected: nothing unexpired was forgotten.
  size_t replays = 0;
  for (int i = 0; i < 1000; ++i) {
    if (c.check_and_insert("k", "nonce-" + std::to_string(i), 1001, 60) == NonceResult::kReplay) {
      ++replays;
    }
  }
  EXPECT_EQ(replays, accepted);
  // Once they expire, room comes back.
  EXPECT_TRUE(c.insert_if_new("k", "nonce-0", 1060, 60));
}

TEST(NonceCache, ThreadsAgreeOnExactlyOneWinner) {
  NonceCache c(1 << 20);
  constexpr int kThreads = 4;
  constexpr int kNonces = 5000;
  std::atomic<int> wins{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < kNonces; ++i) {
        if (c.insert_if_new("k", "nonce-" + std::to_string(i), 1000, 600)) wins.fetch_add(1);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(wins.load(), kNonces);
  EXPECT_EQ(c.replays(), uint64_t{kNonces} * (kThreads - 1));
}

}  // namespace
}  // namespace sluice::auth
