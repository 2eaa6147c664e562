#include "limits/limiter_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <string>
#include <thread>
#include <vector>

#include "../alloc_counter.h"

namespace sluice::limits {
namespace {

RateParams fixed(uint64_t limit, uint64_t period_ms = 1000) {
  return RateParams{RateAlgorithm::kFixedWindow, limit, period_ms, 0};
}

// All threads start together and ask for one key at the same instant: exactly `limit` pass.
void hammer_one_key(const RateParams& p, uint64_t expected) {
  LimiterStore store;
  constexpr int kThreads = 8;
  constexpr int kTries = 2000;
  std::atomic<uint64_t> granted{0};
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      uint64_t mine = 0;
      for (int i = 0; i < kTries; ++i) mine += store.take("client-1", p, 5000).allowed;
      granted.fetch_add(mine);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(granted.load(), expected);
  EXPECT_EQ(store.allowed(), expected);
  EXPECT_EQ(store.denied(), kThreads * kTries - expected);
  EXPECT_EQ(store.size(), 1u);
}

TEST(LimiterStore, ExactUnderEightThreads) {
  hammer_one_key(fixed(1000), 1000);
  hammer_one_key(RateParams{RateAlgorithm::kSlidingWindow, 777, 60000, 0}, 777);
  hammer_one_key(RateParams{RateAlgorithm::kTokenBucket, 10, 1000, 500}, 500);
}

TEST(LimiterStore, KeysAreIndependent) {
  LimiterStore store;
  const RateParams p = fixed(2);
  EXPECT_TRUE(store.take("a", p, 0).allowed);
  EXPECT_TRUE(store.take("a", p, 0).allowed);
  EXPECT_FALSE(store.take("a", p, 0).allowed);
  EXPECT_TRUE(store.take("b", p, 0).allowed);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(store.evictions(), 0u);
}

TEST(LimiterStore, KnownKeyDoesNotAllocate) {
  LimiterStore store;
  const RateParams p = fixed(1000000);
  const std::string key(100, 'k');  // beyond any small-string buffer
  store.take(key, p, 0);
  const long before = testing::allocations();
  for (int i = 0; i < 1000; ++i) store.take(key, p, i);
  EXPECT_EQ(testing::allocations(), before);
}

TEST(LimiterStore, ManyKeysAreBoundedAndEvictionsCounted) {
  LimiterStore store(6400);
  EXPECT_EQ(store.capacity(), 6400u);
  const RateParams p = fixed(10);
  constexpr uint64_t kKeys = 100000;
  for (uint64_t i = 0; i < kKeys; ++i) store.take("key-" + std::to_string(i), p, 0);
  EXPECT_LE(store.size(), 6400u);
  EXPECT_GT(store.size(), 6000u);  // shards fill evenly
  EXPECT_EQ(store.evictions(), kKeys - store.size());
  // A full store reuses evicted nodes: new keys of the same length do not allocate a node.
  const long before = testing::allocations();
  for (uint64_t i = 0; i < 1000; ++i) store.take("key-" + std::to_string(kKeys + i), p, 0);
  EXPECT_EQ(testing::allocations(), before);  // short keys: no heap for the strings either
}

TEST(LimiterStore, EvictsLeastRecentlyUsed) {
  LimiterStore store(64 * 4);  // 4 keys per shard
  const RateParams p = fixed(1);
  EXPECT_TRUE(store.take("hot", p, 0).allowed);
  for (int i = 0; i < 5000; ++i) {
    store.take("cold-" + std::to_string(i), p, 0);
    // Were "hot" evicted, it would come back fresh and pass.
    ASSERT_FALSE(store.take("hot", p, 0).allowed) << i;
  }
  EXPECT_GT(store.evictions(), 0u);
}

TEST(LimiterStore, RaisedLimitAppliesAtOnce) {
  LimiterStore store;
  EXPECT_TRUE(store.take("k", fixed(2), 0).allowed);
  EXPECT_TRUE(store.take("k", fixed(2), 0).allowed);
  EXPECT_FALSE(store.take("k", fixed(2), 0).allowed);
  // Same window, state kept: 3 more up to the new limit of 5.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(store.take("k", fixed(5), 1).allowed);
  RateDecision d = store.take("k", fixed(5), 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.limit, 5u);
}

TEST(LimiterStore, AlgorithmChangeResets) {
  LimiterStore store;
  EXPECT_TRUE(store.take("k", fixed(1), 0).allowed);
  EXPECT_FALSE(store.take("k", fixed(1), 0).allowed);
  const RateParams bucket{RateAlgorithm::kTokenBucket, 1, 1000, 0};
  EXPECT_TRUE(store.take("k", bucket, 0).allowed);
  EXPECT_FALSE(store.take("k", bucket, 0).allowed);
  EXPECT_TRUE(store.take("k", fixed(1), 0).allowed);  // and back again
}

TEST(LimiterStore, SweepRemovesIdleKeysOnly) {
  LimiterStore store;
  const RateParams p = fixed(5);
  store.take("old", p, 100);    // window 0
  store.take("new", p, 1500);   // window 1
  store.take("new2", p, 1600);  // window 1
  store.sweep(p, 1700, 1000);
  EXPECT_EQ(store.size(), 2u);
  // "old" is gone (fresh again), the others kept their counts.
  EXPECT_EQ(store.take("old", p, 1700).remaining, 4u);
  EXPECT_EQ(store.take("new", p, 1700).remaining, 3u);
  store.sweep(p, 2000, 1000);
  EXPECT_EQ(store.size(), 0u);
}

TEST(LimiterStore, SweepKeysOfAnotherAlgorithmAreIdle) {
  LimiterStore store;
  store.take("k", fixed(5), 0);
  const RateParams bucket{RateAlgorithm::kTokenBucket, 1, 1000, 0};
  store.sweep(bucket, 0, 10);
  EXPECT_EQ(store.size(), 0u);
}

TEST(LimiterStore, SweepHonoursItsBudget) {
  LimiterStore store;
  const RateParams p = fixed(5);
  for (int i = 0; i < 1000; ++i) store.take("k" + std::to_string(i), p, 0);
  store.sweep(p, 1000, 10);
  EXPECT_EQ(store.size(), 990u);
  store.sweep(p, 1000, 100);
  EXPECT_EQ(store.size(), 890u);
  for (int i = 0; i < 100 && store.size() > 0; ++i) store.sweep(p, 1000, 100);
  EXPECT_EQ(store.size(), 0u);
}

TEST(LimiterStore, ConcurrentKeysTakeAndSweep) {
  // Workers on many keys while the control thread sweeps and the store evicts: for TSan/ASan.
  LimiterStore store(640);
  const RateParams p = fixed(3, 10);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 20000; ++i) {
        store.take("t" + std::to_string(t) + "-" + std::to_string(i % 3000), p, i / 100);
      }
    });
  }
  std::thread sweeper([&] {
    uint64_t now = 0;
    while (!stop.load()) store.sweep(p, now += 5, 50);
  });
  for (auto& th : threads) th.join();
  stop.store(true);
  sweeper.join();
  EXPECT_LE(store.size(), 640u);
  EXPECT_EQ(store.allowed() + store.denied(), 80000u);
}

}  // namespace
}  // namespace sluice::limits
