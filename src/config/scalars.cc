#include "config/scalars.h"

#include <arpa/inet.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "config/config.h"

namespace sluice::config {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// Decimal digits only (no sign, no spaces); nullopt on empty input or overflow.
std::optional<uint64_t> parse_uint(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// Splits "123unit" into the number and the unit, multiplies by the unit's factor.
std::optional<uint64_t> number_with_unit(std::string_view text,
                                         std::optional<uint64_t> (*factor)(std::string_view)) {
  size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  const std::optional<uint64_t> n = parse_uint(text.substr(0, i));
  if (!n) return std::nullopt;
  const std::optional<uint64_t> f = factor(text.substr(i));
  if (!f) return std::nullopt;
  if (*f != 0 && *n > std::numeric_limits<uint64_t>::max() / *f) return std::nullopt;
  return *n * *f;
}

std::optional<uint64_t> duration_factor(std::string_view unit) {
  if (unit.empty() || unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60 * 1000;
  if (unit == "h") return 60 * 60 * 1000;
  if (unit == "d") return 24 * 60 * 60 * 1000;
  return std::nullopt;
}

std::optional<uint64_t> size_factor(std::string_view unit) {
  if (unit.empty()) return 1;
  if (unit == "KiB") return uint64_t{1} << 10;
  if (unit == "MiB") return uint64_t{1} << 20;
  if (unit == "GiB") return uint64_t{1} << 30;
  if (unit == "KB") return 1000;
  if (unit == "MB") return 1000 * 1000;
  if (unit == "GB") return 1000 * 1000 * 1000;
  return std::nullopt;
}

bool parse_port(std::string_view s, uint16_t* port, std::string* why) {
  if (s.empty()) {
    if (why) *why = "missing port (expected host:port)";
    return false;
  }
  const std::optional<uint64_t> v = s.size() <= 5 ? parse_uint(s) : std::nullopt;
  if (!v || *v < 1 || *v > 65535) {
    if (why) *why = "port must be a number from 1 to 65535";
    return false;
  }
  *port = static_cast<uint16_t>(*v);
  return true;
}

}  // namespace

std::optional<uint64_t> parse_duration_ms(std::string_view text) {
  return number_with_unit(text, &duration_factor);
}

std::optional<uint64_t> parse_size_bytes(std::string_view text) {
  return number_with_unit(text, &size_factor);
}

bool is_ip_literal(std::string_view host) {
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return false;
  const std::string h(host);
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  bool only_digits_and_dots = true;
  size_t label_start = 0;
  for (size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      const std::string_view label = host.substr(label_start, i - label_start);
      if (label.empty() || label.size() > 63) return false;
      if (label.front() == '-' || label.back() == '-') return false;
      label_start = i + 1;
      continue;
    }
    const char c = host[i];
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') return false;
    if (!is_digit(c)) only_digits_and_dots = false;
  }
  // "999.1.1.1" or "1.2.3" look like IPv4 but are not: refuse rather than resolve them as names.
  if (only_digits_and_dots) {
    const std::string h(host);
    unsigned char buf[sizeof(struct in_addr)];
    return inet_pton(AF_INET, h.c_str(), buf) == 1;
  }
  return true;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (is_alpha(c) || is_digit(c)) continue;
    switch (c) {
      case '!':
      case '#':
      case '$':
      case '%':
      case '&':
      case '\'':
      case '*':
      case '+':
      case '-':
      case '.':
      case '^':
      case '_':
      case '`':
      case '|':
      case '~':
        continue;
      default:
        return false;
    }
  }
  return true;
}

std::optional<std::pair<int, int>> parse_status_range(std::string_view text) {
  const size_t dash = text.find('-');
  const std::string_view first = text.substr(0, dash);
  const std::string_view second = dash == std::string_view::npos ? first : text.substr(dash + 1);
  if (first.size() > 3 || second.size() > 3) return std::nullopt;
  const std::optional<uint64_t> lo = parse_uint(first);
  const std::optional<uint64_t> hi = parse_uint(second);
  if (!lo || !hi) return std::nullopt;
  return std::pair<int, int>(static_cast<int>(*lo), static_cast<int>(*hi));
}

std::optional<uint64_t> parse_percent(std::string_view text) {
  if (!text.empty() && text.back() == '%') text.remove_suffix(1);
  if (text.size() > 9) return std::nullopt;
  return parse_uint(text);
}

std::optional<double> parse_ratio(std::string_view text) {
  bool pct = !text.empty() && text.back() == '%';
  if (pct) text.remove_suffix(1);
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() || whole.size() > 3 || frac.size() > 9 ||
      (dot != std::string_view::npos && frac.empty())) {
    return std::nullopt;
  }
  std::optional<uint64_t> w = parse_uint(whole);
  std::optional<uint64_t> f = frac.empty() ? std::optional<uint64_t>(0) : parse_uint(frac);
  if (!w || !f) return std::nullopt;
  double v = static_cast<double>(*w);
  double scale = 1;
  for (size_t i = 0; i < frac.size(); ++i) scale *= 10;
  v += static_cast<double>(*f) / scale;
  if (pct) v /= 100;
  if (v > 1) return std::nullopt;
  return v;
}

std::optional<Address> parse_address_why(const std::string& text, std::string* why) {
  Address a;
  a.text = text;
  std::string_view s = text;
  if (s.empty()) {
    if (why) *why = "empty address (expected host:port)";
    return std::nullopt;
  }
  std::string_view host;
  std::string_view port;
  if (s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) {
      if (why) *why = "missing ']' after IPv6 address";
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    const std::string_view rest = s.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      if (why) *why = "missing port after ']' (expected [v6]:port)";
      return std::nullopt;
    }
    port = rest.substr(1);
    const std::string h(host);
    unsigned char buf[sizeof(struct in6_addr)];
    if (host.empty() || inet_pton(AF_INET6, h.c_str(), buf) != 1) {
      if (why) *why = "invalid IPv6 address '" + h + "'";
      return std::nullopt;
    }
  } else {
    const size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      if (why) *why = "missing port (expected host:port)";
      return std::nullopt;
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      if (why) *why = "an IPv6 address needs brackets, like [::1]:8080";
      return std::nullopt;
    }
    if (host == "*") host = "";
    if (!host.empty() && !is_host_name(host)) {
      if (why) *why = "invalid host '" + std::string(host) + "'";
      return std::nullopt;
    }
  }
  if (!parse_port(port, &a.port, why)) return std::nullopt;
  a.host.reserve(host.size());
  for (char c : host) a.host.push_back(to_lower(c));
  return a;
}

std::optional<Address> parse_address(const std::string& text) {
  return parse_address_why(text, nullptr);
}

}  // namespace sluice::config
