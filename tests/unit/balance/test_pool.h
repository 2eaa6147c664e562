// Test helper for the balancer tests: a set of targets (TargetStates with "10.0.0.i:80" keys and
// the Endpoints that point at them) and a tally of which index a balancer picks.
// Example:
//   TestPool pool({1, 2, 3});
//   auto b = make_balancer(Algorithm::kRandom, pool.endpoints, 7);
//   std::vector<double> s = pool.shares(*b, pool.all(), 100000);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "balance/balancer.h"

namespace sluice::balance {

struct TestPool {
  explicit TestPool(const std::vector<uint32_t>& weights) {
    for (size_t i = 0; i < weights.size(); ++i) {
      states.push_back(
          std::make_unique<TargetState>("up", "10.0.0." + std::to_string(i + 1) + ":80"));
    }
    for (size_t i = 0; i < weights.size(); ++i) {
      endpoints.push_back({weights[i], states[i].get(), states[i]->key});
    }
  }

  std::vector<uint8_t> all() const { return std::vector<uint8_t>(endpoints.size(), 1); }

  void set_active(const std::vector<int32_t>& active) {
    for (size_t i = 0; i < active.size() && i < states.size(); ++i) {
      states[i]->active.store(active[i], std::memory_order_relaxed);
    }
  }

  // Share of `picks` picks that went to each target; hash i for pick i (or hashes[i]).
  std::vector<double> shares(Balancer& b, const std::vector<uint8_t>& eligible, size_t picks,
                             const std::vector<uint64_t>* hashes = nullptr) const {
    std::vector<size_t> counts(endpoints.size(), 0);
    for (size_t i = 0; i < picks; ++i) {
      size_t t = b.pick(eligible, hashes != nullptr ? (*hashes)[i] : i);
      if (t < counts.size()) ++counts[t];
    }
    std::vector<double> out;
    for (size_t c : counts) out.push_back(static_cast<double>(c) / static_cast<double>(picks));
    return out;
  }

  std::vector<std::unique_ptr<TargetState>> states;
  std::vector<Endpoint> endpoints;
};

}  // namespace sluice::balance
