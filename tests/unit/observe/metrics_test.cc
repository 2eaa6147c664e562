#include "observe/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace sluice::observe {
namespace {

TEST(Histogram, BucketsByUpperBound) {
  Histogram h;
  h.observe(400);       // 0.4 ms  -> le 0.0005
  h.observe(500);       // 0.5 ms  -> le 0.0005 (bounds are inclusive)
  h.observe(501);       // -> le 0.001
  h.observe(20000000);  // 20 s    -> +Inf
  EXPECT_EQ(h.buckets[0].load(), 2u);
  EXPECT_EQ(h.buckets[1].load(), 1u);
  EXPECT_EQ(h.buckets[kLatencyBounds.size()].load(), 1u);
  EXPECT_EQ(h.count.load(), 4u);
  EXPECT_EQ(h.sum_us.load(), 400u + 500u + 501u + 20000000u);
}

TEST(RouteMetrics, CountsByMethodAndStatusClass) {
  RouteMetrics m;
  m.record(http::Method::kGet, 200, 100, 50);
  m.record(http::Method::kGet, 204, 100, 0);
  m.record(http::Method::kPost, 503, 100, 80);
  m.record(http::Method::kPost, 999, 100, 80);  // nonsense status counts as 5xx
  EXPECT_EQ(m.requests[static_cast<size_t>(http::Method::kGet)][1].load(), 2u);
  EXPECT_EQ(m.requests[static_cast<size_t>(http::Method::kPost)][4].load(), 2u);
  EXPECT_EQ(m.duration.count.load(), 4u);
  EXPECT_EQ(m.upstream.count.load(), 3u);  // 0 = no upstream involved
}

TEST(WorkerMetrics, SlotsAreCreatedOnFirstUseAndVisibleToReaders) {
  WorkerMetrics w;
  EXPECT_EQ(w.find(7), nullptr);
  RouteMetrics& a = w.route(7);
  EXPECT_EQ(&w.route(7), &a);
  EXPECT_EQ(w.find(7), &a);
  EXPECT_EQ(w.find(8), nullptr);
  RouteMetrics& far = w.route(WorkerMetrics::kChunk * 3 + 1);
  EXPECT_EQ(w.find(WorkerMetrics::kChunk * 3 + 1), &far);
  // Beyond the slot space, every route shares one overflow entry.
  EXPECT_EQ(&w.route(WorkerMetrics::kMaxSlots + 5), &w.route(WorkerMetrics::kMaxSlots + 9));
}

TEST(WorkerMetrics, ConcurrentReaderSeesMonotonicCounts) {
  WorkerMetrics w;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 100000; ++i)
      w.route(static_cast<size_t>(i % 300)).record(http::Method::kGet, 200, 1, 1);
    done = true;
  });
  uint64_t last = 0;
  while (!done) {
    const RouteMetrics* m = w.find(0);
    if (m != nullptr) {
      uint64_t now = m->duration.count.load();
      EXPECT_GE(now, last);
      last = now;
    }
  }
  writer.join();
  ASSERT_NE(w.find(299), nullptr);
  EXPECT_EQ(w.find(0)->duration.count.load(), 334u);
}

}  // namespace
}  // namespace sluice::observe
