#include "auth/security_headers.h"

namespace sluice::auth {

namespace {

constexpr uint64_t kPreloadMinMaxAge = 31536000;  // one year, hstspreload.org's minimum

// RFC 9110 field-value: visible ASCII, obs-text and inner spaces/tabs; no CTLs, no DEL, and no
// whitespace at either end (it would be stripped by recipients and hints at a config mistake).
bool valid_field_value(std::string_view v) {
  if (v.empty() || v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t') {
    return false;
  }
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
  }
  return true;
}

bool valid_referrer_policy(std::string_view v) {
  static constexpr std::string_view kTokens[] = {
      "no-referrer", "no-referrer-when-downgrade",      "origin",     "origin-when-cross-origin",
      "same-origin", "strict-origin-when-cross-origin", "unsafe-url", "strict-origin"};
  // A comma-separated list is allowed so that a policy can name a fallback for old browsers.
  size_t i = 0;
  while (i <= v.size()) {
    size_t comma = v.find(',', i);
    if (comma == std::string_view::npos) comma = v.size();
    std::string_view t = v.substr(i, comma - i);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    bool known = false;
    for (std::string_view k : kTokens) known = known || t == k;
    if (!known) return false;
    i = comma + 1;
  }
  return true;
}

}  // namespace

std::optional<SecurityHeaders> SecurityHeaders::compile(const SecurityHeadersConfig& config,
                                                        std::string* error) {
  auto fail = [&](std::string why) -> std::optional<SecurityHeaders> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  SecurityHeaders sh;
  auto add = [&](std::string_view lower_name, std::string_view name, std::string_view value) {
    sh.block_.append(name);
    sh.block_.append(": ");
    sh.block_.append(value);
    sh.block_.append("\r\n");
    sh.names_.emplace_back(lower_name);
  };
  if (config.hsts) {
    const auto& h = *config.hsts;
    if (h.preload && (!h.include_subdomains || h.max_age_s < kPreloadMinMaxAge)) {
      return fail(
          "security_headers: hsts preload needs include_subdomains and max_age >= 31536000");
    }
    std::string v = "max-age=" + std::to_string(h.max_age_s);
    if (h.include_subdomains) v += "; includeSubDomains";
    if (h.preload) v += "; preload";
    add("strict-transport-security", "Strict-Transport-Security", v);
  }
  if (config.content_type_nosniff)
    add("x-content-type-options", "X-Content-Type-Options", "nosniff");
  if (config.frame_options == FrameOptions::kDeny)
    add("x-frame-options", "X-Frame-Options", "DENY");
  if (config.frame_options == FrameOptions::kSameOrigin) {
    add("x-frame-options", "X-Frame-Options", "SAMEORIGIN");
  }
  if (!config.referrer_policy.empty()) {
    if (!valid_referrer_policy(config.referrer_policy)) {
      return fail("security_headers: unknown referrer_policy \"" + config.referrer_policy + "\"");
    }
    add("referrer-policy", "Referrer-Policy", config.referrer_policy);
  }
  if (!config.content_security_policy.empty()) {
    if (!valid_field_value(config.content_security_policy)) {
      return fail("security_headers: content_security_policy is not a valid header value");
    }
    add("content-security-policy", "Content-Security-Policy", config.content_security_policy);
  }
  if (!config.permissions_policy.empty()) {
    if (!valid_field_value(config.permissions_policy)) {
      return fail("security_headers: permissions_policy is not a valid header value");
    }
    add("permissions-policy", "Permissions-Policy", config.permissions_policy);
  }
  if (config.server == ServerHeader::kHide) {
    sh.names_.emplace_back("server");  // owned but not written: the upstream's copy is dropped
  } else if (config.server == ServerHeader::kSet) {
    if (!valid_field_value(config.server_value)) {
      return fail("security_headers: server value is not a valid header value");
    }
    add("server", "Server", config.server_value);
  }
  return sh;
}

bool SecurityHeaders::sets(std::string_view name) const {
  for (const std::string& n : names_) {
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < n.size() && eq; ++i) {
      char c = name[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      eq = c == n[i];
    }
    if (eq) return true;
  }
  return false;
}

}  // namespace sluice::auth
