// Fuzz target for ResponseParser: no crash or out-of-bounds read, and parsing the input whole
// gives the same result as feeding it in two pieces split at a point taken from the input.
// Input: byte 0 picks the request method, the limits and the split point; the rest is the
// response.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "http/response_parser.h"

using sluice::http::BodyKind;
using sluice::http::Method;
using sluice::http::ParserLimits;
using sluice::http::ParseStatus;
using sluice::http::ResponseHead;
using sluice::http::ResponseParser;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

void check_same(const ResponseHead& a, const ResponseHead& b) {
  check(a.status == b.status && a.reason == b.reason && a.version_minor == b.version_minor);
  check(a.body == b.body && a.content_length == b.content_length);
  check(a.keep_alive == b.keep_alive && a.has_connection_header == b.has_connection_header);
  check(std::strcmp(a.error_reason, b.error_reason) == 0);
  check(a.headers.size() == b.headers.size());
  for (size_t i = 0; i < a.headers.size(); ++i) {
    check(a.headers[i].name == b.headers[i].name && a.headers[i].value == b.headers[i].value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t ctl = data[0];
  constexpr Method kMethods[] = {Method::kGet, Method::kHead, Method::kPost, Method::kConnect};
  const Method method = kMethods[ctl & 3];
  ParserLimits limits;
  if ((ctl & 4) != 0) {
    limits.max_head_bytes = 160;
    limits.max_headers = 5;
  }
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t split = ((ctl >> 3) * 2654435761u + size) % (in.size() + 1);

  ResponseParser whole_parser(limits);
  ResponseHead whole;
  const ParseStatus s1 = whole_parser.parse(in, method, whole);

  std::unique_ptr<char[]> first(new char[split + 1]);
  std::memcpy(first.get(), in.data(), split);
  ResponseParser split_parser(limits);
  ResponseHead part;
  ParseStatus s2 = split_parser.parse(std::string_view(first.get(), split), method, part);
  if (s2 == ParseStatus::kIncomplete) s2 = split_parser.parse(in, method, part);

  check(s1 == s2);
  if (s1 == ParseStatus::kIncomplete) return 0;
  check_same(whole, part);
  if (s1 == ParseStatus::kError) {
    check(whole.error_reason[0] != '\0');
    return 0;
  }
  const size_t len = whole_parser.head_length();
  check(len == split_parser.head_length());
  check(len <= in.size() && len <= limits.max_head_bytes && in.substr(len - 4, 4) == "\r\n\r\n");
  check(whole.status >= 100 && whole.status <= 599);
  check(whole.headers.size() <= limits.max_headers);
  const bool no_body =
      method == Method::kHead || whole.status < 200 || whole.status == 204 || whole.status == 304;
  if (no_body) check(whole.body == BodyKind::kNone);
  if (whole.body == BodyKind::kUntilClose) check(!whole.keep_alive);
  return 0;
}
