#include "http/response_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace sluice::http {
namespace {

struct Parsed {
  ParseStatus status = ParseStatus::kIncomplete;
  ResponseHead head;
  size_t head_length = 0;
};

Parsed parse_whole(std::string_view raw, Method method = Method::kGet,
                   const ParserLimits& limits = {}) {
  Parsed r;
  ResponseParser parser(limits);
  r.status = parser.parse(raw, method, r.head);
  r.head_length = parser.head_length();
  return r;
}

void expect_same_head(const ResponseHead& a, const ResponseHead& b) {
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.version_minor, b.version_minor);
  ASSERT_EQ(a.headers.size(), b.headers.size());
  for (size_t i = 0; i < a.headers.size(); ++i) {
    EXPECT_EQ(a.headers[i].name, b.headers[i].name);
    EXPECT_EQ(a.headers[i].value, b.headers[i].value);
  }
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.content_length, b.content_length);
  EXPECT_EQ(a.keep_alive, b.keep_alive);
  EXPECT_EQ(a.has_connection_header, b.has_connection_header);
  EXPECT_STREQ(a.error_reason, b.error_reason);
}

// Every cut point and byte-by-byte feeding (with the bytes moved each time) give the whole result.
void check_every_split(const std::string& raw, Method method = Method::kGet) {
  const Parsed whole = parse_whole(raw, method);
  ASSERT_EQ(whole.status, ParseStatus::kDone) << whole.head.error_reason;
  for (size_t k = 0; k <= raw.size(); ++k) {
    ResponseParser parser;
    ResponseHead head;
    const ParseStatus first = parser.parse(std::string_view(raw).substr(0, k), method, head);
    if (k < whole.head_length) {
      ASSERT_EQ(first, ParseStatus::kIncomplete) << "k=" << k;
      ASSERT_EQ(parser.parse(raw, method, head), ParseStatus::kDone);
    } else {
      ASSERT_EQ(first, ParseStatus::kDone) << "k=" << k;
    }
    EXPECT_EQ(parser.head_length(), whole.head_length);
    expect_same_head(head, whole.head);
  }
  ResponseParser parser;
  ResponseHead head;
  std::string moving;
  ParseStatus st = ParseStatus::kIncomplete;
  for (size_t k = 1; k <= raw.size() && st == ParseStatus::kIncomplete; ++k) {
    std::string next(raw.substr(0, k));
    moving.swap(next);
    st = parser.parse(moving, method, head);
  }
  ASSERT_EQ(st, ParseStatus::kDone);
  expect_same_head(head, whole.head);
  if (!head.reason.empty()) {
    EXPECT_GE(head.reason.data(), moving.data());
    EXPECT_LE(head.reason.data() + head.reason.size(), moving.data() + moving.size());
  }
}

void expect_error(const std::string& raw, Method method = Method::kGet,
                  std::string_view reason = {}) {
  SCOPED_TRACE(raw);
  const Parsed whole = parse_whole(raw, method);
  ASSERT_EQ(whole.status, ParseStatus::kError);
  EXPECT_STRNE(whole.head.error_reason, "");
  if (!reason.empty()) {
    EXPECT_NE(std::string_view(whole.head.error_reason).find(reason), std::string_view::npos)
        << whole.head.error_reason;
  }
  ResponseParser parser;
  ResponseHead head;
  ParseStatus st = ParseStatus::kIncomplete;
  for (size_t k = 1; k <= raw.size() && st == ParseStatus::kIncomplete; ++k) {
    st = parser.parse(std::string_view(raw).substr(0, k), method, head);
  }
  ASSERT_EQ(st, ParseStatus::kError);
  EXPECT_STREQ(head.error_reason, whole.head.error_reason);
}

TEST(ResponseParser, OkWithContentLength) {
  const std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
      "Server: test \r\n\r\nhello";
  const Parsed r = parse_whole(raw);
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.head.reason, "OK");
  EXPECT_EQ(r.head.version_minor, 1);
  ASSERT_EQ(r.head.headers.size(), 3u);
  EXPECT_EQ(r.head.headers[2].value, "test");
  EXPECT_EQ(r.head.body, BodyKind::kContentLength);
  EXPECT_EQ(r.head.content_length, 5u);
  EXPECT_TRUE(r.head.keep_alive);
  EXPECT_EQ(r.head_length, raw.size() - 5);
  check_every_split(raw);
}

