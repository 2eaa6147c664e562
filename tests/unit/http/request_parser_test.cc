#include "http/request_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace sluice::http {
namespace {

struct Parsed {
  ParseStatus status = ParseStatus::kIncomplete;
  RequestHead head;
  size_t head_length = 0;
};

Parsed parse_whole(std::string_view raw, const ParserLimits& limits = {}) {
  Parsed r;
  RequestParser parser(limits);
  r.status = parser.parse(raw, r.head);
  r.head_length = parser.head_length();
  return r;
}

// Compares every field of two heads by content (their views may point into different buffers).
void expect_same_head(const RequestHead& a, const RequestHead& b) {
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.method_text, b.method_text);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.path, b.path);
  EXPECT_EQ(a.query, b.query);
  EXPECT_EQ(a.version_minor, b.version_minor);
  ASSERT_EQ(a.headers.size(), b.headers.size());
  for (size_t i = 0; i < a.headers.size(); ++i) {
    EXPECT_EQ(a.headers[i].name, b.headers[i].name) << i;
    EXPECT_EQ(a.headers[i].value, b.headers[i].value) << i;
  }
  EXPECT_EQ(a.host, b.host);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.content_length, b.content_length);
  EXPECT_EQ(a.keep_alive, b.keep_alive);
  EXPECT_EQ(a.expect_continue, b.expect_continue);
  EXPECT_EQ(a.has_connection_header, b.has_connection_header);
  EXPECT_EQ(a.error_status, b.error_status);
  EXPECT_STREQ(a.error_reason, b.error_reason);
}

// All views of `head` lie inside `buf` (the "/" of an absolute-form target without path aside).
void expect_views_inside(const RequestHead& head, std::string_view buf) {
  auto inside = [&](std::string_view v) {
    return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
  };
  EXPECT_TRUE(inside(head.method_text));
  EXPECT_TRUE(inside(head.target));
  EXPECT_TRUE(head.path == "/" || inside(head.path));
  EXPECT_TRUE(inside(head.query));
  EXPECT_TRUE(inside(head.host));
  for (const Header& h : head.headers) {
    EXPECT_TRUE(inside(h.name));
    EXPECT_TRUE(inside(h.value));
  }
}

// Feeds `raw` cut at every point, and byte by byte (moving the bytes to a fresh buffer before
// each call), and checks each way gives exactly the result of parsing it whole.
void check_every_split(const std::string& raw, const Parsed& whole,
                       const ParserLimits& limits = {}) {
  ASSERT_EQ(whole.status, ParseStatus::kDone);
  for (size_t k = 0; k <= raw.size(); ++k) {
    RequestParser parser(limits);
    RequestHead head;
    const ParseStatus first = parser.parse(std::string_view(raw).substr(0, k), head);
    if (k < whole.head_length) {
      ASSERT_EQ(first, ParseStatus::kIncomplete) << "k=" << k;
      ASSERT_EQ(parser.parse(raw, head), ParseStatus::kDone) << "k=" << k;
    } else {
      ASSERT_EQ(first, ParseStatus::kDone) << "k=" << k;
    }
    EXPECT_EQ(parser.head_length(), whole.head_length) << "k=" << k;
    expect_same_head(head, whole.head);
  }
  RequestParser parser(limits);
  RequestHead head;
  std::string moving;
  ParseStatus st = ParseStatus::kIncomplete;
  for (size_t k = 1; k <= raw.size() && st == ParseStatus::kIncomplete; ++k) {
    std::string next(raw.substr(0, k));  // a new buffer each time: views must not be kept
    moving.swap(next);
    st = parser.parse(moving, head);
    if (k < whole.head_length) {
      ASSERT_EQ(st, ParseStatus::kIncomplete) << "k=" << k;
    }
  }
  ASSERT_EQ(st, ParseStatus::kDone);
  EXPECT_EQ(parser.head_length(), whole.head_length);
  expect_same_head(head, whole.head);
  expect_views_inside(head, moving);
}

