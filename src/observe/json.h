// JSON string escaping for the JSON that sluice writes by hand (admin answers, events): quotes,
// backslashes and control bytes escaped, bytes that are not well-formed UTF-8 (RFC 3629) replaced
// by U+FFFD, since config text in messages may hold any bytes and JSON must be UTF-8 (RFC 8259).
// Example: out += "\"name\":\"" + json_escape(name) + "\"";
#pragma once

#include <string>
#include <string_view>

namespace sluice::observe {

std::string json_escape(std::string_view s);

}  // namespace sluice::observe
