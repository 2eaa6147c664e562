// A header field as two views into the buffer it was parsed from (zero-copy), and the small
// case-insensitive helpers every HTTP component needs.
// Example: for (const Header& h : head.headers) if (iequals(h.name, "host")) ...
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace sluice::http {

struct Header {
  std::string_view name;
  std::string_view value;  // leading/trailing whitespace already trimmed
};

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// First header with this name (case-insensitive), or nullptr.
inline const Header* find_header(std::span<const Header> headers, std::string_view name) {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return &h;
  }
  return nullptr;
}

}  // namespace sluice::http
