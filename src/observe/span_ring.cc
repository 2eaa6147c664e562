#include "observe/span_ring.h"

#include <algorithm>

namespace sluice::observe {

SpanRing::SpanRing(size_t capacity)
    : capacity_(std::max<size_t>(capacity, 1)), slots_(new Span[capacity_]) {}

bool SpanRing::try_push(const Span& span) {
  uint64_t tail = tail_.load(std::memory_order_relaxed);  // only this thread writes it
  if (tail - cached_head_ >= capacity_) {
    // Acquire: the consumer's reads of the slots it freed happen before we overwrite them.
    cached_head_ = head_.load(std::memory_order_acquire);
    if (tail - cached_head_ >= capacity_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  slots_[tail % capacity_] = span;
  // Release: the slot's contents are visible to a consumer that sees the new tail.
  tail_.store(tail + 1, std::memory_order_release);
  return true;
}

size_t SpanRing::drain_to(Span* out, size_t max) {
  uint64_t head = head_.load(std::memory_order_relaxed);  // only this thread writes it
  if (cached_tail_ - head < max) cached_tail_ = tail_.load(std::memory_order_acquire);
  size_t n = static_cast<size_t>(std::min<uint64_t>(cached_tail_ - head, max));
  for (size_t i = 0; i < n; ++i) out[i] = slots_[(head + i) % capacity_];
  if (n > 0) head_.store(head + n, std::memory_order_release);
  return n;
}

size_t SpanRing::drain(std::vector<Span>& out, size_t max) {
  uint64_t head = head_.load(std::memory_order_relaxed);
  if (cached_tail_ - head < max) cached_tail_ = tail_.load(std::memory_order_acquire);
  size_t n = static_cast<size_t>(std::min<uint64_t>(cached_tail_ - head, max));
  out.reserve(out.size() + n);
  for (size_t i = 0; i < n; ++i) out.push_back(slots_[(head + i) % capacity_]);
  if (n > 0) head_.store(head + n, std::memory_order_release);
  return n;
}

size_t SpanRing::size_approx() const {
  // Head first: tail never falls behind a head read earlier, so the difference is >= 0.
  uint64_t head = head_.load(std::memory_order_acquire);
  uint64_t tail = tail_.load(std::memory_order_acquire);
  return static_cast<size_t>(std::min<uint64_t>(tail - head, capacity_));
}

}  // namespace sluice::observe