TEST(ResponseParser, StatusCodesAndReasons) {
  struct Case {
    const char* line;
    int status;
    const char* reason;
  };
  for (const Case& c :
       {Case{"HTTP/1.1 404 Not Found", 404, "Not Found"},
        Case{"HTTP/1.1 503 Service  Unavailable\t!", 503, "Service  Unavailable\t!"},
        Case{"HTTP/1.1 200 ", 200, ""}, Case{"HTTP/1.1 200", 200, ""},
        Case{"HTTP/1.1 599 x", 599, "x"}, Case{"HTTP/1.0 301 Moved", 301, "Moved"},
        Case{"HTTP/1.1 200 D\xC3\xA9j\xC3\xA0", 200, "D\xC3\xA9j\xC3\xA0"}}) {
    const std::string raw = std::string(c.line) + "\r\nContent-Length: 0\r\n\r\n";
    const Parsed r = parse_whole(raw);
    ASSERT_EQ(r.status, ParseStatus::kDone) << c.line << r.head.error_reason;
    EXPECT_EQ(r.head.status, c.status);
    EXPECT_EQ(r.head.reason, c.reason);
  }
  check_every_split("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
}

TEST(ResponseParser, NoBodyForHeadAnd1xx204And304) {
  const std::string with_cl = "Content-Length: 1234\r\n\r\n";
  const Parsed head = parse_whole("HTTP/1.1 200 OK\r\n" + with_cl, Method::kHead);
  ASSERT_EQ(head.status, ParseStatus::kDone);
  EXPECT_EQ(head.head.body, BodyKind::kNone);
  EXPECT_EQ(head.head.content_length, 1234u);
  EXPECT_TRUE(head.head.keep_alive);
  const Parsed head_chunked =
      parse_whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::kHead);
  EXPECT_EQ(head_chunked.head.body, BodyKind::kNone);
  for (const char* line :
       {"HTTP/1.1 100 Continue", "HTTP/1.1 101 Switching Protocols", "HTTP/1.1 103 Early Hints",
        "HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified"}) {
    const Parsed r = parse_whole(std::string(line) + "\r\n" + with_cl);
    ASSERT_EQ(r.status, ParseStatus::kDone) << line;
    EXPECT_EQ(r.head.body, BodyKind::kNone) << line;
    const Parsed bare = parse_whole(std::string(line) + "\r\n\r\n");
    EXPECT_EQ(bare.head.body, BodyKind::kNone) << line;
    EXPECT_TRUE(bare.head.keep_alive) << line;
  }
  const Parsed tunnel =
      parse_whole("HTTP/1.1 200 Connection established\r\n\r\n", Method::kConnect);
  EXPECT_EQ(tunnel.head.body, BodyKind::kNone);
}

TEST(ResponseParser, InterimThenFinalResponse) {
  const std::string raw =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  ResponseParser parser;
  ResponseHead head;
  ASSERT_EQ(parser.parse(raw, Method::kPost, head), ParseStatus::kDone);
  EXPECT_EQ(head.status, 100);
  const size_t used = parser.head_length();
  EXPECT_EQ(used, 25u);
  parser.reset();
  ASSERT_EQ(parser.parse(std::string_view(raw).substr(used), Method::kPost, head),
            ParseStatus::kDone);
  EXPECT_EQ(head.status, 201);
  EXPECT_EQ(head.body, BodyKind::kContentLength);
  EXPECT_EQ(head.content_length, 2u);
}

TEST(ResponseParser, UntilClose) {
  const std::string raw = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>";
  const Parsed r = parse_whole(raw);
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.head.body, BodyKind::kUntilClose);
  EXPECT_FALSE(r.head.keep_alive);
  const Parsed ka = parse_whole("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(ka.head.body, BodyKind::kUntilClose);
  EXPECT_FALSE(ka.head.keep_alive);
  check_every_split(raw);
}

TEST(ResponseParser, Chunked) {
  const std::string raw =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: "
      "X-Sum\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  const Parsed r = parse_whole(raw);
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.head.body, BodyKind::kChunked);
  EXPECT_TRUE(r.head.keep_alive);
  check_every_split(raw);
  // Other codings before the final chunked keep the framing well defined.
  const Parsed gz = parse_whole(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n\r\n");
  ASSERT_EQ(gz.status, ParseStatus::kDone) << gz.head.error_reason;
  EXPECT_EQ(gz.head.body, BodyKind::kChunked);
}

