#include "http/request_parser.h"

#include <algorithm>
#include <cstring>

#include "http/char_class.h"
#include "http/fields.h"
#include "http/scan.h"

namespace sluice::http {

namespace {

// "HTTP/1.1\r" between the SP after the target and the LF.
constexpr size_t kVersionAndCr = 9;

bool has_prefix_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool valid_percent_escapes(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const void* pct = std::memchr(s.data() + i, '%', s.size() - i);
    if (pct == nullptr) return true;
    i = static_cast<size_t>(static_cast<const char*>(pct) - s.data());
    if (i + 2 >= s.size() || !is_hex_digit(s[i + 1]) || !is_hex_digit(s[i + 2])) return false;
    i += 3;
  }
  return true;
}

}  // namespace

void RequestHead::clear() {
  method = Method::kOther;
  method_text = {};
  target = {};
  path = {};
  query = {};
  version_minor = 1;
  headers.clear();
  host = {};
  body = BodyKind::kNone;
  content_length = 0;
  keep_alive = true;
  expect_continue = false;
  has_connection_header = false;
  dropped_headers = 0;
  error_status = 0;
  error_reason = "";
}

void copy_head(const RequestHead& src, std::string_view raw, std::string& storage,
               RequestHead& dst) {
  storage.assign(raw);
  const char* to = storage.data();
  auto move = [&](std::string_view v) { return rebase(v, raw, to); };
  copy_headers(src.headers, raw, to, dst.headers);
  dst.method = src.method;
  dst.version_minor = src.version_minor;
  dst.body = src.body;
  dst.content_length = src.content_length;
  dst.keep_alive = src.keep_alive;
  dst.expect_continue = src.expect_continue;
  dst.has_connection_header = src.has_connection_header;
  dst.dropped_headers = src.dropped_headers;
  dst.error_status = src.error_status;
  dst.error_reason = src.error_reason;
  dst.method_text = move(src.method_text);
  dst.target = move(src.target);
  dst.path = move(src.path);
  dst.query = move(src.query);
  dst.host = move(src.host);
}

RequestParser::RequestParser(const ParserLimits& limits) : limits_(limits) {}

void RequestParser::reset() {
  const ParserLimits limits = limits_;
  *this = RequestParser(limits);
}

ParseStatus RequestParser::fail(uint16_t status, const char* reason) {
  stage_ = Stage::kError;
  error_status_ = status;
  error_reason_ = reason;
  return ParseStatus::kError;
}

ParseStatus RequestParser::parse(std::string_view buf, RequestHead& head) {
  if (stage_ != Stage::kDone && stage_ != Stage::kError && buf.size() < pos_) {
    reset();  // the caller broke the append-only contract; start over rather than misread
  }
  ParseStatus st = ParseStatus::kError;
  if (stage_ == Stage::kError) {
    st = ParseStatus::kError;
  } else if (stage_ == Stage::kDone) {
    st = buf.size() >= head_length_ ? ParseStatus::kDone : fail(400, "buffer shrank");
  } else {
    st = scan(buf);
  }
  if (st == ParseStatus::kDone) st = build(buf, head);
  if (st == ParseStatus::kError) {
    head.clear();
    head.error_status = error_status_;
    head.error_reason = error_reason_;
  }
  return st;
}

