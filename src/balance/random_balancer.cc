// random: an eligible target with probability proportional to its weight.
#include "balance/algorithms.h"

namespace sluice::balance {
namespace {

class WeightedRandom final : public Balancer {
 public:
  WeightedRandom(std::span<const Endpoint> endpoints, uint64_t seed)
      : weight_(endpoints.size()), rng_(seed) {
    for (size_t i = 0; i < endpoints.size(); ++i) {
      weight_[i] = weight_of(endpoints[i]);
      total_ += weight_[i];
    }
    build_alias_table();
  }

  size_t pick(std::span<const uint8_t> eligible, uint64_t /*hash*/) override {
    size_t n = eligible.size() < weight_.size() ? eligible.size() : weight_.size();
    if (n == 0) return 0;
    // Draw over all targets with the alias table (O(1)) until an eligible one comes up: given
    // that it is eligible, a target comes up in proportion to its weight, which is exactly the
    // wanted distribution. When few are eligible, give up after a few draws and scan.
    if (n == weight_.size()) {
      for (int tries = 0; tries < 4; ++tries) {
        size_t i = static_cast<size_t>(rng_.below(n));
        if (rng_.below(total_) >= buckets_[i].threshold) i = buckets_[i].alias;
        if (eligible[i]) return i;
      }
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
  // Walker's alias method (Vose's construction) in exact integers: every bucket stands for
  // total_ units of n * weight; bucket i keeps `threshold` of them for i and gives the rest to
  // `alias`. A pick is a uniform bucket and a uniform unit in [0, total_).
  void build_alias_table() {
    size_t n = weight_.size();
    buckets_.resize(n);
    std::vector<uint64_t> scaled(n);
    std::vector<size_t> small;
    std::vector<size_t> large;
    for (size_t i = 0; i < n; ++i) {
      scaled[i] = weight_[i] * n;
      (scaled[i] < total_ ? small : large).push_back(i);
    }
    while (!small.empty() && !large.empty()) {
      size_t s = small.back();
      small.pop_back();
      size_t l = large.back();
      buckets_[s] = {scaled[s], l};
      scaled[l] -= total_ - scaled[s];
      if (scaled[l] < total_) {
        large.pop_back();
        small.push_back(l);
      }
    }
    // What is left is full (exactly total_ units, up to nothing: the arithmetic is exact).
    for (size_t i : small) buckets_[i] = {total_, i};
    for (size_t i : large) buckets_[i] = {total_, i};
  }

  struct Bucket {
    uint64_t threshold;
    size_t alias;
  };
  std::vector<uint64_t> weight_;
  uint64_t total_ = 0;
  std::vector<Bucket> buckets_;
  Rng rng_;
};

}  // namespace

std::unique_ptr<Balancer> make_random(std::span<const Endpoint> endpoints, uint64_t seed) {
  return std::make_unique<WeightedRandom>(endpoints, seed);
}

}  // namespace sluice::balance
