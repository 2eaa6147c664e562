// weighted_round_robin: nginx's smooth weighted round-robin. Every pick adds each eligible
// target's weight to its running score, takes the highest score (first on ties) and lowers the
// winner by the eligible total. Over sum(weights) picks each target gets exactly its weight's
// share, and heavy targets are spread out: 5/1/1 gives a a b a c a a, not a a a a a b c.
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
    size_t best = n;
    int64_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!eligible[i]) continue;
      current_[i] += weight_[i];
      total += weight_[i];
      if (best == n || current_[i] > current_[best]) best = i;
    }
    if (best == n) return 0;  // nothing eligible: a broken precondition
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