// The request must be rejected with `status`, whole and byte by byte, with the same reason.
void expect_error(const std::string& raw, uint16_t status, const ParserLimits& limits = {},
                  std::string_view reason = {}) {
  SCOPED_TRACE(raw);
  const Parsed whole = parse_whole(raw, limits);
  ASSERT_EQ(whole.status, ParseStatus::kError);
  EXPECT_EQ(whole.head.error_status, status) << whole.head.error_reason;
  EXPECT_STRNE(whole.head.error_reason, "");
  if (!reason.empty()) {
    EXPECT_NE(std::string_view(whole.head.error_reason).find(reason), std::string_view::npos)
        << whole.head.error_reason;
  }
  RequestParser parser(limits);
  RequestHead head;
  ParseStatus st = ParseStatus::kIncomplete;
  for (size_t k = 1; k <= raw.size() && st == ParseStatus::kIncomplete; ++k) {
    st = parser.parse(std::string_view(raw).substr(0, k), head);
  }
  ASSERT_EQ(st, ParseStatus::kError);
  EXPECT_EQ(head.error_status, status);
  EXPECT_STREQ(head.error_reason, whole.head.error_reason);
}

Parsed expect_ok(const std::string& raw, const ParserLimits& limits = {}) {
  Parsed r = parse_whole(raw, limits);
  EXPECT_EQ(r.status, ParseStatus::kDone)
      << raw << " -> " << r.head.error_status << " " << r.head.error_reason;
  return r;
}

std::string with_host(std::string_view first_line, std::string_view fields = "") {
  return std::string(first_line) + "\r\nHost: example.com\r\n" + std::string(fields) + "\r\n";
}

// ---------------------------------------------------------------------------------------------
// Valid requests, fed every possible way.

const std::string kBrowserGet =
    "GET /search/results?q=http+parser&lang=en HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=abc123; theme=dark\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "X-Empty:\r\n"
    "X-Tabbed: \t a\tb \t\r\n"
    "\r\n";

