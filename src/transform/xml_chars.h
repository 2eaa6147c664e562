// Internal to the XML conversions (json_to_xml.cc, xml_to_json.cc): UTF-8 decoding and the
// XML 1.0 (fifth edition) Char and Name productions, which both directions check the same way
// so that whatever one of them produces the other accepts.
// Example:
//   if (!detail::is_xml_name("soap:Envelope")) ...;   // true: prefixed names are names
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "transform/json_parse.h"

namespace sluice::transform::detail {

std::string too_deep();  // "nesting too deep (more than 64 levels)"

// Decodes the UTF-8 sequence at s[i] and moves i past it; -1 when it is not well-formed
// (truncated, overlong, a surrogate, above U+10FFFF).
int32_t decode_utf8(std::string_view s, size_t& i);

// The Char production: what an XML 1.0 document may contain at all.
bool is_xml_char(int32_t cp);

// The Name production. Prefixed names ("soap:Envelope") are names too: namespaces are kept as
// written, not resolved.
bool is_xml_name(std::string_view s);

// Why s cannot be XML character data, e.g. "character U+0001 is not allowed in XML" or
// "invalid UTF-8"; "" when it can.
std::string bad_chars(std::string_view s);

// s in double quotes for a message, cut after 64 bytes.
std::string in_quotes(std::string_view s);

}  // namespace sluice::transform::detail
