// pick() must not allocate: count every operator new while it runs.
#include <gtest/gtest.h>

#include "../alloc_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "balance/balancer.h"
#include "test_pool.h"

namespace sluice::balance {
namespace {

TEST(PickAlloc, NoAlgorithmAllocatesInPick) {
  TestPool pool({1, 2, 3, 4, 5, 6, 7, 8});
  pool.set_active({3, 0, 1, 4, 1, 5, 9, 2});
  std::vector<uint8_t> all = pool.all();
  std::vector<uint8_t> some = {0, 1, 0, 0, 1, 0, 0, 1};
  std::vector<uint8_t> one = {0, 0, 0, 0, 0, 0, 1, 0};
  for (Algorithm a :
       {Algorithm::kRoundRobin, Algorithm::kWeightedRoundRobin, Algorithm::kLeastConnections,
        Algorithm::kP2C, Algorithm::kConsistentHash, Algorithm::kRandom}) {
    auto b = make_balancer(a, pool.endpoints, 1);
    long before = sluice::testing::allocations();
    size_t sum = 0;
    for (uint64_t k = 0; k < 3000; ++k) {
      sum += b->pick(all, k * 0x9e3779b97f4a7c15ULL);
      sum += b->pick(some, k);
      sum += b->pick(one, k);
    }
    EXPECT_EQ(sluice::testing::allocations(), before) << algorithm_name(a);
    EXPECT_GT(sum, 0u);
  }
}

}  // namespace
}  // namespace sluice::balance
