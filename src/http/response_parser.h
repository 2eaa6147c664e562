// Incremental, zero-copy, strict (RFC 9110/9112) parser for HTTP/1.x response heads from
// upstreams, deciding how the body is framed (RFC 9112 section 6.3). An error means the
// upstream response cannot be relayed safely: answer the client 502 and close the upstream.
// Example:
//   ResponseParser parser;  ResponseHead head;
//   switch (parser.parse(upstream.read_buffer(), request.method, head)) {
//     case ParseStatus::kIncomplete: return read_more();
//     case ParseStatus::kError: return bad_gateway(head.error_reason);
//     case ParseStatus::kDone: upstream.consume(parser.head_length()); relay(head); break;
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/header.h"
#include "http/method.h"
#include "http/parser_limits.h"

namespace sluice::http {

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int version_minor = 1;
  std::vector<Header> headers;
  // kNone for HEAD requests, 1xx, 204, 304 (and 2xx to CONNECT); kUntilClose if neither
  // Content-Length nor chunked.
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;  // the Content-Length value when present (also for HEAD / 304)
  // False for HTTP/1.0 without keep-alive, Connection: close, or kUntilClose.
  bool keep_alive = true;
  bool has_connection_header = false;
  const char* error_reason = "";
  void clear();  // keeps headers' capacity
};

// `dst` becomes `src` with its views pointing into `storage`, a copy of `raw` (the bytes `src`
// was parsed from), so the head outlives the connection's buffer. Capacities are reused.
void copy_response_head(const ResponseHead& src, std::string_view raw, std::string& storage,
                        ResponseHead& dst);

class ResponseParser {
 public:
  explicit ResponseParser(const ParserLimits& limits = {});

  // Before parsing the next response on the connection (also after a 1xx response).
  void reset();

  // Same contract as RequestParser::parse. `request_method` is the method of the request this
  // response answers (HEAD responses have no body).
  ParseStatus parse(std::string_view buf, Method request_method, ResponseHead& head);

  size_t head_length() const { return head_length_; }

 private:
  enum class Stage : uint8_t { kStatusLine, kFields, kDone, kError };

  ParseStatus scan(std::string_view buf);
  ParseStatus fail(const char* reason);
  ParseStatus build(std::string_view buf, Method request_method, ResponseHead& head);

  ParserLimits limits_;
  Stage stage_ = Stage::kStatusLine;
  size_t pos_ = 0;
  size_t reason_end_ = 0;  // the CR of the status line
  size_t fields_start_ = 0;
  size_t line_begin_ = 0;
  size_t field_lines_ = 0;
  size_t head_length_ = 0;
  int status_ = 0;
  int version_minor_ = 1;
  const char* error_reason_ = "";
};

}  // namespace sluice::http
