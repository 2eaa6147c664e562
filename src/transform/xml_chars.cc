#include "transform/xml_chars.h"

#include <cstdio>

namespace sluice::transform::detail {

std::string too_deep() {
  return "nesting too deep (more than " + std::to_string(kMaxDepth) + " levels)";
}

// Decodes the UTF-8 sequence at s[i] and moves i past it; -1 when it is not well-formed
// (truncated, overlong, a surrogate, above U+10FFFF).
int32_t decode_utf8(std::string_view s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  const size_t n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
  if (n == 0 || c > 0xF4 || i + n >= s.size()) return -1;
  int32_t cp = c & (0x3F >> n);
  for (size_t k = 1; k <= n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr int32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += n + 1;
  return cp;
}

// The Char production: what an XML 1.0 document may contain at all.
bool is_xml_char(int32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

namespace {

bool is_name_start(int32_t c) {
  return c == ':' || (c >= 'A' && c <= 'Z') || c == '_' || (c >= 'a' && c <= 'z') ||
         (c >= 0xC0 && c <= 0xD6) || (c >= 0xD8 && c <= 0xF6) || (c >= 0xF8 && c <= 0x2FF) ||
         (c >= 0x370 && c <= 0x37D) || (c >= 0x37F && c <= 0x1FFF) ||
         (c >= 0x200C && c <= 0x200D) || (c >= 0x2070 && c <= 0x218F) ||
         (c >= 0x2C00 && c <= 0x2FEF) || (c >= 0x3001 && c <= 0xD7FF) ||
         (c >= 0xF900 && c <= 0xFDCF) || (c >= 0xFDF0 && c <= 0xFFFD) ||
         (c >= 0x10000 && c <= 0xEFFFF);
}

bool is_name_char(int32_t c) {
  return is_name_start(c) || c == '-' || c == '.' || (c >= '0' && c <= '9') || c == 0xB7 ||
         (c >= 0x300 && c <= 0x36F) || (c >= 0x203F && c <= 0x2040);
}

}  // namespace

// The Name production. Prefixed names ("soap:Envelope") are names too: namespaces are kept as
// written, not resolved.
bool is_xml_name(std::string_view s) {
  size_t i = 0;
  bool first = true;
  while (i < s.size()) {
    int32_t c = decode_utf8(s, i);
    if (c < 0 || !(first ? is_name_start(c) : is_name_char(c))) return false;
    first = false;
  }
  return !first;
}

// Why s cannot be XML character data ("" when it can).
std::string bad_chars(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80) {
      ++i;
      continue;
    }
    int32_t cp = decode_utf8(s, i);
    if (cp < 0) return "invalid UTF-8";
    if (!is_xml_char(cp)) {
      char buf[16];
      std::snprintf(buf, sizeof(buf), "U+%04X", static_cast<unsigned>(cp));
      return std::string("character ") + buf + " is not allowed in XML";
    }
  }
  return "";
}

std::string in_quotes(std::string_view s) {
  constexpr size_t kMax = 64;  // a hostile name must not make a huge message
  std::string q = "\"";
  q.append(s.substr(0, kMax));
  if (s.size() > kMax) q += "...";
  return q + "\"";
}

}  // namespace sluice::transform::detail
