// Fuzz target for RequestParser: must never crash or read out of bounds, and parsing the input
// whole must give the same result as feeding it in two pieces (split at a point taken from the
// input) and byte-range invariants must hold. abort() on any mismatch.
// Input: byte 0 picks the limits and the split point; the rest is the request.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "http/request_parser.h"

using sluice::http::Header;
using sluice::http::ParserLimits;
using sluice::http::ParseStatus;
using sluice::http::RequestHead;
using sluice::http::RequestParser;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

void check_same(const RequestHead& a, const RequestHead& b) {
  check(a.method == b.method && a.method_text == b.method_text && a.target == b.target);
  check(a.path == b.path && a.query == b.query && a.version_minor == b.version_minor);
  check(a.host == b.host && a.body == b.body && a.content_length == b.content_length);
  check(a.keep_alive == b.keep_alive && a.expect_continue == b.expect_continue);
  check(a.has_connection_header == b.has_connection_header);
  check(a.error_status == b.error_status && std::strcmp(a.error_reason, b.error_reason) == 0);
  check(a.headers.size() == b.headers.size());
  for (size_t i = 0; i < a.headers.size(); ++i) {
    check(a.headers[i].name == b.headers[i].name && a.headers[i].value == b.headers[i].value);
  }
}

bool inside(std::string_view v, std::string_view buf) {
  return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t ctl = data[0];
  ParserLimits limits;
  if ((ctl & 1) != 0) {
    limits.max_head_bytes = 200;
    limits.max_headers = 6;
    limits.max_uri_bytes = 48;
  }
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t split = ((ctl >> 1) * 2654435761u + size) % (in.size() + 1);

  RequestParser whole_parser(limits);
  RequestHead whole;
  const ParseStatus s1 = whole_parser.parse(in, whole);

  // The first piece lives in its own exact-size allocation, so ASan sees any read past it.
  std::unique_ptr<char[]> first(new char[split + 1]);
  std::memcpy(first.get(), in.data(), split);
  RequestParser split_parser(limits);
  RequestHead part;
  ParseStatus s2 = split_parser.parse(std::string_view(first.get(), split), part);
  if (s2 == ParseStatus::kIncomplete) s2 = split_parser.parse(in, part);

  check(s1 == s2);
  if (s1 == ParseStatus::kIncomplete) return 0;
  check_same(whole, part);
  if (s1 == ParseStatus::kError) {
    const uint16_t st = whole.error_status;
    check(st == 400 || st == 414 || st == 431 || st == 501 || st == 505);
    check(whole.error_reason[0] != '\0');
    return 0;
  }
  const size_t len = whole_parser.head_length();
  check(len == split_parser.head_length());
  check(len >= 4 && len <= in.size() && len <= limits.max_head_bytes);
  check(in.substr(len - 4, 4) == "\r\n\r\n");
  check(whole.headers.size() <= limits.max_headers);
  check(whole.target.size() <= limits.max_uri_bytes);
  check(whole.version_minor == 0 || whole.version_minor == 1);
  check(whole.version_minor == 0 || !whole.host.empty());
  const std::string_view head_bytes = in.substr(0, len);
  check(inside(whole.method_text, head_bytes) && inside(whole.target, head_bytes));
  check(whole.path == "/" || inside(whole.path, head_bytes));
  check(inside(whole.query, head_bytes) && inside(whole.host, head_bytes));
  for (const Header& h : whole.headers) {
    check(!h.name.empty() && inside(h.name, head_bytes) && inside(h.value, head_bytes));
  }
  // The head alone parses to the same result.
  RequestParser again(limits);
  RequestHead exact;
  check(again.parse(head_bytes, exact) == ParseStatus::kDone);
  check_same(whole, exact);
  return 0;
}
