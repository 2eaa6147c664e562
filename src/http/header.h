// A header field as two views into the buffer it was parsed from (zero-copy), and the small
// case-insensitive helpers every HTTP component needs.
// Example: for (const Header& h : head.headers) if (iequals(h.name, "host")) ...
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

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

// A view into `raw` moved to the same offset in `to` (where a copy of raw lives); a view
// outside raw (a static "/") stays as it is. For heads that must outlive their read buffer.
inline std::string_view rebase(std::string_view v, std::string_view raw, const char* to) {
  if (v.data() < raw.data() || v.data() > raw.data() + raw.size()) return v;
  return {to + (v.data() - raw.data()), v.size()};
}

// dst (capacity kept) becomes src with every view rebased from raw to `to`.
inline void copy_headers(std::span<const Header> src, std::string_view raw, const char* to,
                         std::vector<Header>& dst) {
  dst.clear();
  for (const Header& h : src) dst.push_back({rebase(h.name, raw, to), rebase(h.value, raw, to)});
}

// The raw value of query parameter `name` in a query ("a=1&b=2", without '?'), or "".
inline std::string_view query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
  }
  return {};
}

// The value of cookie `name` in the Cookie headers (quotes removed), or "".
inline std::string_view cookie_value(std::span<const Header> headers, std::string_view name) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  for (const Header& h : headers) {
    if (!iequals(h.name, "cookie")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const size_t semi = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const size_t eq = pair.find('=');
      if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
        std::string_view v = trim(pair.substr(eq + 1));
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        return v;
      }
    }
  }
  return {};
}

// First header with this name (case-insensitive), or nullptr.
inline const Header* find_header(std::span<const Header> headers, std::string_view name) {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return &h;
  }
  return nullptr;
}

}  // namespace sluice::http
