// consistent_hash: a Maglev lookup table (Eisenbud et al., NSDI 2016). Each target walks its own
// permutation of the table slots (from two hashes of its key) and claims the next free slot on
// each of its turns, until the table is full; pick(hash) is table[hash % size]. Because the
// permutations depend only on the keys, every worker and every process builds the same table,
// and adding or removing a target moves few keys.
//
// Weights: per filling round the heaviest target takes one turn and a target of weight w takes
// w / max_weight of one (counted exactly in integers), so slot shares follow the weights.
//
// Ineligible targets: the lookup walks forward from table[hash % size], with a stride derived
// from the key hash, to the first slot whose target is eligible. That fallback is deterministic,
// so keys of eligible targets never move when another target goes down, and the keys of the one
// that went down spread over the others in proportion to their slots.
#include <algorithm>
#include <array>
#include <limits>

#include "balance/algorithms.h"

namespace sluice::balance {
namespace {

// Primes for the table size: the smallest one >= 100 * targets keeps every target's share
// within about 1% of its ideal (Maglev's rule of thumb). Starting at 65537 keeps the size, and so
// every key's slot, unchanged as an upstream grows or shrinks anywhere up to 655 targets.
constexpr std::array<uint32_t, 9> kTableSizes = {
    65537, 131071, 262147, 524287, 1048573, 2097143, 4194301, 8388593, 16777213,
};

uint32_t table_size_for(size_t targets) {
  for (uint32_t m : kTableSizes) {
    if (m >= 100 * static_cast<uint64_t>(targets)) return m;
  }
  return kTableSizes.back();
}

// Seeds of the two key hashes that define a target's permutation.
constexpr uint64_t kOffsetSeed = 0x6d61676c65766f66ULL;
constexpr uint64_t kSkipSeed = 0x6d61676c65767370ULL;

template <typename Entry>
class Maglev final : public Balancer {
 public:
  explicit Maglev(std::span<const Endpoint> endpoints) : n_(endpoints.size()) {
    if (n_ == 0) return;
    uint32_t m = table_size_for(n_);
    table_.assign(m, std::numeric_limits<Entry>::max());
    populate(endpoints, m);
  }

  size_t pick(std::span<const uint8_t> eligible, uint64_t hash) override {
    size_t n = eligible.size() < n_ ? eligible.size() : n_;
    if (n == 0) return 0;
    size_t m = table_.size();
    size_t slot = static_cast<size_t>(hash % m);
    size_t t = table_[slot];
    if (t < n && eligible[t]) return t;
    // Probe on with a stride taken from the key hash. With stride 1, the keys of a target that
    // went down would pile onto whichever targets happen to own the slots right after its
    // slots (measured: 8% to 35% of them per survivor instead of 25% each); a per-key stride
    // sends them to owners of unrelated slots, so they spread in proportion to slot shares.
    // The stride is coprime with the prime m, so one lap visits every slot.
    size_t stride = 1 + static_cast<size_t>(mix64(hash) % (m - 1));
    for (size_t k = 1; k < m; ++k) {
      slot += stride;
      if (slot >= m) slot -= m;
      t = table_[slot];
      if (t < n && eligible[t]) return t;
    }
    // Not reached: every target takes a turn in the first filling round, so owns a slot, and one
    // lap visits every slot. A guard against that ever changing.
    for (size_t i = 0; i < n; ++i) {
      if (eligible[i]) return i;
    }
    return 0;  // nothing eligible: a broken precondition
  }

 private:
  void populate(std::span<const Endpoint> endpoints, uint32_t m) {
    struct Walker {
      uint64_t slot;  // next slot of this target's permutation
      uint64_t skip;  // step of the permutation, in [1, m), coprime with the prime m
      uint64_t weight;
      uint64_t turns;  // turns taken so far
    };
    std::vector<Walker> walkers(n_);
    uint64_t max_weight = 1;
    for (size_t i = 0; i < n_; ++i) {
      walkers[i].slot = hash_key_seeded(endpoints[i].key, kOffsetSeed) % m;
      walkers[i].skip = hash_key_seeded(endpoints[i].key, kSkipSeed) % (m - 1) + 1;
      walkers[i].weight = weight_of(endpoints[i]);
      walkers[i].turns = 0;
      max_weight = std::max(max_weight, walkers[i].weight);
    }
    const Entry empty = std::numeric_limits<Entry>::max();
    size_t filled = 0;
    for (uint64_t round = 1; filled < m; ++round) {
      for (size_t i = 0; i < n_ && filled < m; ++i) {
        Walker& w = walkers[i];
        // After `round` rounds a target has had ceil(round * weight / max_weight) turns.
        if (w.turns * max_weight >= round * w.weight) continue;
        ++w.turns;
        while (table_[w.slot] != empty) {
          w.slot += w.skip;
          if (w.slot >= m) w.slot -= m;
        }
        table_[w.slot] = static_cast<Entry>(i);
        ++filled;
      }
    }
  }

  size_t n_;
  std::vector<Entry> table_;  // slot -> index of the endpoint
};

}  // namespace

std::unique_ptr<Balancer> make_consistent_hash(std::span<const Endpoint> endpoints) {
  // 16-bit slots halve the table (128 KiB at 65537 slots; one per upstream per worker).
  if (endpoints.size() < std::numeric_limits<uint16_t>::max()) {
    return std::make_unique<Maglev<uint16_t>>(endpoints);
  }
  return std::make_unique<Maglev<uint32_t>>(endpoints);
}

}  // namespace sluice::balance
