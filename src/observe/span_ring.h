// A bounded lock-free single-producer / single-consumer queue of Spans between one worker (the
// producer) and the control thread's exporter (the consumer). Slots are built once and reused
// by copy-assignment, so a steady-state push does not allocate; a full ring drops the span and
// counts it rather than blocking the worker or growing memory behind a slow collector.
// Example:
//   SpanRing ring(4096);                          // one per worker
//   if (!ring.try_push(span)) { /* counted in ring.dropped() */ }    // worker thread
//   std::vector<Span> batch;  ring.drain(batch, 512);                 // control thread
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "observe/span.h"

namespace sluice::observe {

class SpanRing {
 public:
  explicit SpanRing(size_t capacity);  // capacity 0 is taken as 1
  SpanRing(const SpanRing&) = delete;
  SpanRing& operator=(const SpanRing&) = delete;

  // Producer only. Copies `span` into a free slot; false (and dropped() + 1) when full.
  bool try_push(const Span& span);

  // Consumer only. Appends up to `max` spans, oldest first; returns how many.
  size_t drain(std::vector<Span>& out, size_t max);
  // Consumer only. Copy-assigns up to `max` spans into out[0..): with a kept array of Spans
  // the consumer does not allocate either once their strings have grown.
  size_t drain_to(Span* out, size_t max);

  // Any thread; exact when neither side is running.
  size_t size_approx() const;
  size_t capacity() const { return capacity_; }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  // Each side's counter on its own cache line so that the two threads do not false-share.
  static constexpr size_t kCacheLine = 64;

  size_t capacity_;
  std::unique_ptr<Span[]> slots_;
  // head_: next slot to read (written by the consumer); tail_: next slot to write (producer).
  // Both only grow; slot = counter % capacity_.
  alignas(kCacheLine) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;  // consumer's last view of tail_
  alignas(kCacheLine) std::atomic<uint64_t> tail_{0};
  uint64_t cached_head_ = 0;  // producer's last view of head_
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace sluice::observe
