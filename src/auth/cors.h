// Cross-Origin Resource Sharing (Fetch standard, "CORS protocol"): a per-route policy compiled
// once from config, answering preflights and decorating actual responses.
//
// Origins:
//   - "*"                          any origin (Access-Control-Allow-Origin: *); not allowed with
//                                  credentials, which the Fetch standard forbids;
//   - "https://app.example.com"    exact; scheme, host and port must all match (a missing port
//                                  means the scheme's default, as browsers serialise it);
//   - "https://*.example.com"      the '*' stands for one or more whole DNS labels: it matches
//                                  https://a.example.com and https://a.b.example.com, but not
//                                  https://example.com, https://evil-example.com,
//                                  http://a.example.com or https://a.example.com:8443. Labels are
//                                  letters, digits and '-'. A port may follow the suffix
//                                  ("https://*.example.com:8443"). '*' only as the first label.
// Matching is ASCII case-insensitive. "null" matches only an exact "null" entry (or "*").
// Example:
//   CorsConfig c;
//   c.origins = {"https://*.example.com"};
//   c.methods = {"GET", "POST"};
//   c.allowed_headers = {"content-type", "authorization"};
//   std::string err;
//   std::optional<CorsPolicy> p = CorsPolicy::compile(c, &err);  // at config load
//   if (CorsPolicy::is_preflight(method, has_origin, has_acrm)) {
//     p->preflight_response(origin, acrm, acrh, extra_headers, &status);  // 204 or 403
//   } else {
//     p->actual_response_headers(origin, extra_headers);  // appended to the upstream response
//   }
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::auth {

struct CorsConfig {
  std::vector<std::string> origins;  // exact, "*" or "scheme://*.suffix[:port]"
  std::vector<std::string> methods;  // case-sensitive tokens or "*"; empty = GET, HEAD, POST
  std::vector<std::string> allowed_headers;  // request headers a preflight may ask for, or "*"
  std::vector<std::string> exposed_headers;  // response headers scripts may read, or "*"
  bool credentials = false;                  // cookies / Authorization on cross-origin requests
  uint64_t max_age_s = 0;                    // preflight cache time; 0 = header not sent
};

class CorsPolicy {
 public:
  // Lower-cases and validates; nullopt with *error on an invalid origin pattern, method or header
  // name, or "*" together with credentials (browsers would ignore such answers).
  static std::optional<CorsPolicy> compile(const CorsConfig& config, std::string* error);

  // A preflight is OPTIONS with Origin and Access-Control-Request-Method; a plain OPTIONS
  // request is routed like any other.
  static bool is_preflight(std::string_view method, bool has_origin, bool has_request_method) {
    return method == "OPTIONS" && has_origin && has_request_method;
  }

  bool origin_allowed(std::string_view origin) const;

  // Answers a preflight: *status 204 and CORS headers appended to out_headers, or 403 with no
  // headers when the origin, method or one of the requested headers (the comma-separated
  // Access-Control-Request-Headers value) is not allowed. Lines are "Name: value\r\n".
  void preflight_response(std::string_view origin, std::string_view requested_method,
                          std::string_view requested_headers, std::string& out_headers,
                          int* status) const;

  // Headers for the response to an actual (non-preflight) cross-origin request; nothing when
  // the origin is not allowed (the browser then hides the response from the page).
  void actual_response_headers(std::string_view origin, std::string& out) const;

 private:
  struct Pattern {
    std::string scheme_prefix;  // "https://"
    std::string suffix;         // ".example.com" or ".example.com:8443"
  };
  bool method_allowed(std::string_view method) const;
  bool header_allowed(std::string_view name) const;
  void append_allow_origin(std::string_view origin, std::string& out) const;

  bool any_origin_ = false;
  bool any_method_ = false;
  bool any_header_ = false;
  bool credentials_ = false;
  std::vector<std::string> exact_origins_;  // lower-case
  std::vector<Pattern> patterns_;
  std::vector<std::string> methods_;
  std::vector<std::string> allowed_headers_;  // lower-case
  std::string methods_line_;                  // "Access-Control-Allow-Methods: GET, POST\r\n"
  std::string tail_lines_;                    // Max-Age / Credentials / Vary, pre-rendered
  std::string expose_line_;                   // "Access-Control-Expose-Headers: ...\r\n" or ""
};

}  // namespace sluice::auth
