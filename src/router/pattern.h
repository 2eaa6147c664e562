// Parsing of route path patterns ("/users/{id}", "/static/{*rest}") into segments that the radix
// tree indexes; used by Router::build and check_pattern.
// Example:
//   ParsedPattern p;
//   if (std::string err = parse_pattern("/users/{id}/posts", &p); err.empty()) {
//     // p.segments: static "users", param "id", static "posts"; p.canonical == "/users/{}/posts"
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::router {

// At most this many {param}/{*catchall} captures in one pattern.
inline constexpr size_t kMaxPatternParams = 16;

struct PatternSegment {
  enum class Kind : uint8_t { kStatic, kParam, kCatchAll };
  Kind kind = Kind::kStatic;
  std::string text;  // kStatic: the segment, escapes normalised like a request path; else the name
};

struct ParsedPattern {
  std::vector<PatternSegment> segments;  // the text between the '/'s, in order
  std::vector<std::string> param_names;  // in capture order
  std::string canonical;                 // names erased: equal for equivalent patterns
};

// Returns "" and fills *out, or a message saying what is wrong with the pattern.
std::string parse_pattern(std::string_view pattern, ParsedPattern* out);

}  // namespace sluice::router
