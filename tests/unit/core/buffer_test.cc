#include "core/buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::core {
namespace {

TEST(Buffer, AppendConsumeAndRelease) {
  BufferPool pool;
  Buffer b;
  EXPECT_TRUE(b.empty());
  b.append(pool, "hello ");
  b.append(pool, "world");
  EXPECT_EQ(b.view(), "hello world");
  b.consume(6);
  EXPECT_EQ(b.view(), "world");
  b.consume(5);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), BufferPool::kBlockSize);
  b.release(pool);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(pool.free_blocks(), 1u);
  Buffer c;
  c.append(pool, "x");  // reuses the pooled block
  EXPECT_EQ(pool.free_blocks(), 0u);
}

TEST(Buffer, GrowsBeyondABlockAndKeepsData) {
  BufferPool pool;
  Buffer b;
  std::string big(100000, 'a');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  b.append(pool, big.substr(0, 10000));
  b.append(pool, big.substr(10000));
  EXPECT_EQ(b.view(), big);
  EXPECT_GE(b.capacity(), big.size());
  b.release(pool);
  // The standard block went back to the pool when the buffer grew; the oversized one is freed.
  EXPECT_EQ(pool.free_blocks(), 1u);
}

TEST(Buffer, ReserveCompactsInsteadOfGrowing) {
  BufferPool pool;
  Buffer b;
  b.append(pool, std::string(BufferPool::kBlockSize - 10, 'x'));
  b.consume(BufferPool::kBlockSize - 20);
  b.reserve(pool, 1000);
  EXPECT_EQ(b.capacity(), BufferPool::kBlockSize);
  EXPECT_EQ(b.size(), 10u);
  EXPECT_GE(b.writable(), 1000u);
}

TEST(BufferPool, BoundedFreeList) {
  BufferPool pool(2);
  for (int i = 0; i < 5; ++i) pool.give(pool.take());
  std::unique_ptr<char[]> a = pool.take(), b = pool.take(), c = pool.take();
  pool.give(std::move(a));
  pool.give(std::move(b));
  pool.give(std::move(c));
  EXPECT_EQ(pool.free_blocks(), 2u);
}

}  // namespace
}  // namespace sluice::core
