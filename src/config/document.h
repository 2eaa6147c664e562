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

// Position of a YAML node in its file, 1-based (0 when unknown).
struct Mark {
  int line = 0;
  int col = 0;
};

enum class NodeType : uint8_t { kUndefined, kNull, kScalar, kSequence, kMap };

struct DocumentData;

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

 private:
  friend class DocumentBuilder;
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

// Parses one YAML document. A syntax error, a tag, an undefined alias, a second document or
// too deep a nesting is an error with its position; the messages start with what is wrong
// ("invalid YAML: ...", "YAML tag '!x' is not supported ...").
ParseResult parse_document(std::string_view text);

}  // namespace sluice::config