TEST(RequestParser, BrowserGetWithManyHeaders) {
  const Parsed r = expect_ok(kBrowserGet);
  const RequestHead& h = r.head;
  EXPECT_EQ(r.head_length, kBrowserGet.size());
  EXPECT_EQ(h.method, Method::kGet);
  EXPECT_EQ(h.method_text, "GET");
  EXPECT_EQ(h.target, "/search/results?q=http+parser&lang=en");
  EXPECT_EQ(h.path, "/search/results");
  EXPECT_EQ(h.query, "q=http+parser&lang=en");
  EXPECT_EQ(h.version_minor, 1);
  ASSERT_EQ(h.headers.size(), 12u);
  EXPECT_EQ(h.headers[0].name, "Host");
  EXPECT_EQ(h.headers[0].value, "www.example.com");
  EXPECT_EQ(h.headers[2].value, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
  EXPECT_EQ(h.headers[10].name, "X-Empty");
  EXPECT_EQ(h.headers[10].value, "");
  EXPECT_EQ(h.headers[11].value, "a\tb");
  EXPECT_EQ(h.host, "www.example.com");
  EXPECT_EQ(h.body, BodyKind::kNone);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_TRUE(h.has_connection_header);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_EQ(h.error_status, 0);
  check_every_split(kBrowserGet, r);
}

TEST(RequestParser, PostWithContentLength) {
  const std::string raw =
      "POST /api/v1/items HTTP/1.1\r\nHost: api.example.com:8080\r\n"
      "Content-Type: application/json\r\nContent-Length: 13\r\nExpect: 100-Continue\r\n\r\n"
      "{\"a\":\"hello\"}";
  const Parsed r = expect_ok(raw);
  EXPECT_EQ(r.head.method, Method::kPost);
  EXPECT_EQ(r.head.body, BodyKind::kContentLength);
  EXPECT_EQ(r.head.content_length, 13u);
  EXPECT_EQ(r.head_length, raw.size() - 13);
  EXPECT_EQ(r.head.host, "api.example.com:8080");
  EXPECT_TRUE(r.head.expect_continue);
  EXPECT_FALSE(r.head.has_connection_header);
  check_every_split(raw, r);
}

TEST(RequestParser, ChunkedPost) {
  const std::string raw =
      "POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding:  Chunked \r\n"
      "Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  const Parsed r = expect_ok(raw);
  EXPECT_EQ(r.head.body, BodyKind::kChunked);
  EXPECT_EQ(r.head.content_length, 0u);
  EXPECT_FALSE(r.head.keep_alive);
  EXPECT_TRUE(r.head.has_connection_header);
  EXPECT_EQ(r.head.headers[1].value, "Chunked");
  check_every_split(raw, r);
}

TEST(RequestParser, Http10) {
  const std::string raw =
      "GET /index.html HTTP/1.0\r\nUser-Agent: old\r\nExpect: 100-continue\r\n\r\n";
  const Parsed r = expect_ok(raw);
  EXPECT_EQ(r.head.version_minor, 0);
  EXPECT_FALSE(r.head.keep_alive);
  EXPECT_EQ(r.head.host, "");
  EXPECT_FALSE(r.head.expect_continue);  // RFC 9110 10.1.1: ignored in HTTP/1.0
  check_every_split(raw, r);

  const std::string ka_raw = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: a\r\n\r\n";
  const Parsed ka = expect_ok(ka_raw);
  EXPECT_TRUE(ka.head.keep_alive);
  EXPECT_EQ(ka.head.host, "a");
  const Parsed both = expect_ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
  EXPECT_FALSE(both.head.keep_alive);
}

TEST(RequestParser, AbsoluteForm) {
  const std::string raw =
      "GET HTTP://upstream.internal:9000/a/b%20c?x=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n";
  const Parsed r = expect_ok(raw);
  EXPECT_EQ(r.head.target, "HTTP://upstream.internal:9000/a/b%20c?x=1");
  EXPECT_EQ(r.head.host, "upstream.internal:9000");
  EXPECT_EQ(r.head.path, "/a/b%20c");
  EXPECT_EQ(r.head.query, "x=1");
  check_every_split(raw, r);

  const std::string no_path_raw = with_host("GET https://example.com HTTP/1.1");
  const Parsed no_path = expect_ok(no_path_raw);
  EXPECT_EQ(no_path.head.path, "/");
  EXPECT_EQ(no_path.head.query, "");
  EXPECT_EQ(no_path.head.host, "example.com");
  const std::string query_only_raw = with_host("GET http://[::1]:8080?a=b HTTP/1.1");
  const Parsed query_only = expect_ok(query_only_raw);
  EXPECT_EQ(query_only.head.path, "/");
  EXPECT_EQ(query_only.head.query, "a=b");
  EXPECT_EQ(query_only.head.host, "[::1]:8080");
}

TEST(RequestParser, PipelinedSecondRequest) {
  const std::string first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string second = "GET /b?c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string raw = first + second;
  RequestParser parser;
  RequestHead head;
  ASSERT_EQ(parser.parse(raw, head), ParseStatus::kDone);
  EXPECT_EQ(parser.head_length(), first.size() - 3);
  EXPECT_EQ(head.path, "/a");
  const size_t next = parser.head_length() + head.content_length;

  parser.reset();
  const std::string_view rest = std::string_view(raw).substr(next);
  const Parsed r = parse_whole(rest);
  ASSERT_EQ(parser.parse(rest, head), ParseStatus::kDone);
  EXPECT_EQ(parser.head_length(), second.size());
  EXPECT_EQ(head.path, "/b");
  EXPECT_EQ(head.query, "c");
  EXPECT_FALSE(head.keep_alive);
  expect_same_head(head, r.head);
  check_every_split(std::string(rest), r);
}

TEST(RequestParser, OptionsAsteriskAndLeadingEmptyLines) {
  const std::string raw = "\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n";
  const Parsed r = expect_ok(raw);
  EXPECT_EQ(r.head.method, Method::kOptions);
  EXPECT_EQ(r.head.path, "*");
  EXPECT_EQ(r.head.target, "*");
  EXPECT_EQ(r.head_length, raw.size());
  check_every_split(raw, r);
}

TEST(RequestParser, UnknownMethodAndOddButValidBytes) {
  const std::string raw =
      "PURGE /caf%C3%a9/~user/!$&'()*+,;=:@?q=%zz&x=/? HTTP/1.1\r\nHost: h\r\n"
      "X-Obs-Text: caf\xC3\xA9\r\nx-lower:v\r\n\r\n";
  const Parsed r = expect_ok(raw);
  EXPECT_EQ(r.head.method, Method::kOther);
  EXPECT_EQ(r.head.method_text, "PURGE");
  EXPECT_EQ(r.head.path, "/caf%C3%a9/~user/!$&'()*+,;=:@");
  EXPECT_EQ(r.head.query, "q=%zz&x=/?");  // escapes are only checked in the path
  EXPECT_EQ(r.head.headers[1].value, "caf\xC3\xA9");
  EXPECT_EQ(r.head.headers[2].value, "v");
  check_every_split(raw, r);
}

TEST(RequestParser, ContentLengthZeroAndDuplicates) {
  const Parsed zero = expect_ok(with_host("POST / HTTP/1.1", "Content-Length: 0\r\n"));
  EXPECT_EQ(zero.head.body, BodyKind::kContentLength);
  EXPECT_EQ(zero.head.content_length, 0u);
  const Parsed dup =
      expect_ok(with_host("POST / HTTP/1.1", "Content-Length: 5\r\ncontent-length: 005\r\n"));
  EXPECT_EQ(dup.head.content_length, 5u);
  const Parsed list = expect_ok(with_host("POST / HTTP/1.1", "Content-Length: 5, 5\r\n"));
  EXPECT_EQ(list.head.content_length, 5u);
  const Parsed max =
      expect_ok(with_host("POST / HTTP/1.1", "Content-Length: 9223372036854775807\r\n"));
  EXPECT_EQ(max.head.content_length, 9223372036854775807u);
}

TEST(RequestParser, ReusesHeaderCapacity) {
  RequestParser parser;
  RequestHead head;
  ASSERT_EQ(parser.parse(kBrowserGet, head), ParseStatus::kDone);
  const Header* storage = head.headers.data();
  const size_t cap = head.headers.capacity();
  parser.reset();
  ASSERT_EQ(parser.parse(kBrowserGet, head), ParseStatus::kDone);
  EXPECT_EQ(head.headers.data(), storage);
  EXPECT_EQ(head.headers.capacity(), cap);
  head.clear();
  EXPECT_TRUE(head.headers.empty());
  EXPECT_EQ(head.headers.capacity(), cap);
}

TEST(RequestParser, ParseAgainAfterDoneIsStable) {
  RequestParser parser;
  RequestHead a;
  RequestHead b;
  ASSERT_EQ(parser.parse(kBrowserGet, a), ParseStatus::kDone);
  ASSERT_EQ(parser.parse(kBrowserGet, b), ParseStatus::kDone);
  expect_same_head(a, b);
}

// ---------------------------------------------------------------------------------------------
// Framing: Content-Length and Transfer-Encoding.

TEST(RequestParserErrors, BothContentLengthAndTransferEncoding) {
  expect_error(with_host("POST / HTTP/1.1", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
               400);
  expect_error(with_host("POST / HTTP/1.1", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
               400);
}

TEST(RequestParserErrors, ConflictingContentLengths) {
  expect_error(with_host("POST / HTTP/1.1", "Content-Length: 5\r\nContent-Length: 6\r\n"), 400, {},
               "Content-Length");
  expect_error(with_host("POST / HTTP/1.1", "Content-Length: 5, 6\r\n"), 400, {}, "Content-Length");
}

TEST(RequestParserErrors, ContentLengthNotDecimal) {
  for (const char* v : {"-5", "+5", "", " ", "5 5", "0x5", "1a", "5,", ",5", "5;", "1e3",
                        "9223372036854775808", "18446744073709551616", "99999999999999999999"}) {
    expect_error(with_host("POST / HTTP/1.1", std::string("Content-Length: ") + v + "\r\n"), 400,
                 {}, "invalid Content-Length");
  }
}

TEST(RequestParserErrors, TransferEncodingInHttp10) {
  expect_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, {}, "HTTP/1.0");
}

TEST(RequestParserErrors, TransferEncodingNotExactlyChunked) {
  for (const char* v : {"gzip, chunked", "chunked, gzip", "identity", "chunked, chunked", "gzip",
                        "chunked;q=1", "", "chunked,"}) {
    expect_error(with_host("POST / HTTP/1.1", std::string("Transfer-Encoding: ") + v + "\r\n"), 501,
                 {}, "Transfer-Encoding");
  }
  expect_error(
      with_host("POST / HTTP/1.1", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
      501);
}

// ---------------------------------------------------------------------------------------------
// Line syntax.

TEST(RequestParserErrors, BareLf) {
  expect_error("GET / HTTP/1.1\nHost: h\r\n\r\n", 400, {}, "bare LF");
  expect_error("GET / HTTP/1.1\r\nHost: h\n\r\n", 400, {}, "bare LF");
  expect_error("GET / HTTP/1.1\r\nHost: h\r\n\n", 400, {}, "bare LF");
  expect_error("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}, "bare LF");
}

TEST(RequestParserErrors, BareCr) {
  expect_error("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nHost: h\r\n\rX: y\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", 400);
  expect_error("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  expect_error("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(RequestParserErrors, ObsFold) {
  expect_error(with_host("GET / HTTP/1.1", "X-A: one\r\n two\r\n"), 400, {}, "obs-fold");
  expect_error(with_host("GET / HTTP/1.1", "X-A: one\r\n\ttwo\r\n"), 400, {}, "obs-fold");
}

TEST(RequestParserErrors, WhitespaceBetweenNameAndColon) {
  expect_error(with_host("GET / HTTP/1.1", "X-A : one\r\n"), 400, {}, "colon");
  expect_error(with_host("GET / HTTP/1.1", "X-A\t: one\r\n"), 400, {}, "colon");
  expect_error("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, {}, "colon");
}

TEST(RequestParserErrors, SpaceInsideAFieldNameIsAnInvalidName) {
  expect_error(with_host("GET / HTTP/1.1", "Two Words: one\r\n"), 400, {}, "invalid field name");
  expect_error(with_host("GET / HTTP/1.1", "X-A B : one\r\n"), 400, {}, "invalid field name");
}

TEST(RequestParserErrors, WhitespaceBeforeFirstHeaderLine) {
  expect_error("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, {}, "whitespace before field name");
  expect_error("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", 400, {}, "whitespace before field name");
  expect_error("GET / HTTP/1.1\r\n \r\nHost: h\r\n\r\n", 400, {}, "whitespace before field name");
}

TEST(RequestParserErrors, EmptyFieldName) {
  expect_error(with_host("GET / HTTP/1.1", ": value\r\n"), 400, {}, "empty field name");
}

TEST(RequestParserErrors, FieldNameWithNonTchar) {
  for (const char* name : {"X@A", "X(A)", "X\"A", "X/A", "X[A]", "X{A}", "X\x80", "X=A"}) {
    expect_error(with_host("GET / HTTP/1.1", std::string(name) + ": v\r\n"), 400);
  }
  expect_error(with_host("GET / HTTP/1.1", "NoColon\r\n"), 400);
}

TEST(RequestParserErrors, FieldValueWithControlBytes) {
  for (char c : {'\x00', '\x01', '\x08', '\x0b', '\x0c', '\x1b', '\x1f', '\x7f'}) {
    std::string v = "a";
    v.push_back(c);
    v += "b";
    expect_error(with_host("GET / HTTP/1.1", "X-A: " + v + "\r\n"), 400, {}, "field value");
  }
}

// ---------------------------------------------------------------------------------------------
// Host.

TEST(RequestParserErrors, MissingHostInHttp11) {
  expect_error("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, {}, "missing Host");
  expect_error("GET http://example.com/ HTTP/1.1\r\n\r\n", 400, {}, "missing Host");
}

TEST(RequestParserErrors, MultipleHostHeaders) {
  expect_error("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, {}, "multiple Host");
  expect_error("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400, {}, "multiple Host");
}

TEST(RequestParserErrors, InvalidHostValue) {
  for (const char* v : {"a b", "a/b", "user@a", "a\x01", "", "a,b", "a:b:c", "a:port", "a:123456",
                        "[::1", "[zz]", "a%2", ":80", "a:"}) {
    expect_error(std::string("GET / HTTP/1.1\r\nHost: ") + v + "\r\n\r\n", 400);
  }
  for (const char* v : {"example.com", "example.com:8080", "127.0.0.1:80", "[::1]", "[::1]:443",
                        "xn--bcher-kva.example", "a_b-c~d", "%41b"}) {
    expect_ok(std::string("GET / HTTP/1.1\r\nHost: ") + v + "\r\n\r\n");
  }
}

// ---------------------------------------------------------------------------------------------
// Request line.

TEST(RequestParserErrors, RequestLineShape) {
  expect_error(with_host("GET  / HTTP/1.1"), 400);
  expect_error(with_host("GET /  HTTP/1.1"), 400);
  expect_error(with_host("GET / HTTP/1.1 "), 400);
  expect_error(with_host(" GET / HTTP/1.1"), 400);
  expect_error(with_host("GET\t/ HTTP/1.1"), 400);
  expect_error(with_host("GET /"), 400);
  expect_error(with_host("GET"), 400);
  expect_error(with_host("GET / HTTP/1.1 extra"), 400);
}

TEST(RequestParserErrors, MethodNotToken) {
  expect_error(with_host("G(T / HTTP/1.1"), 400, {}, "method");
  expect_error(with_host("GE\"T / HTTP/1.1"), 400, {}, "method");
  expect_error(std::string("\x16\x03\x01\x02\x00", 5), 400, {},
               "method");  // a TLS ClientHello: rejected at once
}

TEST(RequestParserErrors, UnsupportedVersion) {
  expect_error(with_host("GET / HTTP/2.0"), 505, {}, "version");
  expect_error(with_host("GET / HTTP/1.2"), 505, {}, "version");
  expect_error(with_host("GET / HTTP/0.9"), 505, {}, "version");
  expect_error(with_host("GET / HTTP/3.1"), 505, {}, "version");
}

TEST(RequestParserErrors, MalformedVersion) {
  for (const char* v : {"http/1.1", "HTTP/1.10", "HTTP/1", "HTTP/11", "HTTP/1.x", "HTTPS/1.1",
                        "HTTP/1,1", "HTTP/a.1"}) {
    expect_error(with_host(std::string("GET / ") + v), 400, {}, "version");
  }
}

// ---------------------------------------------------------------------------------------------
// Request target.

TEST(RequestParserErrors, AsteriskOnlyWithOptions) {
  expect_error(with_host("GET * HTTP/1.1"), 400);
  expect_error(with_host("OPTIONS *x HTTP/1.1"), 400);
}

TEST(RequestParserErrors, AuthorityFormWithoutConnect) {
  expect_error(with_host("GET example.com:443 HTTP/1.1"), 400);
  expect_error(with_host("GET relative/path HTTP/1.1"), 400);
  expect_error(with_host("GET ftp://example.com/ HTTP/1.1"), 400);
}

TEST(RequestParserErrors, ConnectNotSupported) {
  expect_error(with_host("CONNECT example.com:443 HTTP/1.1"), 501, {}, "CONNECT");
}

TEST(RequestParserErrors, InvalidAuthorityInAbsoluteForm) {
  expect_error(with_host("GET http://user@example.com/ HTTP/1.1"), 400, {}, "authority");
  expect_error(with_host("GET http:///path HTTP/1.1"), 400, {}, "authority");
  expect_error(with_host("GET http:// HTTP/1.1"), 400, {}, "authority");
  expect_error(with_host("GET http://a:b/ HTTP/1.1"), 400, {}, "authority");
}

TEST(RequestParserErrors, BytesOutsideVisibleAscii) {
  expect_error(with_host("GET /a\x7f HTTP/1.1"), 400);
  expect_error(with_host("GET /caf\xC3\xA9 HTTP/1.1"), 400);
  expect_error(with_host(std::string("GET /a\0b HTTP/1.1", 17)), 400);
}

TEST(RequestParserErrors, FragmentInTarget) {
  expect_error(with_host("GET /a#frag HTTP/1.1"), 400, {}, "request-target");
  expect_error(with_host("GET /a?b#c HTTP/1.1"), 400, {}, "request-target");
}

TEST(RequestParserErrors, MalformedPercentEscapes) {
  expect_error(with_host("GET /a%X HTTP/1.1"), 400, {}, "percent");
  expect_error(with_host("GET /a%GZ HTTP/1.1"), 400, {}, "percent");
  expect_error(with_host("GET /a% HTTP/1.1"), 400, {}, "percent");
  expect_error(with_host("GET /a%4 HTTP/1.1"), 400, {}, "percent");
  expect_error(with_host("GET /a%4?x HTTP/1.1"), 400, {}, "percent");
  expect_error(with_host("GET http://h/%zz HTTP/1.1"), 400, {}, "percent");
  expect_ok(with_host("GET /a%4a%2F HTTP/1.1"));
}

// ---------------------------------------------------------------------------------------------
// Limits.

TEST(RequestParserLimits, UriTooLongDetectedBeforeHeadIsComplete) {
  const ParserLimits limits;
  const std::string ok_uri = "/" + std::string(limits.max_uri_bytes - 1, 'a');
  expect_ok(with_host("GET " + ok_uri + " HTTP/1.1"));
  const std::string long_uri = ok_uri + "a";
  expect_error(with_host("GET " + long_uri + " HTTP/1.1"), 414);

  RequestParser parser;
  RequestHead head;
  const std::string partial = "GET " + long_uri;  // no version, no CRLF yet
  EXPECT_EQ(parser.parse(std::string_view(partial).substr(0, partial.size() - 1), head),
            ParseStatus::kIncomplete);
  EXPECT_EQ(parser.parse(partial, head), ParseStatus::kError);
  EXPECT_EQ(head.error_status, 414);
}

TEST(RequestParserLimits, HeadTooLargeDetectedBeforeHeadIsComplete) {
  ParserLimits limits;
  limits.max_head_bytes = 1024;
  std::string raw = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ";
  raw += std::string(limits.max_head_bytes - raw.size() - 4, 'x');
  raw += "\r\n\r\n";  // exactly max_head_bytes
  ASSERT_EQ(raw.size(), limits.max_head_bytes);
  const Parsed ok = expect_ok(raw, limits);
  check_every_split(raw, ok, limits);

  std::string big = raw;
  big.insert(40, "y");
  expect_error(big, 431, limits);

  RequestParser parser(limits);
  RequestHead head;
  const std::string endless = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(2000, 'x');
  EXPECT_EQ(parser.parse(std::string_view(endless).substr(0, 1024), head),
            ParseStatus::kIncomplete);
  EXPECT_EQ(parser.parse(std::string_view(endless).substr(0, 1025), head), ParseStatus::kError);
  EXPECT_EQ(head.error_status, 431);
}

TEST(RequestParserLimits, TooManyHeaderFields) {
  ParserLimits limits;
  limits.max_headers = 5;
  std::string fields;
  for (int i = 0; i < 4; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
  const Parsed ok = expect_ok(with_host("GET / HTTP/1.1", fields), limits);
  EXPECT_EQ(ok.head.headers.size(), 5u);
  expect_error(with_host("GET / HTTP/1.1", fields + "X-4: v\r\n"), 431, limits);
}

TEST(RequestParserLimits, LongTargetIsNotMistakenForLongHead) {
  // With a head limit below the URI limit, the head limit is what is hit.
  ParserLimits limits;
  limits.max_head_bytes = 100;
  limits.max_uri_bytes = 200;
  expect_error(with_host("GET /" + std::string(150, 'a') + " HTTP/1.1"), 431, limits);
}

}  // namespace
}  // namespace sluice::http