// Finds the end of the head without rescanning bytes seen by earlier calls. Every decision is a
// function of the bytes up to the position where it is taken, so any split of the input into
// calls gives the same result as one call with all of it.
ParseStatus RequestParser::scan(std::string_view buf) {
  const char* b = buf.data();
  // Bytes past the limit are never looked at: if the head has not ended by then it is too large.
  const size_t avail = std::min(buf.size(), limits_.max_head_bytes);
  for (;;) {
    switch (stage_) {
      case Stage::kLineStart: {
        if (pos_ >= avail) goto need_more;
        if (b[pos_] == '\n') return fail(400, "bare LF");
        if (b[pos_] != '\r') {
          line_start_ = pos_;
          stage_ = Stage::kMethod;
          break;
        }
        if (pos_ + 1 >= avail) goto need_more;
        if (b[pos_ + 1] != '\n') return fail(400, "bare CR");
        pos_ += 2;  // an empty line before the request line is ignored (RFC 9112 section 2.2)
        break;
      }
      case Stage::kMethod: {
        size_t i = pos_;
        while (i < avail && is_tchar(b[i])) ++i;
        if (i == avail) {
          pos_ = i;
          goto need_more;
        }
        if (b[i] != ' ' || i == line_start_) return fail(400, "invalid method");
        sp1_ = i;
        pos_ = i + 1;
        stage_ = Stage::kTarget;
        break;
      }
      case Stage::kTarget: {
        const size_t start = sp1_ + 1;
        const size_t uri_end = start + limits_.max_uri_bytes + 1;  // one byte too many
        const size_t limit = std::min(avail, uri_end);
        const size_t i = static_cast<size_t>(find_target_stop(b + pos_, b + limit) - b);
        if (i == limit) {
          if (limit == uri_end) return fail(414, "request-target too long");
          pos_ = i;
          goto need_more;
        }
        if (b[i] != ' ') return fail(400, "invalid character in request-target");
        if (i == start) return fail(400, "empty request-target");
        sp2_ = i;
        pos_ = i + 1;
        stage_ = Stage::kVersion;
        break;
      }
      case Stage::kVersion: {
        const size_t lf_max = sp2_ + 1 + kVersionAndCr;  // where the LF must be
        const size_t limit = std::min(avail, lf_max + 1);
        const void* lf = std::memchr(b + pos_, '\n', limit - pos_);
        if (lf == nullptr) {
          if (limit == lf_max + 1) return fail(400, "invalid HTTP version");
          pos_ = limit;
          goto need_more;
        }
        const size_t p = static_cast<size_t>(static_cast<const char*>(lf) - b);
        if (!finish_request_line(b, p)) return ParseStatus::kError;
        pos_ = p + 1;
        fields_start_ = pos_;
        line_begin_ = pos_;
        stage_ = Stage::kFields;
        break;
      }
      case Stage::kFields: {
        for (;;) {
          const char* lf = find_lf(b + pos_, b + avail);
          if (lf == b + avail) {
            pos_ = avail;
            goto need_more;
          }
          const size_t p = static_cast<size_t>(lf - b);
          if (p == line_begin_ || b[p - 1] != '\r') return fail(400, "bare LF");
          if (p == line_begin_ + 1) {
            head_length_ = p + 1;
            stage_ = Stage::kDone;
            return ParseStatus::kDone;
          }
          if (++field_lines_ > limits_.max_headers) return fail(431, "too many header fields");
          pos_ = p + 1;
          line_begin_ = pos_;
        }
      }
      case Stage::kDone:
        return ParseStatus::kDone;
      case Stage::kError:
        return ParseStatus::kError;
    }
  }
need_more:
  if (buf.size() > limits_.max_head_bytes) return fail(431, "request head too large");
  return ParseStatus::kIncomplete;
}

