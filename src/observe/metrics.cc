#include "observe/metrics.h"

namespace sluice::observe {

void Histogram::observe(uint64_t us) {
  size_t i = 0;
  const double s = static_cast<double>(us) / 1e6;
  while (i < kLatencyBounds.size() && s > kLatencyBounds[i]) ++i;
  buckets[i].fetch_add(1, std::memory_order_relaxed);
  count.fetch_add(1, std::memory_order_relaxed);
  sum_us.fetch_add(us, std::memory_order_relaxed);
}

void RouteMetrics::record(http::Method method, int status, uint64_t total_us,
                          uint64_t upstream_us) {
  int cls = status / 100;
  if (cls < 1 || cls > 5) cls = 5;
  requests[static_cast<size_t>(method)][static_cast<size_t>(cls - 1)].fetch_add(
      1, std::memory_order_relaxed);
  duration.observe(total_us);
  if (upstream_us != 0) upstream.observe(upstream_us);
}

WorkerMetrics::WorkerMetrics() = default;

WorkerMetrics::~WorkerMetrics() {
  for (auto& slot : chunks_) {
    std::atomic<RouteMetrics*>* chunk = slot.load();
    if (chunk == nullptr) continue;
    for (size_t i = 0; i < kChunk; ++i) delete chunk[i].load();
    delete[] chunk;
  }
  delete overflow_.load();
}

RouteMetrics& WorkerMetrics::route(size_t slot) {
  if (slot >= kMaxSlots) {
    RouteMetrics* m = overflow_.load(std::memory_order_acquire);
    if (m == nullptr) {
      m = new RouteMetrics();
      overflow_.store(m, std::memory_order_release);
    }
    return *m;
  }
  std::atomic<RouteMetrics*>* chunk = chunks_[slot / kChunk].load(std::memory_order_relaxed);
  if (chunk == nullptr) {
    chunk = new std::atomic<RouteMetrics*>[kChunk];
    for (size_t i = 0; i < kChunk; ++i) chunk[i].store(nullptr, std::memory_order_relaxed);
    chunks_[slot / kChunk].store(chunk, std::memory_order_release);
  }
  std::atomic<RouteMetrics*>& cell = chunk[slot % kChunk];
  RouteMetrics* m = cell.load(std::memory_order_relaxed);
  if (m == nullptr) {
    m = new RouteMetrics();
    cell.store(m, std::memory_order_release);
  }
  return *m;
}

const RouteMetrics* WorkerMetrics::find(size_t slot) const {
  if (slot >= kMaxSlots) return overflow_.load(std::memory_order_acquire);
  std::atomic<RouteMetrics*>* chunk = chunks_[slot / kChunk].load(std::memory_order_acquire);
  if (chunk == nullptr) return nullptr;
  return chunk[slot % kChunk].load(std::memory_order_acquire);
}

void WorkerMetrics::refuse(int status) {
  size_t i = 0;
  while (i + 1 < kRefusedStatuses.size() && kRefusedStatuses[i] != status) ++i;
  refused[i].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace sluice::observe
