#include "http/tokens.h"

namespace sluice::http {

bool connection_has_token(std::span<const Header> headers, std::string_view token) {
  bool found = false;
  for (const Header& h : headers) {
    if (!iequals(h.name, "connection")) continue;
    for_each_token(h.value, [&](std::string_view t) { found = found || iequals(t, token); });
    if (found) return true;
  }
  return false;
}

}  // namespace sluice::http
