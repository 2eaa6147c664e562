#include "router/radix_tree.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "router/bytes.h"

namespace sluice::router {
namespace {

uint64_t mix(uint64_t h) {
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 29;
  return h;
}

// The key's first 8 bytes, zero-padded, without a byte loop.
uint64_t key_head(const char* p, size_t n) {
  if (n >= 8) return load64(p);
  if (n >= 4) return load32(p) | (uint64_t{load32(p + n - 4)} << (8 * (n - 4)));
  if (n == 0) return 0;
  const auto byte = [](char c) { return uint64_t{static_cast<unsigned char>(c)}; };
  return byte(p[0]) | (byte(p[n / 2]) << (8 * (n / 2))) | (byte(p[n - 1]) << (8 * (n - 1)));
}

uint32_t hash_key(const char* p, size_t n, uint64_t head) {
  uint64_t h = head ^ (uint64_t{n} * 0x9e3779b97f4a7c15ULL);
  if (n > 8) {
    size_t i = 8;
    for (; i + 8 < n; i += 8) h = mix(h) ^ load64(p + i);
    h = mix(h) ^ load64(p + n - 8);
  }
  h = mix(h);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

uint32_t key_tag(uint32_t hash, size_t n) {
  return (hash & ~uint32_t{0xff}) | static_cast<uint32_t>(n < 255 ? n : 255);
}

uint32_t table_size(uint32_t child_count) {
  return std::bit_ceil(std::max(8u, 2 * child_count));
}

}  // namespace

std::string RadixTree::child_key(uint32_t node, std::string_view segment) {
  std::string key(sizeof(node), '\0');
  std::memcpy(key.data(), &node, sizeof(node));
  key.append(segment);
  return key;
}

uint32_t RadixTree::add_root() {
  roots_.push_back(static_cast<uint32_t>(build_.size()));
  build_.emplace_back();
  return static_cast<uint32_t>(roots_.size() - 1);
}

uint32_t RadixTree::insert(uint32_t root, const std::vector<PatternSegment>& segments) {
  using Kind = PatternSegment::Kind;
  uint32_t node = roots_[root];
  size_t i = 0;
  while (i < segments.size()) {
    const PatternSegment& seg = segments[i];
    if (seg.kind == Kind::kCatchAll) {
      if (build_[node].catch_all == kNone) build_[node].catch_all = leaf_count_++;
      return build_[node].catch_all;
    }
    if (seg.kind == Kind::kParam) {
      if (build_[node].param == kNone) {
        const auto id = static_cast<uint32_t>(build_.size());
        build_.emplace_back();
        build_[node].param = id;
      }
      node = build_[node].param;
      ++i;
      continue;
    }
    size_t run_end = i;
    while (run_end < segments.size() && segments[run_end].kind == Kind::kStatic) ++run_end;
    auto [it, added] = child_of_.try_emplace(child_key(node, seg.text), kNone);
    if (added) {
      const auto id = static_cast<uint32_t>(build_.size());
      it->second = id;
      build_.emplace_back();
      for (size_t k = i; k < run_end; ++k) build_[id].label.push_back(segments[k].text);
      build_[node].children.push_back(id);
      node = id;
      i = run_end;
      continue;
    }
    uint32_t child = it->second;
    size_t common = 0;
    while (common < build_[child].label.size() && i + common < run_end &&
           build_[child].label[common] == segments[i + common].text) {
      ++common;
    }
    if (common < build_[child].label.size()) {  // split the edge where the labels part
      const auto mid = static_cast<uint32_t>(build_.size());
      build_.emplace_back();
      auto& old_label = build_[child].label;
      build_[mid].label.assign(old_label.begin(), old_label.begin() + static_cast<long>(common));
      old_label.erase(old_label.begin(), old_label.begin() + static_cast<long>(common));
      build_[mid].children.push_back(child);
      child_of_[child_key(mid, old_label.front())] = child;
      for (uint32_t& c : build_[node].children) {
        if (c == child) c = mid;
      }
      it->second = mid;  // the same first segment
      child = mid;
    }
    node = child;
    i += common;
  }
  if (build_[node].leaf == kNone) build_[node].leaf = leaf_count_++;
  return build_[node].leaf;
}

void RadixTree::freeze() {
  nodes_.clear();
  slots_.clear();
  chars_.clear();
  // Depth-first over sibling blocks: the static children of a node (and its param child) are
  // contiguous, and each subtree, labels included, lies in one stretch of memory.
  std::vector<uint32_t> flat_of(build_.size(), kNone);
  auto place = [&](uint32_t b) {
    flat_of[b] = static_cast<uint32_t>(nodes_.size());
    Node& n = nodes_.emplace_back();
    const std::vector<std::string>& label = build_[b].label;
    n.label_off = static_cast<uint32_t>(chars_.size());
    for (size_t k = 0; k < label.size(); ++k) {
      if (k) chars_.push_back('/');
      chars_.append(label[k]);
    }
    n.label_len = static_cast<uint32_t>(chars_.size() - n.label_off);
    n.key_len = label.empty() ? 0 : static_cast<uint32_t>(label.front().size());
  };
  std::vector<uint32_t> pending;
  for (uint32_t r : roots_) place(r);
  for (auto r = roots_.rbegin(); r != roots_.rend(); ++r) pending.push_back(*r);
  while (!pending.empty()) {
    const uint32_t b = pending.back();
    pending.pop_back();
    const BuildNode& bn = build_[b];
    const auto first_child = static_cast<uint32_t>(nodes_.size());
    for (uint32_t c : bn.children) place(c);
    if (bn.param != kNone) place(bn.param);
    Node& n = nodes_[flat_of[b]];
    n.children = first_child;
    n.child_count = static_cast<uint32_t>(bn.children.size());
    n.param = bn.param == kNone ? kNone : flat_of[bn.param];
    n.leaf = bn.leaf;
    n.catch_all = bn.catch_all;
    if (bn.param != kNone) pending.push_back(bn.param);
    for (auto c = bn.children.rbegin(); c != bn.children.rend(); ++c) pending.push_back(*c);
  }
  // Hash tables for wide nodes; such a node's `children` then names its table.
  for (Node& n : nodes_) {
    if (n.child_count <= kLinearChildren) continue;
    const uint32_t size = table_size(n.child_count);
    const uint32_t mask = size - 1;
    const auto table = static_cast<uint32_t>(slots_.size());
    slots_.resize(slots_.size() + size, Slot{0, 0, kNone});
    for (uint32_t c = n.children; c < n.children + n.child_count; ++c) {
      const char* key = chars_.data() + nodes_[c].label_off;
      const size_t len = nodes_[c].key_len;
      const uint64_t head = key_head(key, len);
      const uint32_t h = hash_key(key, len, head);
      uint32_t k = h & mask;
      while (slots_[table + k].node != kNone) k = (k + 1) & mask;
      slots_[table + k] = Slot{head, key_tag(h, len), c};
    }
    n.children = table;
  }
  for (uint32_t& r : roots_) r = flat_of[r];
  build_.clear();
  build_.shrink_to_fit();
  child_of_ = {};
}

void RadixTree::renumber_leaves(const std::vector<uint32_t>& value_of) {
  for (Node& n : nodes_) {
    if (n.leaf != kNone) n.leaf = value_of[n.leaf];
    if (n.catch_all != kNone) n.catch_all = value_of[n.catch_all];
  }
}

inline uint32_t RadixTree::find_child(const Node& node, std::string_view key) const {
  const char* chars = chars_.data();
  if (node.child_count <= kLinearChildren) {
    for (uint32_t c = node.children; c < node.children + node.child_count; ++c) {
      const Node& child = nodes_[c];
      if (child.key_len == key.size() &&
          bytes_equal(chars + child.label_off, key.data(), key.size())) {
        return c;
      }
    }
    return kNone;
  }
  const uint64_t head = key_head(key.data(), key.size());
  const uint32_t h = hash_key(key.data(), key.size(), head);
  const uint32_t tag = key_tag(h, key.size());
  const Slot* table = slots_.data() + node.children;
  const uint32_t mask = table_size(node.child_count) - 1;
  for (uint32_t k = h & mask;; k = (k + 1) & mask) {
    const Slot& s = table[k];
    if (s.node == kNone) return kNone;
    if (s.tag == tag && s.head == head) {
      if (key.size() <= 8) return s.node;
      const Node& child = nodes_[s.node];
      if (child.key_len == key.size() &&
          bytes_equal(chars + child.label_off + 8, key.data() + 8, key.size() - 8)) {
        return s.node;
      }
    }
  }
}

struct RadixTree::Walker {
  Walker(const RadixTree& t, std::string_view p, Visitor v, void* c)
      : tree(t), path(p), visit(v), ctx(c) {}

