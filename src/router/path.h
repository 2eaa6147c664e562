// Request-path normalisation, so that routes match what a request means rather than how it was
// spelled ("/a/./b", "/%61/b" and "/a/b" all route alike).
// Example:
//   std::string scratch;
//   bool ok = false;
//   std::string_view p = normalize_path("/a/%7Euser/../b", scratch, &ok);  // "/a/b", ok == true
#pragma once

#include <string>
#include <string_view>

namespace sluice::router {

// Normalises a request path (the part before '?') for matching: percent-decodes escapes of
// unreserved characters (ALPHA DIGIT - . _ ~), upper-cases the hex of the other escapes, and
// removes dot segments ("." and "..", also when they were written percent-encoded) per RFC
// 3986 5.2.4
// (".." never climbs above "/").
// Returns a view of `path` itself when nothing changes (fast path, no copy), else a view of
// `scratch`. Sets *ok = false (and returns {}) when the path is invalid: not starting with '/', or
// a malformed escape. Sets *ok = true otherwise. `ok` may be null.
std::string_view normalize_path(std::string_view path, std::string& scratch, bool* ok);

// Appends one path segment (text without '/') to *out with its escapes normalised exactly as
// normalize_path does; false on a malformed escape. Used to normalise the static text of patterns.
bool append_normalized_segment(std::string_view segment, std::string* out);

}  // namespace sluice::router
