// Standard reason phrases for HTTP status codes, for the responses the gateway writes itself.
// Example: out << "HTTP/1.1 " << status << ' ' << reason_phrase(status) << "\r\n";
#pragma once

#include <string_view>

namespace sluice::http {

// The RFC 9110 reason phrase of `status`, or "Unknown" for codes without one.
std::string_view reason_phrase(int status);

}  // namespace sluice::http