  const RadixTree& tree;
  std::string_view path;
  Visitor visit;
  void* ctx;
  size_t count = 0;
  Capture captures[kMaxPatternParams];  // no initialiser: only [0, count) is ever read

  // `pos` is the index of the '/' before the next segment, or path.size() when none is left.
  // Recurses only where a param or catch-all could take over after the static branch fails.
  bool walk(uint32_t id, size_t pos) {
    const size_t saved = count;
    const size_t n = path.size();
    const char* data = path.data();
    for (;;) {
      const Node& node = tree.nodes_[id];
      if (pos == n) {
        if (node.leaf != kNone && visit(ctx, node.leaf, captures, count)) return true;
        count = saved;
        return false;
      }
      const size_t begin = pos + 1;
      const size_t end = begin + find_byte(data + begin, n - begin, '/');
      uint32_t next = kNone;
      size_t next_pos = 0;
      if (node.child_count != 0) {
        next = tree.find_child(node, std::string_view(data + begin, end - begin));
        if (next != kNone) {
          const Node& child = tree.nodes_[next];
          const size_t rest = child.label_len - child.key_len;  // "/seg/seg" after the key
          next_pos = end + rest;
          if (rest != 0 &&
              !(n - end >= rest &&
                bytes_equal(data + end, tree.chars_.data() + child.label_off + child.key_len,
                            rest) &&
                (next_pos == n || data[next_pos] == '/'))) {
            next = kNone;
          }
        }
      }
      const bool has_param = node.param != kNone && end > begin && count < kMaxPatternParams;
      const bool has_catch_all = node.catch_all != kNone && count < kMaxPatternParams;
      if (next != kNone) {
        if (!has_param && !has_catch_all) {
          id = next;
          pos = next_pos;
          continue;
        }
        if (walk(next, next_pos)) return true;
      }
      if (has_param) {
        captures[count++] = Capture{data + begin, end - begin};
        if (!has_catch_all) {
          id = node.param;
          pos = end;
          continue;
        }
        if (walk(node.param, end)) return true;
        --count;
      }
      if (has_catch_all) {
        captures[count++] = Capture{data + begin, n - begin};
        if (visit(ctx, node.catch_all, captures, count)) return true;
      }
      count = saved;
      return false;
    }
  }
};

bool RadixTree::find(uint32_t root, std::string_view path, Visitor visit, void* ctx) const {
  if (path.empty() || path.front() != '/') return false;
  Walker w(*this, path, visit, ctx);
  return w.walk(roots_[root], 0);
}

}  // namespace sluice::router
