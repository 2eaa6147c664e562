// Byte classes of the HTTP/1 grammar (RFC 9110/9112) as constexpr tables, shared by the request,
// response and chunked parsers so that every parser accepts exactly the same bytes.
// Example: if (!is_tchar(c)) return error("invalid method");
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::http {

namespace detail {

enum CharBits : uint8_t {
  kTcharBit = 1,      // token character
  kTargetBit = 2,     // request-target byte: 0x21-0x7E except '#'
  kHexBit = 4,        // 0-9 a-f A-F
  kHostBit = 8,       // reg-name / IPv4 byte allowed in an authority host (no ',' '@' '/')
  kFieldBadBit = 16,  // not allowed in a field value: CTLs other than HTAB, and DEL
  kNameBit = 32,      // token character other than '_' (field names: '_' is looked at apart)
};

constexpr std::array<uint8_t, 256> make_char_table() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t bits = 0;
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    constexpr char kTcharPunct[] = "!#$%&'*+-.^_`|~";
    bool punct = false;
    for (const char* p = kTcharPunct; *p != '\0'; ++p) punct = punct || (*p == c);
    if (alnum || punct) bits |= kTcharBit;
    if (c >= 0x21 && c <= 0x7E && c != '#') bits |= kTargetBit;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) bits |= kHexBit;
    // unreserved and sub-delims (minus ',') of RFC 3986, plus '%' for pct-encoded.
    constexpr char kHostPunct[] = "-._~!$&'()*+;=%";
    bool host_punct = false;
    for (const char* p = kHostPunct; *p != '\0'; ++p) host_punct = host_punct || (*p == c);
    if (alnum || host_punct) bits |= kHostBit;
    if ((c < 0x20 && c != '\t') || c == 0x7F) bits |= kFieldBadBit;
    if ((alnum || punct) && c != '_') bits |= kNameBit;
    t[static_cast<size_t>(c)] = bits;
  }
  return t;
}

inline constexpr std::array<uint8_t, 256> kCharTable = make_char_table();

constexpr bool has_bit(char c, uint8_t bit) {
  return (kCharTable[static_cast<uint8_t>(c)] & bit) != 0;
}

}  // namespace detail

constexpr bool is_tchar(char c) {
  return detail::has_bit(c, detail::kTcharBit);
}
constexpr bool is_target_char(char c) {
  return detail::has_bit(c, detail::kTargetBit);
}
constexpr bool is_hex_digit(char c) {
  return detail::has_bit(c, detail::kHexBit);
}
constexpr bool is_host_char(char c) {
  return detail::has_bit(c, detail::kHostBit);
}
constexpr bool is_field_value_char(char c) {
  return !detail::has_bit(c, detail::kFieldBadBit);
}
constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Lower-case hex of bytes ("\x01\xab" -> "01ab").
inline std::string hex_encode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace sluice::http
