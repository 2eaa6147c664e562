// A compiled JSON body edit: the `request_body: { json: { remove, rename, set } }` (and
// response_body) filter config, checked once at config load and applied to each body.
// Pointers are JSON Pointers (RFC 6901). apply() runs every remove, then every rename, then
// every set, each list in its given order, so a set can fill in what a rename moved away and a
// remove never deletes a value the program itself put there.
// Example:
//   JsonEditSpec spec;
//   spec.remove = {"/password"};
//   spec.rename = {{"/name", "/full_name"}};
//   spec.set = {{.pointer = "/meta/source", .value = "gateway"},
//               {.pointer = "/meta/request_id", .per_request = true}};  // value: "${request_id}"
//   JsonEdit edit;  std::string err;
//   if (!JsonEdit::compile(spec, edit, &err)) throw ConfigError(err);  // names the bad pointer
//   ...per request, after expanding the variables of each per-request value, in order:
//   std::string values[] = {expand("${request_id}")};
//   if (!edit.apply(body, values, out, &err)) return respond(400, err);
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "transform/json_parse.h"

namespace sluice::transform {

namespace detail {
// A compiled pointer: its text (for messages) and its unescaped reference tokens.
struct JsonPointer {
  std::string text;
  std::vector<std::string> tokens;
};
}  // namespace detail

// One `set` entry. The config layer decides the value's type: a YAML scalar written as a JSON
// literal (`42`, `true`, `{"a":1}`) can be parsed with parse_json(); a plain scalar
// ("gateway") is the string Json("gateway"). A value that contains ${...} variables is
// per_request: apply() receives it already expanded, and inserts it as a JSON string.
struct JsonSet {  // NOLINT(bugprone-exception-escape): nlohmann::json may throw bad_alloc
  std::string pointer;
  Json value = nullptr;      // the value to set; unused when per_request
  bool per_request = false;  // the value is apply()'s next `values` entry, as a JSON string
};

struct JsonEditSpec {
  std::vector<std::string> remove;
  std::vector<std::pair<std::string, std::string>> rename;  // from, to
  std::vector<JsonSet> set;
};

class JsonEdit {
 public:
  // Checks every pointer (syntax only: what it points at is only known per body). On failure
  // returns false and sets *error to e.g. `remove: invalid JSON pointer "a/b": must be empty or
  // start with '/'`. The root pointer "" may be set (replaces the whole body) and be a rename
  // target, but not be removed or renamed away.
  static bool compile(const JsonEditSpec& spec, JsonEdit& out, std::string* error);

  // How many strings apply() expects in `values`: one per per_request set, in set order.
  size_t per_request_values() const { return per_request_values_; }

  // Parses body (see parse_json for the rules and the depth limit), edits it and writes it to
  // out as compact JSON. Semantics:
  //   remove  deletes the value; a missing path (also one through a scalar) is a no-op;
  //   rename  moves the value from one pointer to the other, with set's rules for the target;
  //           a missing source is a no-op;
  //   set     creates missing intermediate objects (never arrays), replaces an existing value;
  //           in an array an index must exist (it is replaced) and a last token "-" appends.
  // Returns false with a short message on malformed JSON or an impossible edit, e.g.
  // "cannot set /a/b: /a is a string", "cannot set /items/5: index 5 is past the end of
  // /items (size 2)". out is unspecified then. Never throws.
  bool apply(std::string_view body, std::span<const std::string> values, std::string& out,
             std::string* error) const;
  bool apply(std::string_view body, std::string& out, std::string* error) const {
    return apply(body, {}, out, error);
  }

 private:
  using Pointer = detail::JsonPointer;
  struct SetOp {  // NOLINT(bugprone-exception-escape): as JsonSet
    Pointer target;
    Json value;
    bool per_request = false;
  };

  std::vector<Pointer> remove_;
  std::vector<std::pair<Pointer, Pointer>> rename_;
  std::vector<SetOp> set_;
  size_t per_request_values_ = 0;
};

}  // namespace sluice::transform
