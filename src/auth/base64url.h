// Base64url (RFC 4648 section 5) as JOSE uses it (RFC 7515 section 2): no padding, and a strict
// decoder, so each byte string has exactly one accepted encoding. A lenient decoder would let
// an attacker vary a token's text without changing what it decodes to (defeating caches keyed
// on the text and making logs ambiguous).
// Example:
//   std::string raw;
//   if (!base64url_decode("eyJhbGciOiJIUzI1NiJ9", &raw)) return malformed();
//   std::string text = base64url_encode(raw);  // "eyJhbGciOiJIUzI1NiJ9" again
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::auth {

// Decodes `in` into *out (replacing its contents). False, with *out unspecified, for any byte
// outside [A-Za-z0-9_-] (so also '=' padding, '+', '/' and whitespace), for a length of 1 mod 4,
// and for non-zero unused bits in the last character (a non-canonical encoding).
bool base64url_decode(std::string_view in, std::string* out);

// The unpadded base64url text of `in`.
std::string base64url_encode(std::string_view in);
// The same, appended to *out (no allocation when *out has the capacity).
void base64url_encode_append(std::string_view in, std::string* out);

// Bytes that base64url_decode produces for `encoded_len` characters (when valid).
constexpr size_t base64url_decoded_size(size_t encoded_len) {
  return encoded_len / 4 * 3 + (encoded_len % 4 == 0 ? 0 : encoded_len % 4 - 1);
}

}  // namespace sluice::auth
