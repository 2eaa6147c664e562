#include "http/fields.h"

#include "http/char_class.h"
#include "http/scan.h"
#include "http/tokens.h"

namespace sluice::http {

namespace {

constexpr uint64_t kMaxContentLength = (uint64_t{1} << 63) - 1;

bool is_pct_encoded_ok(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || !is_hex_digit(s[i + 1]) || !is_hex_digit(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

// Records what a framing-relevant field says; returns an error reason or nullptr.
const char* classify(std::string_view name, std::string_view value, FieldSummary& s) {
  switch (name.size()) {
    case 4:
      if (iequals(name, "host")) {
        if (s.host_count++ == 0) s.host = value;
      }
      break;
    case 6:
      if (iequals(name, "expect") && iequals(value, "100-continue")) s.expect_continue = true;
      break;
    case 10:
      if (iequals(name, "connection")) {
        s.has_connection = true;
        for_each_token(value, [&s](std::string_view t) {
          if (iequals(t, "close")) s.connection_close = true;
          if (iequals(t, "keep-alive")) s.connection_keep_alive = true;
        });
      }
      break;
    case 14:
      if (iequals(name, "content-length")) {
        uint64_t cl = 0;
        if (!parse_content_length(value, &cl)) return "invalid Content-Length";
        if (s.content_length_count > 0 && cl != s.content_length) {
          return "conflicting Content-Length values";
        }
        ++s.content_length_count;
        s.content_length = cl;
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        if (s.transfer_encoding_count++ == 0) s.transfer_encoding = value;
      }
      break;
    default:
      break;
  }
  return nullptr;
}

}  // namespace

const char* parse_field_lines(const char* p, const char* end, std::vector<Header>& out,
                              FieldSummary& summary) {
  while (p < end) {
    if (*p == '\r') {
      if (p + 2 == end && p[1] == '\n') return nullptr;
      return "bare CR in field section";
    }
    if (is_ows(*p)) return "obs-fold or whitespace before field name";
    const char* name = p;
    // A table loop beats SIMD on names this short. It stops at '_' too, which is a tchar but
    // rare: such names are counted (limits.headers_with_underscores) at no cost to the others.
    while (detail::has_bit(*p, detail::kNameBit)) ++p;
    if (*p == '_') {
      while (is_tchar(*p)) ++p;
      ++summary.underscore_names;
    }
    if (*p != ':') {
      if (p != name && is_ows(*p)) {
        // "Name : v" is whitespace before the colon; "Two Words: v" a name with a space in it.
        const char* q = p;
        while (q < end && is_ows(*q)) ++q;
        if (q < end && *q == ':') return "whitespace between field name and colon";
      }
      return "invalid field name";
    }
    if (p == name) return "empty field name";
    const std::string_view field_name(name, static_cast<size_t>(p - name));
    ++p;
    while (is_ows(*p)) ++p;
    const char* value = p;
    const char* stop = find_field_value_stop(p, end);
    if (stop == end || *stop != '\r') return "invalid character in field value";
    if (stop + 1 == end || stop[1] != '\n') return "bare CR in field value";
    const char* value_end = stop;
    while (value_end > value && is_ows(value_end[-1])) --value_end;
    const std::string_view field_value(value, static_cast<size_t>(value_end - value));
    out.push_back(Header{field_name, field_value});
    if (const char* err = classify(field_name, field_value, summary)) return err;
    p = stop + 2;
  }
  return "field section not terminated";
}

bool parse_content_length(std::string_view value, uint64_t* out) {
  bool have = false;
  uint64_t first = 0;
  size_t i = 0;
  const size_t n = value.size();
  for (;;) {
    while (i < n && is_ows(value[i])) ++i;
    const size_t start = i;
    uint64_t v = 0;
    while (i < n && is_digit(value[i])) {
      const uint64_t d = static_cast<uint64_t>(value[i] - '0');
      if (v > (kMaxContentLength - d) / 10) return false;
      v = v * 10 + d;
      ++i;
    }
    if (i == start) return false;
    if (have && v != first) return false;
    have = true;
    first = v;
    while (i < n && is_ows(value[i])) ++i;
    if (i == n) break;
    if (value[i] != ',') return false;
    ++i;
  }
  *out = first;
  return true;
}

bool is_valid_authority(std::string_view a) {
  if (a.empty()) return false;
  size_t i = 0;
  if (a[0] == '[') {
    const size_t close = a.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (size_t k = 1; k < close; ++k) {
      const char c = a[k];
      if (!is_hex_digit(c) && c != ':' && c != '.') return false;
    }
    i = close + 1;
  } else {
    while (i < a.size() && a[i] != ':') {
      if (!is_host_char(a[i])) return false;
      ++i;
    }
    if (i == 0 || !is_pct_encoded_ok(a.substr(0, i))) return false;
  }
  if (i == a.size()) return true;
  if (a[i] != ':') return false;
  const std::string_view port = a.substr(i + 1);
  if (port.empty() || port.size() > 5) return false;
  for (const char c : port) {
    if (!is_digit(c)) return false;
  }
  return true;
}

}  // namespace sluice::http
