// The shared config reader: typed values out of YAML nodes, with every problem recorded as a
// ConfigError at its file, line, column and key path (never a stop at the first one). The
// loader's top-level schema and every filter's own config parser read through it, so a filter's
// keys are checked where the filter is defined and errors look the same everywhere.
// Example:
//   Reader r("sluice.yaml");
//   if (std::optional<MapItem> m = r.map(item, {"set", "remove"})) {
//     if (const Item* s = m->get("set")) headers = r.headers(*s);
//   }
//   if (!r.errors().empty()) ...  // "sluice.yaml:12:7: routes[0].filters.x.set: ..."
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/document.h"

namespace sluice::config {

// A value in the document with where it is: the path for messages and the best known position
// (a null value such as "key:" has no mark of its own; it borrows its key's).
struct Item {
  Node node;
  std::string path;
  Mark mark;
};

// A map's children by key, in document order.
struct MapItem {
  Item self;
  std::vector<std::pair<std::string, Item>> entries;

  const Item* get(std::string_view key) const {
    for (const auto& [k, v] : entries) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

Mark mark_of(const Node& n, Mark fallback);

// Where to report a map value. An empty value ("key:") is marked where the next token starts,
// often lines below, and an alias ("admin: *a") where its anchor is, often lines above: both
// are reported at their key.
Mark value_mark(const Node& v, Mark key_mark);

std::string join(const std::string& path, std::string_view key);

std::string index(const std::string& path, size_t i);

// A user's text inside a message: quoted, shortened, control bytes escaped.
std::string quote(std::string_view s);

std::string describe(const Node& n);

std::string lower(std::string s);

std::string upper(std::string s);

size_t edit_distance(std::string_view a, std::string_view b);

bool is_name(std::string_view s);

// Header values go on the wire as they are: no CR, LF or other control bytes (tab is fine).
bool is_header_value(std::string_view s);

// "1500ms", "2s", "5m", "1h": a duration as short as it is exact, for messages.
std::string format_ms(uint64_t ms);

// A query parameter name as it appears before '=': printable, no separators.
bool is_query_name(std::string_view s);

// A path sent on the wire in a request line: starts with '/', no spaces or control bytes.
bool is_request_path(std::string_view s);

// The known word closest to `word`, if it is a plausible typo of it; "" otherwise.
template <typename Words>
std::string_view suggest(std::string_view word, const Words& known) {
  std::string_view best;
  size_t best_d = 3;
  for (std::string_view cand : known) {
    const size_t d = edit_distance(word, cand);
    if (d < best_d && d < cand.size()) {
      best_d = d;
      best = cand;
    }
  }
  return best;
}

// One entry of a map whose keys the caller checks itself (filter names, header names, JSON
// pointers, example names): the key as written, where it is, and its value.
struct MapEntry {
  std::string key;
  Mark key_mark;
  Item value;  // path: the map's path joined with the key
};

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}
  // A config of several files: a mark's `source` indexes `files` (Config::source_files).
  explicit Reader(std::vector<std::string> files)
      : file_(files.empty() ? std::string() : files.front()), files_(std::move(files)) {}

  const std::string& file() const { return file_; }
  // The file a mark is in.
  const std::string& file_of(Mark m) const {
    return m.source < files_.size() ? files_[m.source] : file_;
  }
  // An earlier position for a message about `here`: "line 3", or "base.yaml:3" in another file.
  std::string where(Mark earlier, Mark here) const {
    if (earlier.source == here.source) return "line " + std::to_string(earlier.line);
    return file_of(earlier) + ":" + std::to_string(earlier.line);
  }
  std::vector<ConfigError>& errors() { return errors_; }
  void error(Mark mark, std::string key, std::string message) {
    errors_.push_back(ConfigError{file_of(mark), mark, std::move(key), std::move(message)});
  }

  // A required key (`key`) holding a name (letters, digits, '_', '.', '-') that is unique in
  // `seen`; `what` names it in messages ("route name"). With record_invalid an invalid name is
  // recorded too, so references to it do not add "not defined".
  std::string unique_name(const MapItem& m, const char* key, std::string_view what,
                          std::map<std::string, Mark>& seen, bool record_invalid,
                          std::string_view scope = "");

