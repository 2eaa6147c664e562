// Parsing of the URLs the control thread fetches from or posts to (a JWKS endpoint, an OTLP
// collector): scheme, host (a name, an IPv4 literal or a bracketed IPv6 literal), port and path.
// https is accepted where the caller allows it (default port 443), else refused with a message
// saying so; user info and fragments are refused.
// Example:
//   HttpUrl u;  std::string err;
//   if (!parse_http_url("http://[::1]:4318/v1/traces", "OTLP endpoint", 4318, &u, &err)) ...
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::net {

struct HttpUrl {
  std::string host;  // without brackets
  uint16_t port = 80;
  std::string path;  // "" when the URL has none (the caller picks its default)
  bool https = false;
};

// `what` names the URL in messages ("JWKS URL"); `default_port` applies to http:// URLs without
// a port (443 to https:// ones).
bool parse_http_url(std::string_view url, std::string_view what, uint16_t default_port,
                    HttpUrl* out, std::string* error, bool allow_https = false);

}  // namespace sluice::net
