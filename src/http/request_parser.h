// Incremental, zero-copy, strict (RFC 9110/9112) parser for HTTP/1.x request heads. The result
// is a RequestHead of views into the caller's buffer, with the framing of the body decided and
// every construct that enables request smuggling rejected.
// Example:
//   RequestParser parser;  RequestHead head;
//   switch (parser.parse(conn.read_buffer(), head)) {
//     case ParseStatus::kIncomplete: return read_more();
//     case ParseStatus::kError: return reply_and_close(head.error_status, head.error_reason);
//     case ParseStatus::kDone: conn.consume(parser.head_length()); route(head); break;
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

struct RequestHead {
  Method method = Method::kOther;
  std::string_view method_text;
  std::string_view target;  // request-target as received
  // Origin-form: target up to '?'; absolute-form: the path after the authority ("/" if empty);
  // "*" for OPTIONS *.
  std::string_view path;
  std::string_view query;       // after '?', without it; empty if none
  int version_minor = 1;        // HTTP/1.<minor>, 0 or 1
  std::vector<Header> headers;  // all fields in order, values trimmed of OWS
  std::string_view host;        // Host header value, or the authority of an absolute-form target
  BodyKind body = BodyKind::kNone;  // kNone, kContentLength (also for "0") or kChunked
  uint64_t content_length = 0;
  bool keep_alive = true;        // from version + Connection tokens (close / keep-alive)
  bool expect_continue = false;  // Expect: 100-continue in an HTTP/1.1 request
  bool has_connection_header = false;
  uint16_t dropped_headers = 0;   // fields left out (names with '_', UnderscoreHeaders::kDrop)
  uint16_t error_status = 0;      // 400, 414, 431, 501, 505 when parse returned kError
  const char* error_reason = "";  // short static text
  void clear();                   // keeps headers' capacity
};

// `dst` becomes `src` with its views pointing into `storage`, a copy of `raw` (the bytes `src`
// was parsed from): the head then outlives the read buffer (a paused request is never parsed
// again). dst's and storage's capacity is reused.
void copy_head(const RequestHead& src, std::string_view raw, std::string& storage,
               RequestHead& dst);

class RequestParser {
 public:
  explicit RequestParser(const ParserLimits& limits = {});

  // Before parsing the next request on the connection.
  void reset();

  // `buf` holds every byte received so far for this request head, starting at the request line
  // (empty lines before it are skipped). Between calls the caller only appends, and may move the
  // bytes. kIncomplete: need more bytes. kDone: head complete, head_length() bytes long, views
  // of `head` point into `buf`. kError: head.error_status/error_reason say why; answer and close.
  // Each byte is scanned once while the head is incomplete; limits are enforced as soon as the
  // received bytes exceed them. Any split of the input gives the same result.
  ParseStatus parse(std::string_view buf, RequestHead& head);

  size_t head_length() const { return head_length_; }

 private:
  enum class Stage : uint8_t { kLineStart, kMethod, kTarget, kVersion, kFields, kDone, kError };

  ParseStatus scan(std::string_view buf);
  ParseStatus fail(uint16_t status, const char* reason);
  bool finish_request_line(const char* b, size_t lf);
  ParseStatus build(std::string_view buf, RequestHead& head);

  ParserLimits limits_;
  Stage stage_ = Stage::kLineStart;
  size_t pos_ = 0;         // next byte to scan
  size_t line_start_ = 0;  // first byte of the request line
  size_t sp1_ = 0;         // SP after the method
  size_t sp2_ = 0;         // SP after the target
  size_t fields_start_ = 0;
  size_t line_begin_ = 0;  // current field line
  size_t field_lines_ = 0;
  size_t head_length_ = 0;
  // Request-line results as offsets, because the buffer may move between calls.
  size_t path_off_ = 0;
  size_t path_len_ = 0;
  size_t query_off_ = 0;
  size_t query_len_ = 0;
  size_t authority_off_ = 0;
  size_t authority_len_ = 0;
  bool path_is_root_ = false;  // absolute-form without a path
  Method method_ = Method::kOther;
  int version_minor_ = 1;
  uint16_t error_status_ = 0;
  const char* error_reason_ = "";
};

}  // namespace sluice::http
