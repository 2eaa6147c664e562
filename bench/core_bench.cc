// Micro-benchmarks of the per-request core pieces: timer re-arming, buffer recycling, and the
// rendering of the upstream request and client response heads.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/timer_wheel.h"
#include "http/request_parser.h"
#include "http/response_parser.h"
#include "proxy/messages.h"

namespace {

struct NopTimer : sluice::core::Timer {
  void on_timer() override {}
};

// Every connection re-arms its timer on each read: schedule + (implicit) cancel.
void BM_TimerRearm(benchmark::State& state) {
  sluice::core::TimerWheel wheel(0);
  std::vector<NopTimer> timers(static_cast<size_t>(state.range(0)));
  uint64_t now = 0;
  for (auto& t : timers) wheel.schedule(t, now + 60000);
  size_t i = 0;
  for (auto _ : state) {
    wheel.schedule(timers[i], now + 10000 + (i & 1023));
    if (++i == timers.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerRearm)->Arg(1000)->Arg(100000);

// Advancing the wheel by 1 ms with many armed, not-yet-due timers.
void BM_TimerAdvance(benchmark::State& state) {
  sluice::core::TimerWheel wheel(0);
  std::vector<NopTimer> timers(100000);
  uint64_t now = 0;
  for (size_t i = 0; i < timers.size(); ++i) wheel.schedule(timers[i], 3600000 + i);
  for (auto _ : state) wheel.advance(++now);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerAdvance);

void BM_BufferCycle(benchmark::State& state) {
  sluice::core::BufferPool pool;
  sluice::core::Buffer b;
  std::string payload(300, 'x');
  for (auto _ : state) {
    b.append(pool, payload);
    benchmark::DoNotOptimize(b.data());
    b.consume(b.size());
    b.release(pool);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BufferCycle);

const char kRequest[] =
    "GET /api/v1/users/12345?fields=name,email HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n"
    "Accept: application/json\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=abcdef0123456789; theme=dark\r\n"
    "X-Forwarded-For: 203.0.113.9\r\n\r\n";

void BM_RenderUpstreamRequest(benchmark::State& state) {
  sluice::http::RequestParser parser;
  sluice::http::RequestHead head;
  std::string_view raw(kRequest, sizeof(kRequest) - 1);
  if (parser.parse(raw, head) != sluice::http::ParseStatus::kDone) {
    state.SkipWithError("parse failed");
    return;
  }
  sluice::proxy::Route route;
  std::string out;
  for (auto _ : state) {
    out.clear();
    sluice::proxy::render_upstream_request(head, route, "198.51.100.7",
                                           "0123456789abcdef0123456789abcdef", head.path,
                                           "10.0.0.1:8080", out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RenderUpstreamRequest);

void BM_RenderClientResponse(benchmark::State& state) {
  std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1234\r\n"
      "Cache-Control: no-cache\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: app\r\n"
      "Connection: keep-alive\r\n\r\n";
  sluice::http::ResponseParser parser;
  sluice::http::ResponseHead head;
  if (parser.parse(raw, sluice::http::Method::kGet, head) != sluice::http::ParseStatus::kDone) {
    state.SkipWithError("parse failed");
    return;
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    sluice::proxy::render_client_response(head, "0123456789abcdef0123456789abcdef",
                                          sluice::proxy::ResponseFraming::kContentLength, false,
                                          false, "", out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RenderClientResponse);

}  // namespace
