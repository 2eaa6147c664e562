// Load-balancing algorithms. Each worker builds its own Balancer per upstream from the snapshot
// (so round-robin positions and RNGs need no synchronisation); shared facts such as in-flight
// counts come from the TargetState atomics. The caller decides which targets are eligible
// (healthy, not ejected, not already tried, or all of them in panic mode) and the balancer picks
// one of those.
// Example:
//   auto b = make_balancer(Algorithm::kP2C, endpoints, seed);
//   size_t i = b->pick(eligible, hash_of_key);
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "balance/target_state.h"

namespace sluice::balance {

enum class Algorithm : uint8_t {
  kRoundRobin,
  kWeightedRoundRobin,  // smooth (nginx-style): 5/1/1 interleaves as a a b a c a a
  kLeastConnections,    // fewest in flight across all workers (TargetState::active), weighted
  kP2C,                 // power of two random choices by in-flight count
  kConsistentHash,      // Maglev table over the targets; key hash from the request
  kRandom,              // weighted random
};

std::optional<Algorithm> parse_algorithm(std::string_view name);
std::string_view algorithm_name(Algorithm a);

struct Endpoint {
  uint32_t weight = 1;
  TargetState* state = nullptr;  // never null in production; tests may use their own
  std::string_view key;          // stable identity ("host:port"), seeds consistent hashing
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // eligible.size() == number of endpoints; eligible[i] != 0 marks a pickable target, and at
  // least one is marked. `hash` is the request's key hash (consistent_hash only). Returns the
  // index of the chosen endpoint. Never allocates.
  virtual size_t pick(std::span<const uint8_t> eligible, uint64_t hash) = 0;
};

// The endpoints (and the TargetStates they point to) must outlive the balancer.
std::unique_ptr<Balancer> make_balancer(Algorithm algorithm, std::span<const Endpoint> endpoints,
                                        uint64_t seed);

// 64-bit hash of a key (client IP, header value, cookie, path or query value).
uint64_t hash_key(std::string_view key);

// Sticky-session cookie values: "<target key>.<hex HMAC-SHA256(secret, target key), 32 chars>".
std::string sign_sticky(std::string_view target_key, std::string_view secret);
// The target key of a cookie value whose signature verifies (constant-time), else nullopt.
std::optional<std::string_view> verify_sticky(std::string_view cookie_value,
                                              std::string_view secret);

}  // namespace sluice::balance