TEST(ResponseParser, KeepAliveRules) {
  struct Case {
    const char* raw;
    bool keep_alive;
    bool has_connection;
  };
  for (const Case& c : {
           Case{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, false},
           Case{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false, true},
           Case{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Upgrade, CLOSE\r\n\r\n", false,
                true},
           Case{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", true,
                true},
           Case{"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, false},
           Case{"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n", true,
                true},
           Case{"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\nConnection: "
                "close\r\n\r\n",
                false, true},
       }) {
    const Parsed r = parse_whole(c.raw);
    ASSERT_EQ(r.status, ParseStatus::kDone) << c.raw;
    EXPECT_EQ(r.head.keep_alive, c.keep_alive) << c.raw;
    EXPECT_EQ(r.head.has_connection_header, c.has_connection) << c.raw;
  }
}

TEST(ResponseParser, DuplicateEqualContentLength) {
  const Parsed r =
      parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7, 7\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.head.content_length, 7u);
}

TEST(ResponseParserErrors, ContentLengthAndTransferEncoding) {
  expect_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
               Method::kGet, "both");
  expect_error("HTTP/1.1 204 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
               Method::kGet, "both");
}

TEST(ResponseParserErrors, BadContentLength) {
  for (const char* v : {"abc", "-1", "", "1 2", "0x10", "5, 6", "99999999999999999999"}) {
    expect_error(std::string("HTTP/1.1 200 OK\r\nContent-Length: ") + v + "\r\n\r\n", Method::kGet,
                 "Content-Length");
  }
  expect_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", Method::kGet,
               "Content-Length");
}

TEST(ResponseParserErrors, TransferEncodingNotEndingInChunked) {
  for (const char* v :
       {"gzip", "chunked, gzip", "identity", "chunked, chunked", "", "x y, chunked"}) {
    expect_error(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: ") + v + "\r\n\r\n",
                 Method::kGet, "Transfer-Encoding");
  }
  expect_error("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::kGet, "HTTP/1.0");
}

TEST(ResponseParserErrors, StatusLine) {
  for (const char* line :
       {"HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/2 200 OK", "HTTP/2.0 200 OK", "HTTP/1.2 200 OK",
        "http/1.1 200 OK", "HTTP/1.1  200 OK", "HTTP/1.1 099 Low", "HTTP/1.1 600 High",
        "HTTP/1.1 200\tOK", "HTTP/1.1 200OK", "HTTP/1.1 2x0 OK", "ICY 200 OK",
        "HTTP/1.1 200 O\x01K", "HTTP/1.1 200 O\x7fK", "HTTP/1.1 200 OK\r"}) {
    expect_error(std::string(line) + "\r\nContent-Length: 0\r\n\r\n");
  }
  expect_error("\r\nHTTP/1.1 200 OK\r\n\r\n");
}

TEST(ResponseParserErrors, FieldSyntax) {
  expect_error("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", Method::kGet, "bare LF");
  expect_error("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", Method::kGet, "bare LF");
  expect_error("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", Method::kGet, "bare CR");
  expect_error("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", Method::kGet, "obs-fold");
  expect_error("HTTP/1.1 200 OK\r\n X: a\r\n\r\n", Method::kGet, "obs-fold");
  expect_error("HTTP/1.1 200 OK\r\nX : a\r\n\r\n", Method::kGet, "colon");
  expect_error("HTTP/1.1 200 OK\r\n: a\r\n\r\n", Method::kGet, "empty field name");
  expect_error("HTTP/1.1 200 OK\r\nX{}: a\r\n\r\n", Method::kGet, "field name");
  expect_error(std::string("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 27), Method::kGet, "field value");
}

TEST(ResponseParserErrors, Limits) {
  ParserLimits limits;
  limits.max_head_bytes = 128;
  limits.max_headers = 3;
  const std::string too_big = "HTTP/1.1 200 OK\r\nX: " + std::string(200, 'a');
  ResponseParser p1(limits);
  ResponseHead head;
  EXPECT_EQ(p1.parse(std::string_view(too_big).substr(0, 128), Method::kGet, head),
            ParseStatus::kIncomplete);
  EXPECT_EQ(p1.parse(too_big, Method::kGet, head), ParseStatus::kError);
  EXPECT_STREQ(head.error_reason, "response head too large");
  ResponseParser p2(limits);
  EXPECT_EQ(p2.parse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", Method::kGet, head),
            ParseStatus::kError);
  EXPECT_STREQ(head.error_reason, "too many header fields");
  ResponseParser p3(limits);
  EXPECT_EQ(p3.parse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", Method::kGet, head),
            ParseStatus::kDone);
}

}  // namespace
}  // namespace sluice::http
