// The JSON document type of the transform library and its one parser: ordered (a body's member
// order survives an edit, and XML element order survives a conversion), depth-limited (hostile
// input cannot exhaust the stack of the recursive code that walks a document) and
// exception-free. A serialiser with one UTF-8 policy goes with it.
// Example:
//   Json doc;  std::string err;
//   if (!parse_json(R"({"a":[1,2]})", doc, &err)) return reject(err);  // "invalid JSON at byte 3:
//   ..." std::string text = dump_json(doc);                                  // {"a":[1,2]}
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace sluice::transform {

// Ordered: members keep the order they were parsed or inserted in.
using Json = nlohmann::ordered_json;

// Containers (objects, arrays; XML elements) may nest this deep; one level more is the error
// "nesting too deep". 64 is far beyond real API bodies and keeps recursion shallow.
inline constexpr int kMaxDepth = 64;

// Parses text (RFC 8259, strict: one value, no comments, no trailing bytes, valid UTF-8) into
// out. On failure returns false and sets *error (when non-null) to
// "invalid JSON at byte N: <what>", N counting from 0. A member repeated in one object keeps
// its first position and its last value (what JavaScript's JSON.parse does). Numbers outside
// the range of a double are an error rather than becoming null.
bool parse_json(std::string_view text, Json& out, std::string* error);

// Compact JSON. Strings that are not valid UTF-8 (only possible for values put into a document
// by the caller, e.g. a per-request value copied from a Latin-1 header; parsed text is always
// valid) have each bad byte replaced with U+FFFD rather than failing the request. Throws only
// std::bad_alloc.
std::string dump_json(const Json& doc);

namespace detail {
// Appends a member (no lookup: the caller knows it is new) and returns its value. Members are
// pair<const string, Json>, which std::vector copies rather than moves when it grows (the move
// is not noexcept), so a plain emplace_back would copy every sibling's whole subtree; this
// grows by moving the values and copying only the keys.
Json& append_member(Json::object_t& object, std::string key, Json value);
}  // namespace detail

}  // namespace sluice::transform
