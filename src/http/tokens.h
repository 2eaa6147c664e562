// Helpers for comma-separated list header values (Connection, Transfer-Encoding, ...).
// Example: for_each_token(h.value, [&](std::string_view t) { if (iequals(t, "close")) ...; });
#pragma once

#include <span>
#include <string_view>

#include "http/header.h"

namespace sluice::http {

// Calls f(token) for each comma-separated token of a list header value, trimmed of OWS,
// skipping empty elements (RFC 9110 section 5.6.1).
template <class F>
void for_each_token(std::string_view list, F&& f) {
  size_t i = 0;
  const size_t n = list.size();
  while (i < n) {
    size_t comma = list.find(',', i);
    if (comma == std::string_view::npos) comma = n;
    size_t b = i;
    size_t e = comma;
    while (b < e && (list[b] == ' ' || list[b] == '\t')) ++b;
    while (e > b && (list[e - 1] == ' ' || list[e - 1] == '\t')) --e;
    if (e > b) f(list.substr(b, e - b));
    i = comma + 1;
  }
}

// True if any Connection header in `headers` lists `token` (case-insensitive).
bool connection_has_token(std::span<const Header> headers, std::string_view token);

}  // namespace sluice::http
