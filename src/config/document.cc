// See document.h.
#include "config/document.h"

#include <yaml.h>

#include <algorithm>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/reader.h"

namespace sluice::config {

struct DocumentData {
  struct Entry {
    NodeType type = NodeType::kUndefined;
    bool quoted = false;
    uint16_t source = 0;  // Mark::source
    uint32_t line = 0;    // 1-based
    uint32_t col = 0;
    uint32_t first = 0;  // scalar: offset in text; list, map: offset in kids
    uint32_t count = 0;  // scalar: bytes; list: elements; map: entries (2 kids each)
  };
  std::string text;
  std::vector<Entry> nodes;
  std::vector<uint32_t> kids;

  static Mark mark_of(const Entry& e) {
    return {static_cast<int>(e.line), static_cast<int>(e.col), e.source};
  }

  uint32_t add(NodeType type, Mark mark) {
    Entry e;
    e.type = type;
    e.line = static_cast<uint32_t>(mark.line);
    e.col = static_cast<uint32_t>(mark.col);
    e.source = mark.source;
    nodes.push_back(e);
    return static_cast<uint32_t>(nodes.size() - 1);
  }
  uint32_t add_scalar(NodeType type, std::string_view s, bool quoted, Mark mark) {
    const uint32_t i = add(type, mark);
    nodes[i].quoted = quoted;
    nodes[i].first = static_cast<uint32_t>(text.size());
    nodes[i].count = static_cast<uint32_t>(s.size());
    text.append(s);
    return i;
  }
};

namespace {

using Entry = DocumentData::Entry;

// Copies subtrees of one document into another, each source node once (aliases stay shared).
class Copier {
 public:
  Copier(const DocumentData& src, DocumentData& dst) : src_(src), dst_(dst) {}

  uint32_t copy(uint32_t i) {
    auto [it, fresh] = done_.try_emplace(i, 0);
    if (!fresh) return it->second;
    const Entry& e = src_.nodes[i];
    const Mark m = DocumentData::mark_of(e);
    uint32_t out = 0;
    if (e.type == NodeType::kScalar || e.type == NodeType::kNull) {
      out = dst_.add_scalar(e.type, std::string_view(src_.text).substr(e.first, e.count), e.quoted,
                            m);
    } else {
      const size_t n = e.type == NodeType::kMap ? size_t{e.count} * 2 : e.count;
      std::vector<uint32_t> kids;
      kids.reserve(n);
      for (size_t k = 0; k < n; ++k) kids.push_back(copy(src_.kids[e.first + k]));
      out = container(e.type, m, kids, e.count);
    }
    done_[i] = out;
    return out;
  }

  uint32_t container(NodeType type, Mark m, const std::vector<uint32_t>& kids, size_t count) {
    const uint32_t out = dst_.add(type, m);
    dst_.nodes[out].first = static_cast<uint32_t>(dst_.kids.size());
    dst_.nodes[out].count = static_cast<uint32_t>(count);
    dst_.kids.insert(dst_.kids.end(), kids.begin(), kids.end());
    return out;
  }

