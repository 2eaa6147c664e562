// least_connections: the eligible target with the fewest requests in flight (across all workers,
// from TargetState::active) per unit of weight. Ties go round-robin, so idle targets share the
// load evenly instead of the first one taking every request.
#include "balance/algorithms.h"

namespace sluice::balance {
namespace {

class LeastConnections final : public Balancer {
 public:
  LeastConnections(std::span<const Endpoint> endpoints, uint64_t seed)
      : targets_(compact_targets(endpoints)),
        next_(endpoints.empty() ? 0 : mix64(seed) % endpoints.size()) {}

  size_t pick(std::span<const uint8_t> eligible, uint64_t /*hash*/) override {
    size_t n = eligible.size() < targets_.size() ? eligible.size() : targets_.size();
    size_t best = n;
    uint64_t best_active = 0;
    uint64_t best_weight = 1;
    size_t i = next_ < n ? next_ : 0;
    for (size_t k = 0; k < n; ++k) {
      uint64_t a = active_of(targets_[i]);
      uint64_t w = targets_[i].weight;
      // a / w < best_active / best_weight, without division. Strictly less: among equals the
      // first one after the rotating start wins. Branch-free: the outcome is unpredictable.
      bool better = eligible[i] && (best == n || a * best_weight < best_active * w);
      best = better ? i : best;
      best_active = better ? a : best_active;
      best_weight = better ? w : best_weight;
      if (++i == n) i = 0;
    }
    if (best == n) return 0;  // nothing eligible: a broken precondition
    next_ = best + 1 == n ? 0 : best + 1;
    return best;
  }

 private:
  std::vector<Target> targets_;
  size_t next_;
};

}  // namespace

std::unique_ptr<Balancer> make_least_connections(std::span<const Endpoint> endpoints,
                                                 uint64_t seed) {
  return std::make_unique<LeastConnections>(endpoints, seed);
}

}  // namespace sluice::balance
