// Micro-benchmarks of the HTTP/1 codec: a realistic browser request head, a typical upstream
// response head, and decoding a 64 KiB chunked body. Run a Release build:
//   build/release/parser_bench --benchmark_filter=BM_Parse
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "http/chunked.h"
#include "http/request_parser.h"
#include "http/response_parser.h"

namespace sluice::http {
namespace {

// ~500 bytes, 12 fields: what a desktop browser sends for a page navigation.
const std::string kBrowserGet =
    "GET /products/search?q=noise+cancelling+headphones&sort=price HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://shop.example.com/\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=4f9a1c2e7b; cart=3; theme=dark\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Date: Tue, 14 Nov 2023 08:12:31 GMT\r\n"
    "Server: nginx/1.24.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Length: 23841\r\n"
    "Connection: keep-alive\r\n"
    "Cache-Control: private, max-age=0\r\n"
    "Vary: Accept-Encoding\r\n"
    "ETag: \"5e2b-61a7c3f0\"\r\n"
    "X-Request-Id: 7c0d3b0e-8a7f-4a51-9b1e-2f6f0d1c9a44\r\n"
    "\r\n";

void BM_ParseRequest(benchmark::State& state) {
  RequestParser parser;
  RequestHead head;
  for (auto _ : state) {
    parser.reset();
    if (parser.parse(kBrowserGet, head) != ParseStatus::kDone) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(head.headers.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kBrowserGet.size()));
}
BENCHMARK(BM_ParseRequest);

// The same head arriving in three reads, as over a slow link.
void BM_ParseRequestInThreeReads(benchmark::State& state) {
  RequestParser parser;
  RequestHead head;
  const std::string_view all(kBrowserGet);
  for (auto _ : state) {
    parser.reset();
    benchmark::DoNotOptimize(parser.parse(all.substr(0, 150), head));
    benchmark::DoNotOptimize(parser.parse(all.substr(0, 380), head));
    if (parser.parse(all, head) != ParseStatus::kDone) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(head.headers.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kBrowserGet.size()));
}
BENCHMARK(BM_ParseRequestInThreeReads);

void BM_ParseResponse(benchmark::State& state) {
  ResponseParser parser;
  ResponseHead head;
  for (auto _ : state) {
    parser.reset();
    if (parser.parse(kResponse, Method::kGet, head) != ParseStatus::kDone) {
      state.SkipWithError("parse failed");
    }
    benchmark::DoNotOptimize(head.headers.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kResponse.size()));
}
BENCHMARK(BM_ParseResponse);

// 64 KiB of payload in 4 KiB chunks, decoded from one buffer.
void BM_DecodeChunked(benchmark::State& state) {
  std::string body;
  char hdr[20];
  for (int i = 0; i < 16; ++i) {
    body.append(hdr, write_chunk_header(4096, hdr));
    body.append(4096, static_cast<char>('a' + i));
    body += "\r\n";
  }
  body += "0\r\n\r\n";
  ChunkedDecoder dec;
  for (auto _ : state) {
    dec.reset();
    std::string_view in(body);
    size_t payload = 0;
    for (;;) {
      size_t used = 0;
      std::string_view data;
      const ChunkedDecoder::Status st = dec.decode(in, &used, &data);
      in.remove_prefix(used);
      payload += data.size();
      if (st != ChunkedDecoder::Status::kData) break;
    }
    if (payload != 64 * 1024 || !dec.done()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(payload);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_DecodeChunked);

}  // namespace
}  // namespace sluice::http
