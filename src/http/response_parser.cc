#include "http/response_parser.h"

#include <algorithm>
#include <cstring>

#include "http/char_class.h"
#include "http/fields.h"
#include "http/scan.h"
#include "http/tokens.h"

namespace sluice::http {

namespace {

// "HTTP/1.x NNN": the fixed-length start of every status line.
constexpr size_t kStatusPrefix = 12;

bool status_prefix_byte_ok(size_t i, char c) {
  constexpr char kHttp1[] = "HTTP/1.";
  if (i < 7) return c == kHttp1[i];
  if (i == 7) return c == '0' || c == '1';
  if (i == 8) return c == ' ';
  return is_digit(c);
}

// Transfer-Encoding of a response: the codings of all its fields, in order, must end with
// chunked and name it once (RFC 9112 section 6.1); anything else has no reliable framing.
bool transfer_coding_is_chunked(const std::vector<Header>& headers) {
  size_t chunked = 0;
  bool last_chunked = false;
  bool ok = true;
  for (const Header& h : headers) {
    if (!iequals(h.name, "transfer-encoding")) continue;
    for_each_token(h.value, [&](std::string_view coding) {
      last_chunked = iequals(coding, "chunked");
      if (last_chunked) ++chunked;
      const size_t semi = coding.find(';');
      const std::string_view name = coding.substr(0, semi);
      size_t e = name.size();
      while (e > 0 && is_ows(name[e - 1])) --e;
      if (e == 0) ok = false;
      for (size_t i = 0; i < e; ++i) ok = ok && is_tchar(name[i]);
    });
  }
  return ok && chunked == 1 && last_chunked;
}

}  // namespace

void ResponseHead::clear() {
  status = 0;
  reason = {};
  version_minor = 1;
  headers.clear();
  body = BodyKind::kNone;
  content_length = 0;
  keep_alive = true;
  has_connection_header = false;
  error_reason = "";
}

void copy_response_head(const ResponseHead& src, std::string_view raw, std::string& storage,
                        ResponseHead& dst) {
  storage.assign(raw);
  const char* to = storage.data();
  copy_headers(src.headers, raw, to, dst.headers);
  dst.status = src.status;
  dst.reason = rebase(src.reason, raw, to);
  dst.version_minor = src.version_minor;
  dst.body = src.body;
  dst.content_length = src.content_length;
  dst.keep_alive = src.keep_alive;
  dst.has_connection_header = src.has_connection_header;
  dst.error_reason = src.error_reason;
}

ResponseParser::ResponseParser(const ParserLimits& limits) : limits_(limits) {}

void ResponseParser::reset() {
  const ParserLimits limits = limits_;
  *this = ResponseParser(limits);
}

ParseStatus ResponseParser::fail(const char* reason) {
  stage_ = Stage::kError;
  error_reason_ = reason;
  return ParseStatus::kError;
}

ParseStatus ResponseParser::parse(std::string_view buf, Method request_method, ResponseHead& head) {
  if (stage_ != Stage::kDone && stage_ != Stage::kError && buf.size() < pos_) reset();
  ParseStatus st = ParseStatus::kError;
  if (stage_ == Stage::kError) {
    st = ParseStatus::kError;
  } else if (stage_ == Stage::kDone) {
    st = buf.size() >= head_length_ ? ParseStatus::kDone : fail("buffer shrank");
  } else {
    st = scan(buf);
  }
  if (st == ParseStatus::kDone) st = build(buf, request_method, head);
  if (st == ParseStatus::kError) {
    head.clear();
    head.error_reason = error_reason_;
  }
  return st;
}

// As RequestParser::scan: incremental, and every decision depends only on the bytes before it.
ParseStatus ResponseParser::scan(std::string_view buf) {
  const char* b = buf.data();
  const size_t avail = std::min(buf.size(), limits_.max_head_bytes);
  if (stage_ == Stage::kStatusLine) {
    for (; pos_ < kStatusPrefix; ++pos_) {
      if (pos_ >= avail) goto need_more;
      if (!status_prefix_byte_ok(pos_, b[pos_])) return fail("invalid status line");
    }
    const void* lf = std::memchr(b + pos_, '\n', avail - pos_);
    if (lf == nullptr) {
      pos_ = avail;
      goto need_more;
    }
    const size_t p = static_cast<size_t>(static_cast<const char*>(lf) - b);
    if (b[p - 1] != '\r') return fail("bare LF");
    const size_t cr = p - 1;
    if (cr > kStatusPrefix) {
      if (b[kStatusPrefix] != ' ') return fail("invalid status line");
      if (find_field_value_stop(b + kStatusPrefix + 1, b + cr) != b + cr) {
        return fail("invalid character in reason phrase");
      }
    }
    status_ = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    if (status_ < 100 || status_ > 599) return fail("invalid status code");
    version_minor_ = b[7] - '0';
    reason_end_ = cr;
    pos_ = p + 1;
    fields_start_ = pos_;
    line_begin_ = pos_;
    stage_ = Stage::kFields;
  }
  if (stage_ == Stage::kFields) {
    for (;;) {
      const char* lf = find_lf(b + pos_, b + avail);
      if (lf == b + avail) {
        pos_ = avail;
        goto need_more;
      }
      const size_t p = static_cast<size_t>(lf - b);
      if (p == line_begin_ || b[p - 1] != '\r') return fail("bare LF");
      if (p == line_begin_ + 1) {
        head_length_ = p + 1;
        stage_ = Stage::kDone;
        return ParseStatus::kDone;
      }
      if (++field_lines_ > limits_.max_headers) return fail("too many header fields");
      pos_ = p + 1;
      line_begin_ = pos_;
    }
  }
  return stage_ == Stage::kDone ? ParseStatus::kDone : ParseStatus::kError;
need_more:
  if (buf.size() > limits_.max_head_bytes) return fail("response head too large");
  return ParseStatus::kIncomplete;
}

ParseStatus ResponseParser::build(std::string_view buf, Method request_method, ResponseHead& head) {
  const char* b = buf.data();
  head.clear();
  head.status = status_;
  head.version_minor = version_minor_;
  if (reason_end_ > kStatusPrefix) {
    head.reason = std::string_view(b + kStatusPrefix + 1, reason_end_ - kStatusPrefix - 1);
  }
  FieldSummary s;
  if (const char* err = parse_field_lines(b + fields_start_, b + head_length_, head.headers, s)) {
    return fail(err);
  }
  bool chunked = false;
  if (s.transfer_encoding_count > 0) {
    if (s.content_length_count > 0) return fail("both Content-Length and Transfer-Encoding");
    if (version_minor_ == 0) return fail("Transfer-Encoding in HTTP/1.0 response");
    if (!transfer_coding_is_chunked(head.headers)) {
      return fail("Transfer-Encoding does not end with chunked");
    }
    chunked = true;
  }
  head.content_length = s.content_length;
  const bool no_body = request_method == Method::kHead || status_ < 200 || status_ == 204 ||
                       status_ == 304 || (request_method == Method::kConnect && status_ < 300);
  if (no_body) {
    head.body = BodyKind::kNone;
  } else if (chunked) {
    head.body = BodyKind::kChunked;
  } else if (s.content_length_count > 0) {
    head.body = BodyKind::kContentLength;
  } else {
    head.body = BodyKind::kUntilClose;
  }
  head.has_connection_header = s.has_connection;
  head.keep_alive =
      version_minor_ == 1 ? !s.connection_close : (s.connection_keep_alive && !s.connection_close);
  if (head.body == BodyKind::kUntilClose) head.keep_alive = false;
  return ParseStatus::kDone;
}

}  // namespace sluice::http
