#include "net/http_url.h"

#include <charconv>

namespace sluice::net {
namespace {

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

}  // namespace

bool parse_http_url(std::string_view url, std::string_view what, uint16_t default_port,
                    HttpUrl* out, std::string* error, bool allow_https) {
  const std::string the = "the " + std::string(what);
  auto fail = [&](std::string why) {
    if (error != nullptr) *error = std::move(why);
    return false;
  };
  const bool https = iequals_prefix(url, "https://");
  if (https && !allow_https) {
    return fail("https is not supported for " + the + " yet; use http://");
  }
  if (!https && !iequals_prefix(url, "http://")) {
    return fail(
        the + (allow_https ? " must start with http:// or https://" : " must start with http://"));
  }
  if (https) default_port = 443;
  std::string_view rest = url.substr(https ? 8 : 7);
  for (char c : rest) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return fail(the + " contains a space or control byte");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return fail(the + " must not contain user info");
  }
  if (authority.find_first_of("?#") != std::string_view::npos ||
      path.find('#') != std::string_view::npos) {
    return fail(the + " must not contain a fragment, or a query without a path");
  }
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated [ in " + the + " host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("unexpected text after ] in " + the);
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    const size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
    if (host.find(':') != std::string_view::npos) {
      return fail("an IPv6 host in " + the + " must be in brackets, e.g. http://[::1]:8080/");
    }
  }
  if (host.empty()) return fail(the + " has no host");
  uint16_t port = default_port;
  if (has_port) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        v == 0 || v > 65535) {
      return fail("bad port in " + the + ": '" + std::string(port_text) + "'");
    }
    port = static_cast<uint16_t>(v);
  }
  out->host = std::string(host);
  out->port = port;
  out->path = std::string(path);
  out->https = https;
  return true;
}

}  // namespace sluice::net