// The request line [line_start_, lf] is complete: check version, method and target form.
bool RequestParser::finish_request_line(const char* b, size_t lf) {
  if (b[lf - 1] != '\r') {
    fail(400, "bare LF");
    return false;
  }
  const std::string_view version(b + sp2_ + 1, lf - 1 - (sp2_ + 1));
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    fail(400, "invalid HTTP version");
    return false;
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    fail(505, "unsupported HTTP version");
    return false;
  }
  version_minor_ = version[7] - '0';

  method_ = parse_method(std::string_view(b + line_start_, sp1_ - line_start_));
  if (method_ == Method::kConnect) {
    fail(501, "CONNECT not supported");
    return false;
  }

  const size_t t0 = sp1_ + 1;
  const std::string_view target(b + t0, sp2_ - t0);
  std::string_view path;
  std::string_view query;
  bool has_query = false;
  auto split_query = [&](std::string_view s) {
    const size_t q = s.find('?');
    if (q == std::string_view::npos) {
      path = s;
    } else {
      path = s.substr(0, q);
      query = s.substr(q + 1);
      has_query = true;
    }
  };
  if (target[0] == '/') {
    split_query(target);
  } else if (target == "*") {
    if (method_ != Method::kOptions) {
      fail(400, "asterisk-form target only with OPTIONS");
      return false;
    }
    path = target;
  } else {
    size_t scheme = 0;
    if (has_prefix_icase(target, "http://")) {
      scheme = 7;
    } else if (has_prefix_icase(target, "https://")) {
      scheme = 8;
    } else {
      fail(400, "invalid request-target");
      return false;
    }
    size_t a_end = scheme;
    while (a_end < target.size() && target[a_end] != '/' && target[a_end] != '?') ++a_end;
    const std::string_view authority = target.substr(scheme, a_end - scheme);
    if (!is_valid_authority(authority)) {
      fail(400, "invalid authority in request-target");
      return false;
    }
    authority_off_ = t0 + scheme;
    authority_len_ = authority.size();
    split_query(target.substr(a_end));
    path_is_root_ = path.empty();
  }
  if (!valid_percent_escapes(path)) {
    fail(400, "invalid percent-encoding in path");
    return false;
  }
  path_off_ = static_cast<size_t>(path.data() - b);
  path_len_ = path.size();
  query_off_ = has_query ? static_cast<size_t>(query.data() - b) : 0;
  query_len_ = query.size();
  return true;
}

// One pass over the complete head: fill `head` and decide the framing.
ParseStatus RequestParser::build(std::string_view buf, RequestHead& head) {
  const char* b = buf.data();
  head.clear();
  head.method = method_;
  head.method_text = std::string_view(b + line_start_, sp1_ - line_start_);
  head.target = std::string_view(b + sp1_ + 1, sp2_ - sp1_ - 1);
  head.path = path_is_root_ ? std::string_view("/") : std::string_view(b + path_off_, path_len_);
  head.query = std::string_view(b + query_off_, query_len_);
  head.version_minor = version_minor_;

  FieldSummary s;
  if (const char* err = parse_field_lines(b + fields_start_, b + head_length_, head.headers, s)) {
    return fail(400, err);
  }
  if (s.underscore_names > 0 && limits_.underscores != UnderscoreHeaders::kAllow) {
    if (limits_.underscores == UnderscoreHeaders::kReject) {
      return fail(400, "header name with an underscore");
    }
    // Left out of the head: no filter sees them and no upstream gets them. None of them can be
    // a field the summary counted (those names have no '_').
    std::vector<Header>& h = head.headers;
    size_t kept = 0;
    for (const Header& f : h) {
      if (f.name.find('_') == std::string_view::npos) h[kept++] = f;
    }
    head.dropped_headers = static_cast<uint16_t>(h.size() - kept);
    h.resize(kept);
  }
  if (s.host_count > 1) return fail(400, "multiple Host headers");
  if (s.host_count == 0 && version_minor_ == 1) return fail(400, "missing Host header");
  if (s.host_count == 1 && !is_valid_authority(s.host)) return fail(400, "invalid Host header");
  head.host = authority_len_ != 0 ? std::string_view(b + authority_off_, authority_len_) : s.host;

  if (s.transfer_encoding_count > 0) {
    if (s.content_length_count > 0) {
      return fail(400, "both Content-Length and Transfer-Encoding");
    }
    if (version_minor_ == 0) return fail(400, "Transfer-Encoding in HTTP/1.0 request");
    if (s.transfer_encoding_count != 1 || !iequals(s.transfer_encoding, "chunked")) {
      return fail(501, "unsupported Transfer-Encoding");
    }
    head.body = BodyKind::kChunked;
  } else if (s.content_length_count > 0) {
    head.body = BodyKind::kContentLength;
    head.content_length = s.content_length;
  }
  head.has_connection_header = s.has_connection;
  head.keep_alive =
      version_minor_ == 1 ? !s.connection_close : (s.connection_keep_alive && !s.connection_close);
  head.expect_continue = s.expect_continue && version_minor_ == 1;
  return ParseStatus::kDone;
}

}  // namespace sluice::http
