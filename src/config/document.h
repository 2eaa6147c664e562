// The config's YAML document: a compact, read-only tree built from libyaml's event parser.
//
// yaml-cpp's tree cost about 6 KB and 44 µs per route of a 100,000-route file (a heap node, a
// shared memory holder and a std::string per scalar); here a document is three flat arrays, a
// node is 16 bytes, and every scalar's text sits in one buffer. A Node is a handle (the document
// and an index), cheap to copy; the document lives while a handle to it does. A FilterSpec keeps
// only its own subtree (Node::detach), so a loaded config does not hold the whole file.
//
// What the loader needs from YAML and nothing more: maps (duplicate keys kept, in order, so the
// reader can report them), lists, scalars with their text, null (empty, `~`, `null` unquoted),
// aliases resolved to the anchored node (a shared subtree, never copied: an alias bomb stays as
// small as its text), each node's line and column. Tags and a second document are refused, and
// so is nesting deeper than kMaxDepth.
// Example:
//   ParseResult p = parse_document(text);
//   if (!p.error.empty()) ... p.error_mark ...
//   for (size_t i = 0; i < p.root.size(); ++i) use(p.root.key(i).scalar(), p.root.value(i));
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace sluice::config {

// Position of a YAML node in its file, 1-based (0 when unknown). `source` says which file when a
// config is made of several (config::Config::source_files: the --config files and what they
// include, in the order they were read); 0 for the first (or only) one.
struct Mark {
  int line = 0;
  int col = 0;
  uint16_t source = 0;
};

enum class NodeType : uint8_t { kUndefined, kNull, kScalar, kSequence, kMap };

struct DocumentData;
class DocumentWriter;

// Identifies a node (its document and place) for the walks that must visit a shared subtree
// once: equal ids are the same node.
struct NodeId {
  const void* doc = nullptr;
  uint32_t index = 0;
  bool operator==(const NodeId&) const = default;
};

class Node {
 public:
  Node() = default;  // undefined: "nothing"
  // A scalar of its own (a key read as a value, a test's literal).
  static Node scalar_node(std::string_view text, Mark mark = {});

  NodeType type() const;
  bool is_defined() const { return type() != NodeType::kUndefined; }
  bool is_null() const { return type() == NodeType::kNull; }
  bool is_scalar() const { return type() == NodeType::kScalar; }
  bool is_sequence() const { return type() == NodeType::kSequence; }
  bool is_map() const { return type() == NodeType::kMap; }

  // A scalar's text ("" for any other node); valid while a handle to the document lives.
  std::string_view scalar() const;
  // Line and column (1-based) where the node starts; {0, 0} for an undefined node.
  Mark mark() const;
  // Whether a scalar was written in quotes ('on' and on are different YAML).
  bool quoted() const;

  // Children: a list's elements, a map's entries.
  size_t size() const;
  Node at(size_t i) const;     // list element i
  Node key(size_t i) const;    // map entry i's key
  Node value(size_t i) const;  // map entry i's value

  // The same map (in a document of its own) without the entries whose scalar key is one of
  // `keys`; any other node as it is.
  Node without_keys(std::span<const std::string_view> keys) const;

  // This subtree in a document of its own, so the rest of the file can be freed. Shared
  // subtrees (aliases) stay shared.
  Node detach() const;

  NodeId id() const { return {doc_.get(), index_}; }

  // False when no scalar of this node's document (keys included, this node's subtree or not)
  // contains `needle`: a quick answer for a walk that looks for it (true may be a false alarm).
  bool document_may_contain(std::string_view needle) const;

 private:
  friend class DocumentBuilder;
  friend class DocumentWriter;
  Node(std::shared_ptr<DocumentData> doc, uint32_t index) : doc_(std::move(doc)), index_(index) {}
  std::shared_ptr<DocumentData> doc_;
  uint32_t index_ = 0;
};

// Lists and maps nest at most this deep (deeper is refused, never a stack overflow).
inline constexpr int kMaxDepth = 500;

struct ParseResult {
  Node root;          // undefined for an empty stream (nothing but comments)
  std::string error;  // "" when the text is one well-formed document
  Mark error_mark;
};

// A 64-bit digest of a subtree's content (types, keys, scalars; not the marks nor the quotes),
// the entries of a map whose scalar key is one of `skip_keys` left out: equal configs give equal
// fingerprints wherever they are written. 0 when the walk would visit more than `max_nodes`
// nodes (a tree of aliases over aliases): "no fingerprint", never equal to anything.
// Example: fingerprint(route) == previous ? reuse what was compiled : compile.
uint64_t fingerprint(const Node& n, std::span<const std::string_view> skip_keys = {},
                     size_t max_nodes = 100000);
// One more value into a fingerprint (what fingerprint() combines its parts with).
uint64_t fingerprint_mix(uint64_t h, uint64_t v);

// Parses one YAML document. A syntax error, a tag, an undefined alias, a second document or
// too deep a nesting is an error with its position; the messages start with what is wrong
// ("invalid YAML: ...", "YAML tag '!x' is not supported ..."). Every mark (the error's too)
// gets `source`.
ParseResult parse_document(std::string_view text, uint16_t source = 0);

// Writes a new document out of new scalars and parts of other documents: how several files
// become one tree (config/sources.h) and how a substituted value replaces a scalar's text.
// Each call returns the new node's number, which containers then take as children.
// Example:
//   DocumentWriter w;
//   const uint32_t k = w.scalar(NodeType::kScalar, "workers", false, {3, 1, 1});
//   const uint32_t v = w.copy(other.value(0));  // the node and its subtree
//   Node root = w.finish(w.map(other.mark(), std::vector<uint32_t>{k, v}));
class DocumentWriter {
 public:
  DocumentWriter();
  ~DocumentWriter();
  DocumentWriter(const DocumentWriter&) = delete;
  DocumentWriter& operator=(const DocumentWriter&) = delete;

  // A scalar or null node.
  uint32_t scalar(NodeType type, std::string_view text, bool quoted, Mark mark);
  // n and its subtree, each node of a source document copied once (aliases stay shared).
  uint32_t copy(const Node& n);
  uint32_t list(Mark mark, std::span<const uint32_t> items);
  uint32_t map(Mark mark, std::span<const uint32_t> keys_and_values);  // k0 v0 k1 v1 ...
  // The document, with `root` as its root; the writer is spent.
  Node finish(uint32_t root);

 private:
  std::shared_ptr<DocumentData> doc_;
  struct Copied;
  std::unique_ptr<Copied> copied_;
};

}  // namespace sluice::config
