// Size limits and result codes shared by the HTTP/1 request and response parsers.
// Example: RequestParser parser(ParserLimits{.max_head_bytes = 16 * 1024});
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::http {

// What a request field name with an '_' gets (limits.headers_with_underscores): backends that
// map '_' to '-' (CGI, WSGI) could read `Transfer_Encoding` as Transfer-Encoding.
enum class UnderscoreHeaders : uint8_t { kAllow, kDrop, kReject };

struct ParserLimits {
  size_t max_head_bytes =
      size_t{64} * 1024;                    // start line + fields + final CRLF; beyond: 431 / error
  size_t max_headers = 100;                 // field lines; beyond: 431 / error
  size_t max_uri_bytes = size_t{8} * 1024;  // request-target; beyond: 414
  UnderscoreHeaders underscores = UnderscoreHeaders::kAllow;  // requests only
};

enum class ParseStatus : uint8_t { kIncomplete, kDone, kError };

// How the length of a message body is determined (RFC 9112 section 6.3).
enum class BodyKind : uint8_t { kNone, kContentLength, kChunked, kUntilClose };

}  // namespace sluice::http
