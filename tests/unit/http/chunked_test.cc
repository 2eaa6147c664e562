#include "http/chunked.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::http {
namespace {

using Status = ChunkedDecoder::Status;

struct Decoded {
  Status status = Status::kNeedMore;
  std::string payload;
  size_t consumed = 0;  // over all pieces
  const char* reason = "";
};

// Feeds the pieces in order, each to exhaustion, as a connection would.
Decoded decode_pieces(const std::vector<std::string_view>& pieces) {
  ChunkedDecoder dec;
  Decoded d;
  for (std::string_view piece : pieces) {
    for (;;) {
      size_t used = 0;
      std::string_view data;
      const Status st = dec.decode(piece, &used, &data);
      EXPECT_LE(used, piece.size());
      d.consumed += used;
      if (st == Status::kData) {
        EXPECT_FALSE(data.empty());
        EXPECT_EQ(data.data() + data.size(), piece.data() + used);  // a view into the input
        d.payload.append(data);
      } else {
        EXPECT_TRUE(data.empty());
      }
      piece.remove_prefix(used);
      if (st == Status::kNeedMore) {
        EXPECT_TRUE(piece.empty());
        d.status = st;
        break;
      }
      if (st == Status::kDone || st == Status::kError) {
        d.status = st;
        d.reason = dec.error_reason();
        EXPECT_EQ(dec.done(), st == Status::kDone);
        return d;
      }
    }
  }
  return d;
}

// Every split into two pieces, every split into three around each byte, and byte-by-byte
// feeding give the same payload, status and consumed count as one call with everything.
Decoded check_every_split(const std::string& in) {
  const std::string_view s(in);
  const Decoded whole = decode_pieces({s});
  for (size_t k = 0; k <= s.size(); ++k) {
    const Decoded two = decode_pieces({s.substr(0, k), s.substr(k)});
    EXPECT_EQ(two.status, whole.status) << "k=" << k;
    EXPECT_EQ(two.payload, whole.payload) << "k=" << k;
    EXPECT_EQ(two.consumed, whole.consumed) << "k=" << k;
    EXPECT_STREQ(two.reason, whole.reason) << "k=" << k;
    if (k + 1 <= s.size()) {
      const Decoded three = decode_pieces({s.substr(0, k), s.substr(k, 1), s.substr(k + 1)});
      EXPECT_EQ(three.payload, whole.payload) << "k=" << k;
      EXPECT_EQ(three.consumed, whole.consumed) << "k=" << k;
    }
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < s.size(); ++i) bytes.push_back(s.substr(i, 1));
  const Decoded one_by_one = decode_pieces(bytes);
  EXPECT_EQ(one_by_one.status, whole.status);
  EXPECT_EQ(one_by_one.payload, whole.payload);
  EXPECT_EQ(one_by_one.consumed, whole.consumed);
  return whole;
}

constexpr std::string_view kNext = "GET /next HTTP/1.1\r\n";

TEST(ChunkedDecoder, SimpleMessageStopsAtItsEnd) {
  const std::string body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  const Decoded d = check_every_split(body + std::string(kNext));
  EXPECT_EQ(d.status, Status::kDone);
  EXPECT_EQ(d.payload, "hello world");
  EXPECT_EQ(d.consumed, body.size());
}

TEST(ChunkedDecoder, ExtensionsAndTrailers) {
  const std::string body =
      "4;name=value\r\nWiki\r\n"
      "5 ; a = \"q\\\"x;y\" ; b\t;c=d\r\npedia\r\n"
      "E;quoted=\"\"\r\n in\r\n\r\nchunks.\r\n"
      "0;last\r\nExpires: never\r\nX-Sum:\t12 \r\n\r\n";
  const Decoded d = check_every_split(body + std::string(kNext));
  EXPECT_EQ(d.status, Status::kDone) << d.reason;
  EXPECT_EQ(d.payload, "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(d.consumed, body.size());
}

TEST(ChunkedDecoder, HexCaseAndLeadingZeros) {
  const std::string payload(0x1a + 0xB, 'z');
  const std::string body = "1a\r\n" + payload.substr(0, 0x1a) + "\r\n000B\r\n" +
                           payload.substr(0x1a) + "\r\n0000000000000000\r\n\r\n";
  const Decoded d = check_every_split(body);
  EXPECT_EQ(d.status, Status::kDone);
  EXPECT_EQ(d.payload, payload);
  EXPECT_EQ(d.consumed, body.size());
}

TEST(ChunkedDecoder, IncompleteMessageNeedsMore) {
  const std::string part = "5\r\nhel";
  const Decoded d = check_every_split(part);
  EXPECT_EQ(d.status, Status::kNeedMore);
  EXPECT_EQ(d.payload, "hel");
  EXPECT_EQ(d.consumed, part.size());
}

TEST(ChunkedDecoder, LargestSizeIsAccepted) {
  ChunkedDecoder dec;
  size_t used = 0;
  std::string_view data;
  EXPECT_EQ(dec.decode("ffffffffffffffff\r\nabc", &used, &data), Status::kData);
  EXPECT_EQ(data, "abc");
  EXPECT_EQ(used, 21u);
}

TEST(ChunkedDecoder, DoneAndErrorAreSticky) {
  ChunkedDecoder dec;
  size_t used = 99;
  std::string_view data;
  EXPECT_EQ(dec.decode("0\r\n\r\nrest", &used, &data), Status::kDone);
  EXPECT_EQ(used, 5u);
  EXPECT_EQ(dec.decode("rest", &used, &data), Status::kDone);
  EXPECT_EQ(used, 0u);
  dec.reset();
  EXPECT_FALSE(dec.done());
  EXPECT_EQ(dec.decode("x", &used, &data), Status::kError);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(dec.decode("0\r\n\r\n", &used, &data), Status::kError);
  EXPECT_EQ(used, 0u);
  dec.reset();
  EXPECT_EQ(dec.decode("", &used, &data), Status::kNeedMore);
  EXPECT_EQ(used, 0u);
}

// The message must fail with a reason containing `reason`, at byte `at`, however it is split.
void expect_error(const std::string& in, std::string_view reason, size_t at) {
  SCOPED_TRACE(in.substr(0, 80));
  const Decoded d = check_every_split(in);
  ASSERT_EQ(d.status, Status::kError);
  EXPECT_NE(std::string_view(d.reason).find(reason), std::string_view::npos) << d.reason;
  EXPECT_EQ(d.consumed, at);
}

TEST(ChunkedDecoderErrors, ChunkSize) {
  expect_error("\r\n", "invalid chunk size", 0);
  expect_error("0x5\r\nhello\r\n0\r\n\r\n", "invalid chunk size", 1);
  expect_error(" 5\r\nhello\r\n0\r\n\r\n", "invalid chunk size", 0);
  expect_error("g\r\n", "invalid chunk size", 0);
  expect_error("-1\r\n", "invalid chunk size", 0);
  expect_error("+1\r\n", "invalid chunk size", 0);
  expect_error("5 \r\nhello\r\n", "invalid chunk size line", 2);
  expect_error("10000000000000000\r\n", "chunk size too large", 16);
  expect_error("00000000000000001\r\n", "chunk size too large", 16);
}

TEST(ChunkedDecoderErrors, BareLfAndBareCr) {
  expect_error("5\nhello\r\n", "invalid chunk size", 1);
  expect_error("5\rhello\r\n", "bare CR", 2);
  expect_error("5;a=b\nhello\r\n", "invalid chunk extension value", 5);
  expect_error("5\r\nhello\n0\r\n\r\n", "CRLF", 8);
  expect_error("5\r\nhello\r0\r\n\r\n", "CRLF", 9);
  expect_error("0\r\n\n", "invalid trailer field name", 3);
  expect_error("0\r\nX: y\n\r\n", "invalid character in trailer", 7);
  expect_error("0\r\nX: y\r\r\n", "bare CR", 8);
  expect_error("0\r\n\rX", "bare CR", 4);
}

TEST(ChunkedDecoderErrors, DataNotFollowedByCrlf) {
  expect_error("5\r\nhelloX\r\n0\r\n\r\n", "CRLF", 8);
  expect_error("3\r\nhello\r\n0\r\n\r\n", "CRLF", 6);
}

TEST(ChunkedDecoderErrors, Extensions) {
  expect_error("5;\r\nhello\r\n", "invalid chunk extension", 2);
  expect_error("5;=v\r\nhello\r\n", "invalid chunk extension", 2);
  expect_error("5;a=\r\nhello\r\n", "invalid chunk extension value", 4);
  expect_error("5;a=b c\r\nhello\r\n", "invalid chunk extension", 6);
  expect_error("5;a b\r\nhello\r\n", "invalid chunk extension", 4);
  expect_error("5;a=\"x\r\nhello\r\n", "invalid chunk extension value", 6);
  expect_error("5;a=\"x\"y\r\nhello\r\n", "invalid chunk extension value", 7);
  expect_error("5;a=b \r\nhello\r\n", "invalid chunk extension", 6);
  expect_error("5;a=@\r\nhello\r\n", "invalid chunk extension value", 4);
  expect_error("5;a\x01\r\nhello\r\n", "invalid chunk extension", 3);
}

TEST(ChunkedDecoderErrors, SizeLineTooLong) {
  std::string ext =
      "5;a=\"" + std::string(ChunkedDecoder::kMaxSizeLineBytes, 'x') + "\"\r\nhello\r\n";
  expect_error(ext, "too long", ChunkedDecoder::kMaxSizeLineBytes);
  // Exactly at the limit is fine.
  std::string fits = "5;a=\"" + std::string(ChunkedDecoder::kMaxSizeLineBytes - 8, 'x') + "\"\r\n";
  ASSERT_EQ(fits.size(), ChunkedDecoder::kMaxSizeLineBytes);
  const Decoded d = decode_pieces({fits + "hello\r\n0\r\n\r\n"});
  EXPECT_EQ(d.status, Status::kDone) << d.reason;
  EXPECT_EQ(d.payload, "hello");
}

TEST(ChunkedDecoderErrors, Trailers) {
  expect_error("0\r\n X: y\r\n\r\n", "obs-fold", 3);
  expect_error("0\r\nX: y\r\n z\r\n\r\n", "obs-fold", 9);
  expect_error("0\r\nX : y\r\n\r\n", "colon", 4);
  expect_error("0\r\n: y\r\n\r\n", "trailer field name", 3);
  expect_error("0\r\nX@: y\r\n\r\n", "trailer field name", 4);
  expect_error("0\r\nX: a\x01z\r\n\r\n", "invalid character in trailer", 7);
  expect_error("0\r\nX: a\x7fz\r\n\r\n", "invalid character in trailer", 7);
  expect_error("0\r\nNoColon\r\n\r\n", "trailer field name", 10);
}

TEST(ChunkedDecoderErrors, TrailerSectionTooLarge) {
  std::string in = "0\r\n";
  while (in.size() < 3 + ChunkedDecoder::kMaxTrailerBytes)
    in += "X-Pad: " + std::string(90, 'p') + "\r\n";
  in += "\r\n";
  const Decoded d = decode_pieces({in});
  EXPECT_EQ(d.status, Status::kError);
  EXPECT_STREQ(d.reason, "trailer section too large");
  EXPECT_EQ(d.consumed, 3 + ChunkedDecoder::kMaxTrailerBytes);
}

TEST(WriteChunkHeader, Sizes) {
  char buf[20];
  struct Case {
    uint64_t size;
    std::string_view text;
  };
  for (const Case& c : {Case{0, "0\r\n"}, Case{1, "1\r\n"}, Case{15, "f\r\n"}, Case{255, "ff\r\n"},
                        Case{4096, "1000\r\n"}, Case{0xdeadbeef, "deadbeef\r\n"},
                        Case{UINT64_MAX, "ffffffffffffffff\r\n"}}) {
    const size_t n = write_chunk_header(c.size, buf);
    EXPECT_EQ(std::string_view(buf, n), c.text);
  }
}

TEST(WriteChunkHeader, RoundTripsThroughDecoder) {
  std::string framed;
  std::string payload;
  char hdr[20];
  for (size_t size : {1, 7, 300, 4096}) {
    const std::string part(size, static_cast<char>('a' + size % 26));
    framed.append(hdr, write_chunk_header(size, hdr));
    framed += part + "\r\n";
    payload += part;
  }
  framed.append(hdr, write_chunk_header(0, hdr));
  framed += "\r\n";
  const Decoded d = decode_pieces({framed});
  EXPECT_EQ(d.status, Status::kDone);
  EXPECT_EQ(d.payload, payload);
  EXPECT_EQ(d.consumed, framed.size());
}

TEST(ForEachToken, SplitsTrimsAndSkipsEmpties) {
  std::vector<std::string_view> got;
  for_each_token(" a ,b,, \t,c\t, d e ,", [&](std::string_view t) { got.push_back(t); });
  EXPECT_EQ(got, (std::vector<std::string_view>{"a", "b", "c", "d e"}));
  got.clear();
  for_each_token("", [&](std::string_view t) { got.push_back(t); });
  for_each_token(" , ,", [&](std::string_view t) { got.push_back(t); });
  EXPECT_TRUE(got.empty());
}

TEST(ConnectionHasToken, AnyConnectionHeaderCaseInsensitive) {
  const std::vector<Header> headers = {
      {"Host", "close"}, {"Connection", "keep-alive"}, {"connection", "Upgrade, CLOSE"}};
  EXPECT_TRUE(connection_has_token(headers, "close"));
  EXPECT_TRUE(connection_has_token(headers, "upgrade"));
  EXPECT_TRUE(connection_has_token(headers, "Keep-Alive"));
  EXPECT_FALSE(connection_has_token(headers, "te"));
  EXPECT_FALSE(connection_has_token(headers, "clos"));
  EXPECT_FALSE(connection_has_token({}, "close"));
}

}  // namespace
}  // namespace sluice::http
