// Scalar syntaxes of the config file (addresses, host names, HTTP tokens) with the reason a value
// is rejected, so the loader can say why. parse_address() in config.h is the short form.
// Example: std::string why; if (!parse_address_why("[::1]:80", &why)) report(why);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/config.h"

namespace sluice::config {

// As parse_address(); on failure *why (if not null) says what is wrong, e.g. "missing port".
// "*" and "" both mean "any address" and are stored as host "". Host names are lower-cased.
std::optional<Address> parse_address_why(const std::string& text, std::string* why);

// True for an IPv4 or IPv6 literal (without brackets).
bool is_ip_literal(std::string_view host);

// DNS-style host name: dot-separated labels of [A-Za-z0-9_-], no label starting or ending with
// '-', 1..63 bytes per label, at most 253 in all. IPv4 literals pass too.
bool is_host_name(std::string_view host);

// RFC 9110 token (method names, header field names).
bool is_token(std::string_view s);

// "304" or "200-299": an inclusive range of HTTP status codes as {lo, hi}, each of 1 to 3
// digits. Only the syntax is checked; the caller checks the bounds and that lo <= hi.
std::optional<std::pair<int, int>> parse_status_range(std::string_view text);

// "50%" or "50": a whole percentage (at most 9 digits). The caller checks the range.
std::optional<uint64_t> parse_percent(std::string_view text);

// "0.25", "1", "0" or "2.5%": a ratio from 0 to 1 (a percentage is divided by 100), with at
// most 9 decimals.
std::optional<double> parse_ratio(std::string_view text);

}  // namespace sluice::config