  // The children of a map whose keys must be in `known`. A null value ("limits:" with nothing
  // under it) is an empty map. Unknown, duplicate and non-string keys are reported and skipped.
  std::optional<MapItem> map(const Item& it, std::initializer_list<std::string_view> known);
  std::optional<MapItem> map(const Item& it, std::span<const std::string_view> known);
  // The entries of a map with any keys; a null value is an empty map. Not a map: "expected a
  // map of <contents>, got …"; a key that is not a string: "a <key> must be a string, got …"
  // (reported, skipped).
  std::vector<MapEntry> entries(const Item& it, std::string_view contents, std::string_view key);

  const Item* require(const MapItem& m, std::string_view key);

  // The elements of a list; a null value is an empty list.
  std::optional<std::vector<Item>> list(const Item& it);

  std::optional<std::string> string(const Item& it);

  std::optional<int64_t> integer(const Item& it, int64_t lo, int64_t hi);

  // A duration in milliseconds, greater than zero unless allow_zero.
  std::optional<uint64_t> duration(const Item& it, bool allow_zero = false);

  std::optional<bool> boolean(const Item& it);

  // "50%" or "50".
  std::optional<uint32_t> percent(const Item& it, uint32_t lo, uint32_t hi);

  // A list, or a single scalar standing for a list of one ("methods: GET").
  std::vector<Item> list_or_one(const Item& it);

  std::optional<uint64_t> size(const Item& it, uint64_t lo, uint64_t hi, std::string_view range);

  // listening: a socket we bind, so the host must be an IP literal, localhost or any.
  std::optional<Address> address(const Item& it, bool listening);

  // A map of header name -> value; names lower-cased and checked as tokens.
  std::vector<std::pair<std::string, std::string>> headers(const Item& it);

  // A list of non-empty strings.
  std::optional<std::vector<std::string>> strings(const Item& it);

  // Two optional durations that are compared afterwards: each given one is read into its field;
  // false when either was given but invalid (already reported), so no comparison error follows.
  bool durations(const Item* a, uint64_t* a_ms, const Item* b, uint64_t* b_ms);

  // "0.01" or "1%".
  std::optional<double> ratio(const Item& it);

  // A small file read at load (an HMAC secret, a PEM key): reported at `at` when unreadable
  // (the config is then refused); counted in files_read() when read.
  std::optional<std::string> read_small_file(const Item& at, const std::string& path);
  // Files read so far (read_small_file, and what note_file_read() counts) and a digest of their
  // paths and bytes: the context's fingerprint includes the digest (a changed key file changes
  // it), and a route whose own filters read a file is compiled again at every reload. Code that
  // reads a file another way calls note_file_read().
  size_t files_read() const { return files_read_; }
  uint64_t files_digest() const { return files_digest_; }
  void note_file_read(std::string_view path = {}, std::string_view bytes = {});

  // A duration in whole seconds.
  std::optional<uint64_t> seconds(const Item& it, bool allow_zero);

  // A method name as in match.methods: a token, upper-cased, one the router knows.
  std::optional<std::string> route_method(const Item& e);

  // Non-empty strings, one or a list, duplicates dropped.
  std::vector<std::string> unique_strings(const Item& it);

  // True for `off` (also `false`), a section present but switched off; anything else is reported.
  bool is_off(const Item& it);

  // A word from a fixed set, e.g. a balancer name.
  template <typename Words>
  std::optional<std::string> one_of(const Item& it, const Words& known, std::string_view what) {
    std::optional<std::string> s = string(it);
    if (!s) return std::nullopt;
    if (std::find(std::begin(known), std::end(known), *s) != std::end(known)) return s;
    std::string msg = "unknown " + std::string(what) + " " + quote(*s);
    const std::string_view best = suggest(*s, known);
    if (!best.empty()) {
      msg += " (did you mean '" + std::string(best) + "'?)";
    } else {
      msg += " (expected ";
      for (size_t i = 0; i < std::size(known); ++i) {
        if (i > 0) msg += i + 1 == std::size(known) ? " or " : ", ";
        msg += known[i];
      }
      msg += ')';
    }
    error(it.mark, it.path, std::move(msg));
    return std::nullopt;
  }

 protected:
  std::string file_;
  std::vector<std::string> files_;  // empty: every mark is in file_
  std::vector<ConfigError> errors_;
  size_t files_read_ = 0;
  uint64_t files_digest_ = 0;
};

}  // namespace sluice::config
