// The radix tree behind Router: a compressed prefix tree over path segments (its alphabet is whole
// segments, so a lookup costs one step per segment however many routes share a node). Static edges
// beat {param} edges, which beat {*catchall}; a failed branch backtracks to the next candidate.
// Several trees (one per host) share one node pool. Leaves are plain ids: the caller keeps the
// routes of each leaf.
// Example:
//   RadixTree t;
//   uint32_t root = t.add_root();
//   ParsedPattern p;
//   parse_pattern("/users/{id}", &p);
//   uint32_t leaf = t.insert(root, p.segments);
//   t.freeze();
//   t.find(root, "/users/7", [](void*, uint32_t l, RadixTree::Capture* caps, size_t n) {
//     return true;  // l == leaf, n == 1, caps[0] is {"7", 1}
//   }, nullptr);
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "router/pattern.h"

namespace sluice::router {

class RadixTree {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  // A param value: a view into the path (plain, so that the capture stack needs no zeroing).
  struct Capture {
    const char* data;
    size_t size;
  };
  // Called for each leaf whose pattern matches, best first; returns true to stop the search.
  // captures[0..count) are the param values in pattern order. (Not const: GCC 12 would warn
  // that the uninitialised tail of the capture stack may be read.)
  using Visitor = bool (*)(void* ctx, uint32_t leaf, Capture* captures, size_t count);

  // Building (before freeze()).
  uint32_t add_root();
  // Returns the leaf the pattern ends at; equivalent patterns under one root share a leaf.
  uint32_t insert(uint32_t root, const std::vector<PatternSegment>& segments);
  // Lays the tree out flat for lookups; no insert afterwards.
  void freeze();
  uint32_t leaf_count() const { return leaf_count_; }
  // After freeze(): the visitor gets value_of[leaf] instead of each leaf id, so that a caller can
  // hand out indexes into its own tables without one more lookup.
  void renumber_leaves(const std::vector<uint32_t>& value_of);

  // Lookup (after freeze()); allocates nothing. Returns true when `visit` stopped the search.
  bool find(uint32_t root, std::string_view path, Visitor visit, void* ctx) const;

 private:
  struct BuildNode {
    std::vector<std::string> label;  // static segments leading here; empty for roots and params
    std::vector<uint32_t> children;  // static children, distinct first label segments
    uint32_t param = kNone;
    uint32_t leaf = kNone;
    uint32_t catch_all = kNone;
  };
  struct alignas(32) Node {
    uint32_t label_off = 0;  // label in chars_: segments joined by '/'
    uint32_t label_len = 0;
    uint32_t key_len = 0;  // the label's first segment, the key of this node in its parent
    uint32_t child_count = 0;
    // Static children are nodes_[children, children + child_count), or, when child_count >
    // kLinearChildren, found through the hash table at slots_[children].
    uint32_t children = 0;
    uint32_t param = kNone;
    uint32_t leaf = kNone;
    uint32_t catch_all = kNone;
  };
  // A hash-table entry; keys of up to 8 bytes are compared here, without touching the child.
  struct Slot {
    uint64_t head;  // the key's first 8 bytes, zero-padded
    uint32_t tag;   // hash bits over the key's length (capped at 255)
    uint32_t node;
  };
  struct Walker;
  static constexpr uint32_t kLinearChildren = 4;

  uint32_t find_child(const Node& node, std::string_view key) const;
  // Building: a node's static child by its first label segment (a node may have many thousands
  // of children: routes /svc1/…, /svc2/…, … under one prefix).
  static std::string child_key(uint32_t node, std::string_view segment);

  std::vector<BuildNode> build_;
  std::unordered_map<std::string, uint32_t> child_of_;  // child_key(node, segment) -> child
  std::vector<uint32_t> roots_;  // root handle -> build node, then flat node after freeze()
  uint32_t leaf_count_ = 0;
  std::vector<Node> nodes_;
  std::vector<Slot> slots_;
  std::string chars_;
};

}  // namespace sluice::router
