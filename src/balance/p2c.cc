// p2c (power of two choices): two distinct eligible targets drawn at random; the one with fewer
// requests in flight per unit of weight wins. Nearly as good as least_connections at spreading
// load, without scanning every target and without herding all workers onto the same idle one.
#include "balance/algorithms.h"

namespace sluice::balance {
namespace {

class P2C final : public Balancer {
 public:
  P2C(std::span<const Endpoint> endpoints, uint64_t seed)
      : targets_(compact_targets(endpoints)), rng_(seed) {}

  size_t pick(std::span<const uint8_t> eligible, uint64_t /*hash*/) override {
    size_t n = eligible.size() < targets_.size() ? eligible.size() : targets_.size();
    size_t a = draw(eligible, n, n);
    if (a == n) return 0;  // nothing eligible: a broken precondition
    size_t b = draw(eligible, n, a);
    if (b == n) return a;  // a is the only eligible target
    const Target& ta = targets_[a];
    const Target& tb = targets_[b];
    // active_b / weight_b < active_a / weight_a, without division; ties keep a (random anyway).
    return active_of(tb) * ta.weight < active_of(ta) * tb.weight ? b : a;
  }

 private:
  // A uniformly random eligible index other than `skip`, or n if there is none. Rejection
  // sampling first (almost always done in one or two draws); when most targets are ineligible,
  // counting and taking the r-th one bounds the work. Both are uniform, so their mix is too.
  size_t draw(std::span<const uint8_t> eligible, size_t n, size_t skip) {
    // Draw among the indices other than skip directly (no retry just for hitting it).
    size_t range = skip < n ? n - 1 : n;
    if (range == 0) return n;
    for (int tries = 0; tries < 8; ++tries) {
      size_t i = static_cast<size_t>(rng_.below(range));
      i += (i >= skip) ? 1 : 0;
      if (eligible[i]) return i;
    }
    size_t count = 0;
    for (size_t i = 0; i < n; ++i) count += (eligible[i] && i != skip) ? 1 : 0;
    if (count == 0) return n;
    size_t r = static_cast<size_t>(rng_.below(count));
    for (size_t i = 0; i < n; ++i) {
      if (eligible[i] && i != skip && r-- == 0) return i;
    }
    return n;
  }

  std::vector<Target> targets_;
  Rng rng_;
};

}  // namespace

std::unique_ptr<Balancer> make_p2c(std::span<const Endpoint> endpoints, uint64_t seed) {
  return std::make_unique<P2C>(endpoints, seed);
}

}  // namespace sluice::balance