 private:
  const DocumentData& src_;
  DocumentData& dst_;
  std::unordered_map<uint32_t, uint32_t> done_;
};

Mark to_mark(const yaml_mark_t& m, uint16_t source) {
  return {static_cast<int>(m.line) + 1, static_cast<int>(m.column) + 1, source};
}

bool is_plain_null(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

}  // namespace

NodeType Node::type() const {
  return doc_ ? doc_->nodes[index_].type : NodeType::kUndefined;
}

std::string_view Node::scalar() const {
  if (!doc_) return {};
  const Entry& e = doc_->nodes[index_];
  if (e.type != NodeType::kScalar) return {};
  return std::string_view(doc_->text).substr(e.first, e.count);
}

Mark Node::mark() const {
  if (!doc_) return {};
  return DocumentData::mark_of(doc_->nodes[index_]);
}

bool Node::quoted() const {
  return doc_ && doc_->nodes[index_].quoted;
}

size_t Node::size() const {
  if (!doc_) return 0;
  const Entry& e = doc_->nodes[index_];
  return e.type == NodeType::kSequence || e.type == NodeType::kMap ? e.count : 0;
}

Node Node::at(size_t i) const {
  if (!is_sequence() || i >= size()) return {};
  return {doc_, doc_->kids[doc_->nodes[index_].first + i]};
}

Node Node::key(size_t i) const {
  if (!is_map() || i >= size()) return {};
  return {doc_, doc_->kids[doc_->nodes[index_].first + 2 * i]};
}

Node Node::value(size_t i) const {
  if (!is_map() || i >= size()) return {};
  return {doc_, doc_->kids[doc_->nodes[index_].first + 2 * i + 1]};
}

Node Node::scalar_node(std::string_view text, Mark mark) {
  auto doc = std::make_shared<DocumentData>();
  const uint32_t i = doc->add_scalar(NodeType::kScalar, text, false, mark);
  return {std::move(doc), i};
}

Node Node::detach() const {
  if (!doc_) return {};
  auto doc = std::make_shared<DocumentData>();
  const uint32_t i = Copier(*doc_, *doc).copy(index_);
  return {std::move(doc), i};
}

bool Node::document_may_contain(std::string_view needle) const {
  return doc_ != nullptr && doc_->text.find(needle) != std::string::npos;
}

Node Node::without_keys(std::span<const std::string_view> keys) const {
  if (!is_map()) return *this;
  auto doc = std::make_shared<DocumentData>();
  Copier copier(*doc_, *doc);
  std::vector<uint32_t> kids;
  for (size_t i = 0; i < size(); ++i) {
    const Node k = key(i);
    if (k.is_scalar() && std::find(keys.begin(), keys.end(), k.scalar()) != keys.end()) continue;
    kids.push_back(copier.copy(k.index_));
    kids.push_back(copier.copy(value(i).index_));
  }
  const uint32_t out = copier.container(NodeType::kMap, mark(), kids, kids.size() / 2);
  return {std::move(doc), out};
}

// splitmix64's finaliser: every input bit moves about half the output bits.
uint64_t fingerprint_mix(uint64_t h, uint64_t v) {
  uint64_t x = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  return fingerprint_mix(h, v);
}

bool fingerprint_into(const Node& n, std::span<const std::string_view> skip, size_t* budget,
                      uint64_t* h) {
  if (*budget == 0) return false;
  --*budget;
  const NodeType t = n.type();
  // Not whether a scalar was quoted: the schema walk reads `"5s"` and `5s` alike (quoting decides
  // only null, which is the node's type), and JSON quotes what YAML writes plain.
  *h = mix(*h, static_cast<uint64_t>(t));
  if (t == NodeType::kScalar) {
    const std::string_view s = n.scalar();
    *h = mix(mix(*h, s.size()), std::hash<std::string_view>{}(s));
    return true;
  }
  if (t == NodeType::kSequence) {
    *h = mix(*h, n.size());
    for (size_t i = 0; i < n.size(); ++i) {
      if (!fingerprint_into(n.at(i), {}, budget, h)) return false;
    }
    return true;
  }
  if (t == NodeType::kMap) {
    size_t kept = 0;
    for (size_t i = 0; i < n.size(); ++i) {
      const Node k = n.key(i);
      if (!skip.empty() && k.is_scalar() &&
          std::find(skip.begin(), skip.end(), k.scalar()) != skip.end()) {
        continue;
      }
      ++kept;
      if (!fingerprint_into(k, {}, budget, h) || !fingerprint_into(n.value(i), {}, budget, h)) {
        return false;
      }
    }
    *h = mix(*h, kept);
  }
  return true;
}

}  // namespace

uint64_t fingerprint(const Node& n, std::span<const std::string_view> skip_keys, size_t max_nodes) {
  uint64_t h = 0x5155494345ULL;
  if (!fingerprint_into(n, skip_keys, &max_nodes, &h)) return 0;
  return h == 0 ? 1 : h;
}

struct DocumentWriter::Copied {
  // One Copier per source document, so a node shared by aliases is copied once.
  std::unordered_map<const DocumentData*, std::unique_ptr<Copier>> by_doc;
  std::vector<std::shared_ptr<DocumentData>> sources;  // alive while their copiers are
};

DocumentWriter::DocumentWriter()
    : doc_(std::make_shared<DocumentData>()), copied_(std::make_unique<Copied>()) {}

DocumentWriter::~DocumentWriter() = default;

uint32_t DocumentWriter::scalar(NodeType type, std::string_view text, bool quoted, Mark mark) {
  return doc_->add_scalar(type, type == NodeType::kScalar ? text : "", quoted, mark);
}

uint32_t DocumentWriter::copy(const Node& n) {
  if (!n.doc_) return scalar(NodeType::kNull, "", false, {});
  std::unique_ptr<Copier>& c = copied_->by_doc[n.doc_.get()];
  if (!c) {
    c = std::make_unique<Copier>(*n.doc_, *doc_);
    copied_->sources.push_back(n.doc_);
  }
  return c->copy(n.index_);
}

uint32_t DocumentWriter::list(Mark mark, std::span<const uint32_t> items) {
  const uint32_t out = doc_->add(NodeType::kSequence, mark);
  doc_->nodes[out].first = static_cast<uint32_t>(doc_->kids.size());
  doc_->nodes[out].count = static_cast<uint32_t>(items.size());
  doc_->kids.insert(doc_->kids.end(), items.begin(), items.end());
  return out;
}

uint32_t DocumentWriter::map(Mark mark, std::span<const uint32_t> keys_and_values) {
  const uint32_t out = doc_->add(NodeType::kMap, mark);
  doc_->nodes[out].first = static_cast<uint32_t>(doc_->kids.size());
  doc_->nodes[out].count = static_cast<uint32_t>(keys_and_values.size() / 2);
  doc_->kids.insert(doc_->kids.end(), keys_and_values.begin(), keys_and_values.end());
  return out;
}

Node DocumentWriter::finish(uint32_t root) {
  copied_->by_doc.clear();
  copied_->sources.clear();
  return {std::move(doc_), root};
}

// Builds a DocumentData from libyaml's events.
class DocumentBuilder {
 public:
  explicit DocumentBuilder(uint16_t source) : source_(source) {}

