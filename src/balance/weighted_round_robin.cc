// weighted_round_robin: nginx's smooth weighted round-robin. Every pick adds each eligible
// target's weight to its running score, takes the highest score (first on ties) and lowers the
// winner by the eligible total. Over sum(weights) picks each target gets exactly its weight's
// share, and heavy targets are spread out: 5/1/1 gives a a b a c a a, not a a a a a b c.
#include <limits>

#include "balance/algorithms.h"

namespace sluice::balance {
namespace {

class WeightedRoundRobin final : public Balancer {
 public:
  explicit WeightedRoundRobin(std::span<const Endpoint> endpoints)
      : weight_(endpoints.size()), current_(endpoints.size(), 0) {
    for (size_t i = 0; i < endpoints.size(); ++i) {
      weight_[i] = static_cast<int64_t>(weight_of(endpoints[i]));
    }
  }

  size_t pick(std::span<const uint8_t> eligible, uint64_t /*hash*/) override {
    size_t n = eligible.size() < weight_.size() ? eligible.size() : weight_.size();
    // Two passes: the first (add the weights of the eligible) vectorises; the second keeps the
    // best score in a register instead of re-reading current_[best].
    int64_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      int64_t w = eligible[i] ? weight_[i] : 0;
      current_[i] += w;
      total += w;
    }
    if (total == 0) return 0;  // nothing eligible: a broken precondition
    size_t best = 0;
    int64_t best_score = std::numeric_limits<int64_t>::min();  // below any reachable score
    for (size_t i = 0; i < n; ++i) {
      bool better = eligible[i] && current_[i] > best_score;
      best = better ? i : best;
      best_score = better ? current_[i] : best_score;
    }
    current_[best] -= total;
    return best;
  }

 private:
  std::vector<int64_t> weight_;
  std::vector<int64_t> current_;
};

}  // namespace

std::unique_ptr<Balancer> make_weighted_round_robin(std::span<const Endpoint> endpoints) {
  return std::make_unique<WeightedRoundRobin>(endpoints);
}

}  // namespace sluice::balance
