// round_robin: the next eligible target in order; weights are ignored.
#include "balance/algorithms.h"

namespace sluice::balance {
namespace {

class RoundRobin final : public Balancer {
 public:
  // Each worker starts at a position derived from its seed, so that after a reload the workers
  // do not all send their first request to target 0.
  RoundRobin(size_t n, uint64_t seed) : n_(n), next_(n == 0 ? 0 : mix64(seed) % n) {}

  size_t pick(std::span<const uint8_t> eligible, uint64_t /*hash*/) override {
    size_t n = eligible.size() < n_ ? eligible.size() : n_;
    size_t i = next_ < n ? next_ : 0;
    for (size_t k = 0; k < n; ++k) {
      if (eligible[i]) {
        next_ = i + 1 == n ? 0 : i + 1;
        return i;
      }
      if (++i == n) i = 0;
    }
    return 0;  // nothing eligible: a broken precondition; any answer is as good
  }

 private:
  size_t n_;
  size_t next_;
};

}  // namespace

std::unique_ptr<Balancer> make_round_robin(std::span<const Endpoint> endpoints, uint64_t seed) {
  return std::make_unique<RoundRobin>(endpoints.size(), seed);
}

}  // namespace sluice::balance
