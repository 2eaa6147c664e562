#include "router/radix_tree.h"

#include <cstring>

namespace sluice::router {
namespace {

uint64_t load_bytes(const char* p, size_t n) {
  uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

uint64_t mix(uint64_t h) {
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 29;
  return h;
}

uint32_t hash_segment(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
  while (n >= 8) {
    h = mix(h ^ load_bytes(p, 8));
    p += 8;
    n -= 8;
  }
  h = mix(h ^ load_bytes(p, n) ^ (static_cast<uint64_t>(n) << 59));
  return static_cast<uint32_t>(h ^ (h >> 32));
}

bool bytes_equal(const char* a, const char* b, size_t n) {
  return n == 0 || !std::memcmp(a, b, n);
}

}  // namespace

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
    uint32_t child = kNone;
    for (uint32_t c : build_[node].children) {
      if (build_[c].label.front() == seg.text) {
        child = c;
        break;
      }
    }
    if (child == kNone) {
      const auto id = static_cast<uint32_t>(build_.size());
      build_.emplace_back();
      for (size_t k = i; k < run_end; ++k) build_[id].label.push_back(segments[k].text);
      build_[node].children.push_back(id);
      node = id;
      i = run_end;
      continue;
    }
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
      for (uint32_t& c : build_[node].children) {
        if (c == child) c = mid;
      }
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
  // Breadth-first, so that the static children of a node are contiguous.
  std::vector<uint32_t> flat_of(build_.size(), kNone);
  std::vector<uint32_t> order;
  order.reserve(build_.size());
  for (uint32_t& r : roots_) {
    flat_of[r] = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
    order.push_back(r);
  }
  for (size_t q = 0; q < order.size(); ++q) {
    const BuildNode& b = build_[order[q]];
    const uint32_t f = flat_of[order[q]];
    const auto first_child = static_cast<uint32_t>(nodes_.size());
    for (uint32_t c : b.children) {
      flat_of[c] = static_cast<uint32_t>(nodes_.size());
      nodes_.emplace_back();
      order.push_back(c);
    }
    if (b.param != kNone) {
      flat_of[b.param] = static_cast<uint32_t>(nodes_.size());
      nodes_.emplace_back();
      order.push_back(b.param);
    }
    Node& n = nodes_[f];
    n.label_off = static_cast<uint32_t>(chars_.size());
    for (size_t k = 0; k < b.label.size(); ++k) {
      if (k) chars_.push_back('/');
      chars_.append(b.label[k]);
    }
    n.label_len = static_cast<uint32_t>(chars_.size() - n.label_off);
    n.key_len = b.label.empty() ? 0 : static_cast<uint32_t>(b.label.front().size());
    n.key_hash = hash_segment(std::string_view(chars_).substr(n.label_off, n.key_len));
    n.children = first_child;
    n.child_count = static_cast<uint32_t>(b.children.size());
    n.param = b.param == kNone ? kNone : flat_of[b.param];
    n.leaf = b.leaf;
    n.catch_all = b.catch_all;
  }
  // Hash tables for wide nodes, now that every key hash is known.
  for (Node& n : nodes_) {
    if (n.child_count <= kLinearChildren) continue;
    uint32_t size = 8;
    while (size < 2 * n.child_count) size *= 2;
    n.table = static_cast<uint32_t>(slots_.size());
    n.table_mask = size - 1;
    slots_.resize(slots_.size() + size, Slot{0, kNone});
    for (uint32_t c = n.children; c < n.children + n.child_count; ++c) {
      uint32_t k = nodes_[c].key_hash & n.table_mask;
      while (slots_[n.table + k].node != kNone) k = (k + 1) & n.table_mask;
      slots_[n.table + k] = Slot{nodes_[c].key_hash, c};
    }
  }
  for (uint32_t& r : roots_) r = flat_of[r];
  build_.clear();
  build_.shrink_to_fit();
}

uint32_t RadixTree::find_child(const Node& node, std::string_view key) const {
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
  const uint32_t h = hash_segment(key);
  const Slot* table = slots_.data() + node.table;
  for (uint32_t k = h & node.table_mask;; k = (k + 1) & node.table_mask) {
    const Slot& s = table[k];
    if (s.node == kNone) return kNone;
    if (s.hash == h) {
      const Node& child = nodes_[s.node];
      if (child.key_len == key.size() &&
          bytes_equal(chars + child.label_off, key.data(), key.size())) {
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
  std::string_view captures[kMaxPatternParams];

  // `pos` is the index of the '/' before the next segment, or path.size() when none is left.
  bool walk(uint32_t id, size_t pos) {
    const Node& node = tree.nodes_[id];
    const size_t n = path.size();
    if (pos == n) return node.leaf != kNone && visit(ctx, node.leaf, captures, count);
    const size_t begin = pos + 1;
    const char* data = path.data();
    const char* slash = static_cast<const char*>(std::memchr(data + begin, '/', n - begin));
    const size_t end = slash ? static_cast<size_t>(slash - data) : n;
    const std::string_view seg(data + begin, end - begin);
    if (node.child_count != 0) {
      const uint32_t c = tree.find_child(node, seg);
      if (c != kNone) {
        const Node& child = tree.nodes_[c];
        const size_t rest = child.label_len - child.key_len;  // "/seg/seg" after the key
        if (rest == 0) {
          if (walk(c, end)) return true;
        } else if (n - end >= rest &&
                   bytes_equal(data + end, tree.chars_.data() + child.label_off + child.key_len,
                               rest) &&
                   (end + rest == n || data[end + rest] == '/')) {
          if (walk(c, end + rest)) return true;
        }
      }
    }
    if (node.param != kNone && end > begin && count < kMaxPatternParams) {
      captures[count++] = seg;
      if (walk(node.param, end)) return true;
      --count;
    }
    if (node.catch_all != kNone && count < kMaxPatternParams) {
      captures[count++] = path.substr(begin);
      if (visit(ctx, node.catch_all, captures, count)) return true;
      --count;
    }
    return false;
  }
};

bool RadixTree::find(uint32_t root, std::string_view path, Visitor visit, void* ctx) const {
  if (path.empty() || path.front() != '/') return false;
  Walker w(*this, path, visit, ctx);
  return w.walk(roots_[root], 0);
}

}  // namespace sluice::router
