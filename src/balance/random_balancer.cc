// random: an eligible target with probability proportional to its weight.
#include <algorithm>
#include <cstring>

#include "balance/algorithms.h"

namespace sluice::balance {
namespace {

class WeightedRandom final : public Balancer {
 public:
  WeightedRandom(std::span<const Endpoint> endpoints, uint64_t seed)
      : weight_(endpoints.size()), cumulative_(endpoints.size()), rng_(seed) {
    uint64_t sum = 0;
    for (size_t i = 0; i < endpoints.size(); ++i) {
      weight_[i] = weight_of(endpoints[i]);
      sum += weight_[i];
      cumulative_[i] = sum;
    }
  }

  size_t pick(std::span<const uint8_t> eligible, uint64_t /*hash*/) override {
    size_t n = eligible.size() < weight_.size() ? eligible.size() : weight_.size();
    if (n == 0) return 0;
    // The usual case, every target eligible: binary search in the precomputed prefix sums.
    if (n == weight_.size() && std::memchr(eligible.data(), 0, n) == nullptr) {
      uint64_t r = rng_.below(cumulative_[n - 1]);
      return static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), r) -
                                 cumulative_.begin());
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; ++i) total += eligible[i] ? weight_[i] : 0;
    if (total == 0) return 0;  // nothing eligible: a broken precondition
    uint64_t r = rng_.below(total);
    for (size_t i = 0; i < n; ++i) {
      if (!eligible[i]) continue;
      if (r < weight_[i]) return i;
      r -= weight_[i];
    }
    return 0;  // unreachable: r < total
  }

 private:
  std::vector<uint64_t> weight_;
  std::vector<uint64_t> cumulative_;  // cumulative_[i] = weight_[0] + ... + weight_[i]
  Rng rng_;
};

}  // namespace

std::unique_ptr<Balancer> make_random(std::span<const Endpoint> endpoints, uint64_t seed) {
  return std::make_unique<WeightedRandom>(endpoints, seed);
}

}  // namespace sluice::balance
