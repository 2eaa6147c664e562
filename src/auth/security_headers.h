// Response security headers (HSTS, nosniff, frame options, referrer policy, CSP, permissions
// policy, Server) compiled once per route into one pre-rendered block that the gateway appends to
// every response with a single append, plus the names it sets so that the gateway can drop an
// upstream's own copies first (ours override; two HSTS or CSP headers would be combined or
// ambiguous in browsers).
// Example:
//   SecurityHeadersConfig c;
//   c.hsts = SecurityHeadersConfig::Hsts{31536000, true, false};
//   c.frame_options = FrameOptions::kDeny;
//   c.server = ServerHeader::kHide;
//   std::string err;
//   std::optional<SecurityHeaders> sh = SecurityHeaders::compile(c, &err);  // at config load
//   for (header : upstream_headers) if (sh->sets(header.name)) drop(header);
//   out.append(sh->block());
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::auth {

enum class FrameOptions { kUnset, kDeny, kSameOrigin };
enum class ServerHeader { kPassThrough, kHide, kSet };

struct SecurityHeadersConfig {
  struct Hsts {
    uint64_t max_age_s = 31536000;
    bool include_subdomains = false;
    bool preload = false;  // needs max_age_s >= 1 year and include_subdomains (hstspreload.org)
  };
  std::optional<Hsts> hsts;
  bool content_type_nosniff = false;  // X-Content-Type-Options: nosniff
  FrameOptions frame_options = FrameOptions::kUnset;
  std::string referrer_policy;          // comma-separated Referrer-Policy tokens; empty = unset
  std::string content_security_policy;  // passed through after field-value validation
  std::string permissions_policy;       // likewise
  ServerHeader server = ServerHeader::kPassThrough;
  std::string server_value;  // for kSet
};

class SecurityHeaders {
 public:
  // nullopt with *error when a value is not a valid field value (control characters, leading or
  // trailing whitespace, empty where a value is required), a referrer policy is unknown, or
  // preload is asked without its prerequisites.
  static std::optional<SecurityHeaders> compile(const SecurityHeadersConfig& config,
                                                std::string* error);

  // "Name: value\r\n" lines, in a fixed order.
  const std::string& block() const { return block_; }
  // Lower-case names of the headers this policy owns, including "server" when it is hidden.
  const std::vector<std::string>& names() const { return names_; }
  // Case-insensitive membership in names().
  bool sets(std::string_view name) const;

 private:
  std::string block_;
  std::vector<std::string> names_;
};

}  // namespace sluice::auth
