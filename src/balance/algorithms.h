// Internal to src/balance: the factories of the individual algorithms (one .cc each) that
// make_balancer() dispatches to, and the small helpers they share (a fast per-balancer RNG, the
// compact per-target view). Not for use outside this folder; the public API is balancer.h.
// Example:
//   std::unique_ptr<Balancer> b = make_p2c(endpoints, seed);
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "balance/balancer.h"

namespace sluice::balance {

std::unique_ptr<Balancer> make_round_robin(std::span<const Endpoint> endpoints, uint64_t seed);
std::unique_ptr<Balancer> make_weighted_round_robin(std::span<const Endpoint> endpoints);
std::unique_ptr<Balancer> make_least_connections(std::span<const Endpoint> endpoints,
                                                 uint64_t seed);
std::unique_ptr<Balancer> make_p2c(std::span<const Endpoint> endpoints, uint64_t seed);
std::unique_ptr<Balancer> make_consistent_hash(std::span<const Endpoint> endpoints);
std::unique_ptr<Balancer> make_random(std::span<const Endpoint> endpoints, uint64_t seed);

// hash_key() with a different seed: independent hashes of one key (Maglev needs two).
uint64_t hash_key_seeded(std::string_view key, uint64_t seed);

// splitmix64's finaliser: spreads any 64-bit value (a user-given seed, a counter) over all bits.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// xorshift64*: a few cycles per number and good enough to spread load. Per balancer (per
// worker), so it needs no synchronisation.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(mix64(seed) | 1) {}
  uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  // Uniform in [0, bound) by multiply-shift (Lemire); the bias is below bound / 2^64.
  uint64_t below(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
  }

 private:
  uint64_t state_;
};

// What the load-aware algorithms read per target, packed densely. Weight 0 (which the config
// refuses) counts as 1 so that no target becomes unpickable by accident.
struct Target {
  TargetState* state;
  uint32_t weight;
};

inline std::vector<Target> compact_targets(std::span<const Endpoint> endpoints) {
  std::vector<Target> out;
  out.reserve(endpoints.size());
  for (const Endpoint& e : endpoints) out.push_back({e.state, e.weight == 0 ? 1u : e.weight});
  return out;
}

inline uint64_t weight_of(const Endpoint& e) {
  return e.weight == 0 ? 1 : e.weight;
}

// Requests in flight; a transiently negative count (decrement racing a reload) reads as 0.
inline uint64_t active_of(const Target& t) {
  if (t.state == nullptr) return 0;
  int32_t a = t.state->active.load(std::memory_order_relaxed);
  return a < 0 ? 0 : static_cast<uint64_t>(a);
}

}  // namespace sluice::balance
