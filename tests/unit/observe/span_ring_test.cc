#include "observe/span_ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace sluice::observe {
namespace {

Span numbered(uint64_t i) {
  Span s;
  s.start_unix_ns = i;
  s.path = "/items/" + std::to_string(i);
  s.route = std::string(40, 'r');  // longer than the small-string buffer: exercises reuse
  return s;
}

TEST(SpanRing, FifoAndDropsWhenFull) {
  SpanRing ring(3);
  EXPECT_EQ(ring.capacity(), 3u);
  for (uint64_t i = 0; i < 3; ++i) EXPECT_TRUE(ring.try_push(numbered(i)));
  EXPECT_FALSE(ring.try_push(numbered(99)));
  EXPECT_FALSE(ring.try_push(numbered(99)));
  EXPECT_EQ(ring.dropped(), 2u);
  EXPECT_EQ(ring.size_approx(), 3u);

  std::vector<Span> out;
  EXPECT_EQ(ring.drain(out, 2), 2u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].start_unix_ns, 0u);
  EXPECT_EQ(out[1].path, "/items/1");
  EXPECT_TRUE(ring.try_push(numbered(3)));
  EXPECT_TRUE(ring.try_push(numbered(4)));
  EXPECT_EQ(ring.drain(out, 100), 3u);
  ASSERT_EQ(out.size(), 5u);  // appended
  for (uint64_t i = 0; i < 5; ++i) EXPECT_EQ(out[i].start_unix_ns, i);
  EXPECT_EQ(ring.size_approx(), 0u);
  EXPECT_EQ(ring.drain(out, 100), 0u);
}

TEST(SpanRing, DrainToReusesTheCallersSlots) {
  SpanRing ring(4);
  std::vector<Span> slots(2);
  ring.try_push(numbered(1));
  ring.try_push(numbered(2));
  ring.try_push(numbered(3));
  EXPECT_EQ(ring.drain_to(slots.data(), slots.size()), 2u);
  EXPECT_EQ(slots[1].path, "/items/2");
  EXPECT_EQ(ring.drain_to(slots.data(), slots.size()), 1u);
  EXPECT_EQ(slots[0].path, "/items/3");
}

TEST(SpanRing, ZeroCapacityIsOne) {
  SpanRing ring(0);
  EXPECT_EQ(ring.capacity(), 1u);
  EXPECT_TRUE(ring.try_push(numbered(1)));
  EXPECT_FALSE(ring.try_push(numbered(2)));
}

// One producer, one consumer: every span is either received once, in order, or counted as
// dropped, and the contents arrive intact (no torn copies).
TEST(SpanRing, TwoThreads) {
  constexpr uint64_t kSpans = 20000;
  SpanRing ring(128);
  std::atomic<bool> done{false};
  uint64_t retried = 0;  // failed tries of even spans (counted as drops, then pushed)
  std::thread producer([&] {
    Span s = numbered(0);
    for (uint64_t i = 0; i < kSpans; ++i) {
      s.start_unix_ns = i;
      s.end_unix_ns = i * 3;
      s.path.assign("/p/").append(std::to_string(i));
      while (!ring.try_push(s) && i % 2 == 0) {  // odd ones may drop
        ++retried;
        std::this_thread::yield();
      }
    }
    done.store(true, std::memory_order_release);
  });
  std::vector<Span> out;
  uint64_t received = 0;
  int64_t last = -1;
  bool ok = true;
  while (true) {
    bool finished = done.load(std::memory_order_acquire);
    out.clear();
    ring.drain(out, 17);
    for (const Span& s : out) {
      ok = ok && static_cast<int64_t>(s.start_unix_ns) > last &&
           s.end_unix_ns == s.start_unix_ns * 3 &&
           s.path == "/p/" + std::to_string(s.start_unix_ns);
      last = static_cast<int64_t>(s.start_unix_ns);
    }
    received += out.size();
    if (finished && out.empty() && ring.size_approx() == 0) break;
  }
  producer.join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(received + ring.dropped(), kSpans + retried);
  EXPECT_GE(received, kSpans / 2);  // all even ones
}

}  // namespace
}  // namespace sluice::observe
