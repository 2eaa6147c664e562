#include "proxy/messages.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::proxy {
namespace {

struct Parsed {
  std::string bytes;
  http::RequestHead head;
};

void parse(Parsed& p, std::string bytes) {
  p.bytes = std::move(bytes);
  http::RequestParser parser;
  ASSERT_EQ(parser.parse(p.bytes, p.head), http::ParseStatus::kDone) << p.head.error_reason;
}

TEST(Messages, UpstreamRequestDropsHopByHopAndSetsForwarding) {
  Parsed p;
  parse(p,
        "POST /users/7?x=1 HTTP/1.1\r\n"
        "Host: api.example.com\r\n"
        "Connection: keep-alive, X-Secret\r\n"
        "Keep-Alive: timeout=5\r\n"
        "X-Secret: s\r\n"
        "TE: trailers\r\n"
        "Upgrade: h2c\r\n"
        "Proxy-Authorization: Basic x\r\n"
        "X-Forwarded-For: 10.0.0.1\r\n"
        "X-Forwarded-For: 10.0.0.2\r\n"
        "X-Request-Id: client-id\r\n"
        "Expect: 100-continue\r\n"
        "Accept: */*\r\n"
        "Content-Length: 5\r\n\r\n");
  Route route;
  std::string out;
  render_upstream_request(p.head, route, "127.0.0.9", "rid-1", "/users/7", "10.1.1.1:80", out);
  EXPECT_EQ(out,
            "POST /users/7?x=1 HTTP/1.1\r\n"
            "Host: api.example.com\r\n"
            "Accept: */*\r\n"
            "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 127.0.0.9\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: api.example.com\r\n"
            "X-Request-Id: rid-1\r\n"
            "Content-Length: 5\r\n\r\n");
}

TEST(Messages, ChunkedRequestIsReframedChunked) {
  Parsed p;
  parse(p, "PUT /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
  Route route;
  std::string out;
  render_upstream_request(p.head, route, "::1", "r", "/a", "10.1.1.1:80", out);
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos);
  EXPECT_NE(out.find("X-Forwarded-For: ::1\r\n"), std::string::npos);
}

TEST(Messages, HostComesFromTheTargetAuthority) {
  Parsed p;
  parse(p, "GET http://real.example/x HTTP/1.1\r\nHost: other.example\r\n\r\n");
  Route route;
  std::string out;
  render_upstream_request(p.head, route, "127.0.0.1", "r", "/x", "10.1.1.1:80", out);
  EXPECT_EQ(out.rfind("GET /x HTTP/1.1\r\nHost: real.example\r\n", 0), 0u) << out;
  EXPECT_EQ(out.find("other.example"), std::string::npos);

  Parsed old;
  parse(old, "GET /x HTTP/1.0\r\n\r\n");
  out.clear();
  render_upstream_request(old.head, route, "127.0.0.1", "r", "/x", "10.1.1.1:80", out);
  EXPECT_EQ(out.rfind("GET /x HTTP/1.1\r\nHost: 10.1.1.1:80\r\n", 0), 0u) << out;
  EXPECT_EQ(out.find("X-Forwarded-Host"), std::string::npos);
}

TEST(Messages, UpstreamTargetKeepsOriginalUnlessRewritten) {
  Parsed p;
  parse(p, "GET /api/./v1/%7Eu?q=%20 HTTP/1.1\r\nHost: h\r\n\r\n");
  Route plain;
  std::string out;
  upstream_target(p.head, plain, "/api/v1/~u", out);
  EXPECT_EQ(out, "/api/./v1/%7Eu?q=%20");  // the original, byte for byte

  Route strip;
  strip.strip_prefix = "/api";
  out.clear();
  upstream_target(p.head, strip, "/api/v1/~u", out);
  EXPECT_EQ(out, "/v1/~u?q=%20");

  Route rewrite;
  rewrite.strip_prefix = "/api/v1";
  rewrite.rewrite_prefix = "/v2/";
  out.clear();
  upstream_target(p.head, rewrite, "/api/v1/~u", out);
  EXPECT_EQ(out, "/v2/~u?q=%20");

  Route whole;
  whole.strip_prefix = "/api/v1/~u";
  out.clear();
  upstream_target(p.head, whole, "/api/v1/~u", out);
  EXPECT_EQ(out, "/?q=%20");

  Route partial;  // "/ap" is not a segment prefix of "/api/..."
  partial.strip_prefix = "/ap";
  out.clear();
  upstream_target(p.head, partial, "/api/v1/~u", out);
  EXPECT_EQ(out, "/api/v1/~u?q=%20");
}

TEST(Messages, ClientResponseFraming) {
  std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\n"
      "X-Hop: 1\r\nTransfer-Encoding: chunked\r\nX-Request-Id: upstream\r\n\r\n";
  http::ResponseParser parser;
  http::ResponseHead head;
  ASSERT_EQ(parser.parse(raw, http::Method::kGet, head), http::ParseStatus::kDone);
  std::string out;
  render_client_response(head, "rid", ResponseFraming::kChunked, false, false, "", out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Request-Id: rid\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
  out.clear();
  render_client_response(head, "rid", ResponseFraming::kClose, true, false, "", out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Request-Id: rid\r\n"
            "Connection: close\r\n\r\n");
}

TEST(Messages, HeadResponseKeepsDeclaredLength) {
  std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
  http::ResponseParser parser;
  http::ResponseHead head;
  ASSERT_EQ(parser.parse(raw, http::Method::kHead, head), http::ParseStatus::kDone);
  EXPECT_EQ(head.body, http::BodyKind::kNone);
  std::string out;
  render_client_response(head, "r", ResponseFraming::kAsIs, false, true, "", out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Request-Id: r\r\n"
            "Connection: keep-alive\r\n\r\n");
}

TEST(Messages, NoContentLengthOnA204) {
  // An upstream's 204 that declares a length: the client gets neither the field nor a body.
  for (const char* raw : {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                          "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"}) {
    http::ResponseParser parser;
    http::ResponseHead head;
    ASSERT_EQ(parser.parse(raw, http::Method::kGet, head), http::ParseStatus::kDone);
    EXPECT_EQ(head.body, http::BodyKind::kNone);
    std::string out;
    render_client_response(head, "r", ResponseFraming::kAsIs, false, false, "", out);
    if (head.status == 204) {
      EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\nX-Request-Id: r\r\n\r\n");
    } else {  // a 304 may say the length of what it stands for
      EXPECT_EQ(out, "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nX-Request-Id: r\r\n\r\n");
    }
  }
}

TEST(Messages, RequestIdValidation) {
  EXPECT_TRUE(valid_request_id("abc-DEF_1.2:3"));
  EXPECT_TRUE(valid_request_id(std::string(128, 'a')));
  EXPECT_FALSE(valid_request_id(std::string(129, 'a')));
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_FALSE(valid_request_id("a b"));
  EXPECT_FALSE(valid_request_id("a\"b"));
}

TEST(Messages, ErrorBodyIsJson) {
  EXPECT_EQ(error_body(404, "no route"), "{\"status\":404,\"error\":\"no route\"}\n");
  EXPECT_EQ(error_body(400, "bad \"x\""), "{\"status\":400,\"error\":\"bad \\\"x\\\"\"}\n");
}

TEST(Messages, HopByHopList) {
  for (const char* n : {"Connection", "keep-alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                        "Proxy-Authorization", "Proxy-Connection"}) {
    EXPECT_TRUE(is_hop_by_hop(n)) << n;
  }
  for (const char* n : {"Content-Length", "Host", "X-Request-Id", "Accept"}) {
    EXPECT_FALSE(is_hop_by_hop(n)) << n;
  }
}

}  // namespace
}  // namespace sluice::proxy