  ParseResult run(std::string_view text) {
    ParseResult result;
    yaml_parser_t parser;
    if (yaml_parser_initialize(&parser) == 0) {
      result.error = "invalid YAML: out of memory";
      return result;
    }
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    doc_ = std::make_shared<DocumentData>();
    doc_->text.reserve(text.size());
    bool done = false;
    int documents = 0;
    while (!done && result.error.empty()) {
      yaml_event_t ev;
      if (yaml_parser_parse(&parser, &ev) == 0) {
        syntax_error(parser, text, result);
        break;
      }
      const Mark at = to_mark(ev.start_mark, source_);
      switch (ev.type) {
        case YAML_STREAM_END_EVENT:
          done = true;
          break;
        case YAML_DOCUMENT_START_EVENT:
          if (++documents > 1) {
            fail(result, at, "only one YAML document is allowed per config file");
          }
          break;
        case YAML_SCALAR_EVENT: {
          const auto& s = ev.data.scalar;
          if (!check_tag(s.tag, at, result)) break;
          const std::string_view v(reinterpret_cast<const char*>(s.value), s.length);
          const bool plain = s.style == YAML_PLAIN_SCALAR_STYLE;
          const NodeType t = plain && is_plain_null(v) ? NodeType::kNull : NodeType::kScalar;
          const uint32_t i = doc_->add_scalar(t, t == NodeType::kNull ? "" : v, !plain, at);
          if (s.anchor != nullptr) anchors_[reinterpret_cast<const char*>(s.anchor)] = i;
          complete(i, result);
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
          if (check_tag(ev.data.sequence_start.tag, at, result)) {
            open(NodeType::kSequence, at, ev.data.sequence_start.anchor, result);
          }
          break;
        case YAML_MAPPING_START_EVENT:
          if (check_tag(ev.data.mapping_start.tag, at, result)) {
            open(NodeType::kMap, at, ev.data.mapping_start.anchor, result);
          }
          break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          close(result);
          break;
        case YAML_ALIAS_EVENT: {
          const std::string name = reinterpret_cast<const char*>(ev.data.alias.anchor);
          auto a = anchors_.find(name);
          if (a == anchors_.end()) {
            fail(result, at,
                 "invalid YAML: the referenced anchor " + quote(name) +
                     " is not defined (an alias follows its anchor's whole node)");
          } else {
            complete(a->second, result);
          }
          break;
        }
        default:
          break;
      }
      yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (result.error.empty() && have_root_) result.root = Node(doc_, root_);
    return result;
  }

 private:
  struct Frame {
    uint32_t node;
    size_t pending_base;
    std::string anchor;
  };

  static void fail(ParseResult& r, Mark at, std::string msg) {
    if (!r.error.empty()) return;
    r.error = std::move(msg);
    r.error_mark = at;
  }

  void syntax_error(const yaml_parser_t& p, std::string_view text, ParseResult& r) const {
    std::string msg = "invalid YAML: ";
    msg += p.problem != nullptr ? p.problem : "syntax error";
    Mark at = to_mark(p.problem_mark, source_);
    if (p.context != nullptr) {
      const Mark from = to_mark(p.context_mark, source_);
      msg += " (";
      msg += p.context;
      msg += " started at line " + std::to_string(from.line) + ")";
    }
    if (p.error == YAML_READER_ERROR) {
      // The reader (bad UTF-8, a control character) reports a byte offset only.
      const std::string_view before = text.substr(0, std::min(p.problem_offset, text.size()));
      const size_t nl = before.rfind('\n');
      at.line = static_cast<int>(std::count(before.begin(), before.end(), '\n')) + 1;
      at.col =
          static_cast<int>(nl == std::string_view::npos ? before.size() : before.size() - nl - 1) +
          1;
    }
    fail(r, at, std::move(msg));
  }

  static bool check_tag(const yaml_char_t* tag, Mark at, ParseResult& r) {
    if (tag == nullptr) return true;
    std::string shown = reinterpret_cast<const char*>(tag);
    constexpr std::string_view kCore = "tag:yaml.org,2002:";
    if (shown.starts_with(kCore)) shown = "!!" + shown.substr(kCore.size());
    fail(r, at, "YAML tag " + quote(shown) + " is not supported (write the value itself)");
    return false;
  }

  void open(NodeType type, Mark at, const yaml_char_t* anchor, ParseResult& r) {
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) {
      fail(r, at,
           "invalid YAML: nested too deeply (lists and maps nest at most " +
               std::to_string(kMaxDepth) + " levels)");
      return;
    }
    const uint32_t i = doc_->add(type, at);
    stack_.push_back(
        Frame{i, pending_.size(), anchor != nullptr ? reinterpret_cast<const char*>(anchor) : ""});
  }

  void close(ParseResult& r) {
    if (stack_.empty()) return;  // libyaml pairs them; be safe
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    Entry& e = doc_->nodes[f.node];
    const size_t n = pending_.size() - f.pending_base;
    e.first = static_cast<uint32_t>(doc_->kids.size());
    e.count = static_cast<uint32_t>(e.type == NodeType::kMap ? n / 2 : n);
    doc_->kids.insert(doc_->kids.end(), pending_.begin() + static_cast<ptrdiff_t>(f.pending_base),
                      pending_.end());
    pending_.resize(f.pending_base);
    if (!f.anchor.empty()) anchors_[f.anchor] = f.node;
    complete(f.node, r);
  }

  void complete(uint32_t i, ParseResult& r) {
    if (!stack_.empty()) {
      pending_.push_back(i);
      return;
    }
    if (have_root_) {
      fail(r,
           doc_->nodes[i].line > 0 ? Mark{static_cast<int>(doc_->nodes[i].line), 1, source_}
                                   : Mark{0, 0, source_},
           "only one YAML document is allowed per config file");
      return;
    }
    root_ = i;
    have_root_ = true;
  }

  uint16_t source_ = 0;
  std::shared_ptr<DocumentData> doc_;
  std::vector<Frame> stack_;
  std::vector<uint32_t> pending_;
  std::unordered_map<std::string, uint32_t> anchors_;
  uint32_t root_ = 0;
  bool have_root_ = false;
};

ParseResult parse_document(std::string_view text, uint16_t source) {
  ParseResult r = DocumentBuilder(source).run(text);
  if (!r.error.empty()) r.root = Node();
  return r;
}

}  // namespace sluice::config
