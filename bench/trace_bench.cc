// Micro-benchmarks of the tracing pieces on the request path (traceparent parsing and
// formatting, id generation, the ring push) and of OTLP encoding on the control thread.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "observe/otlp.h"
#include "observe/span_ring.h"
#include "observe/trace_context.h"

namespace {

using namespace sluice::observe;

void BM_ParseTraceparent(benchmark::State& state) {
  std::string v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  TraceContext ctx;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse_traceparent(v, &ctx));
    benchmark::DoNotOptimize(ctx);
  }
}
BENCHMARK(BM_ParseTraceparent);

void BM_ValidTracestate(benchmark::State& state) {
  std::string v = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor@tenant=abc123";
  for (auto _ : state) benchmark::DoNotOptimize(valid_tracestate(v));
}
BENCHMARK(BM_ValidTracestate);

void BM_FormatTraceparent(benchmark::State& state) {
  IdGenerator ids(1);
  uint8_t trace[16], span[8];
  ids.trace_id(trace);
  ids.span_id(span);
  char out[kTraceparentSize];
  for (auto _ : state) {
    format_traceparent(trace, span, true, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_FormatTraceparent);

void BM_IdGeneratorTraceAndSpan(benchmark::State& state) {
  IdGenerator ids;
  uint8_t trace[16], span[8];
  for (auto _ : state) {
    ids.trace_id(trace);
    ids.span_id(span);
    benchmark::DoNotOptimize(trace);
    benchmark::DoNotOptimize(span);
  }
}
BENCHMARK(BM_IdGeneratorTraceAndSpan);

void BM_IdGeneratorUniform(benchmark::State& state) {
  IdGenerator ids;
  for (auto _ : state) benchmark::DoNotOptimize(ids.uniform());
}
BENCHMARK(BM_IdGeneratorUniform);

Span typical_span(IdGenerator& ids, bool client) {
  Span s;
  ids.trace_id(s.trace_id);
  ids.span_id(s.span_id);
  if (client) ids.span_id(s.parent_span_id);
  s.kind = client ? SpanKind::kClient : SpanKind::kServer;
  s.start_unix_ns = 1700000000000000000ULL;
  s.end_unix_ns = s.start_unix_ns + 1234567;
  s.status_code = 200;
  s.route = "users-api";
  s.path = "/api/v1/users/12345/orders";
  s.query = "limit=10&offset=20";
  s.host = client ? "10.0.3.17" : "api.example.com";
  s.port = client ? 8080 : 443;
  s.client_address = "203.0.113.45";
  s.user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36";
  s.request_id = "01HZX3J4K5M6N7P8Q9R0S1T2U3";
  return s;
}

// Per span, encoding a batch of 512 (half server, half client spans) into a reused buffer.
void BM_EncodeBatch512(benchmark::State& state) {
  IdGenerator ids(3);
  std::vector<Span> spans;
  for (int i = 0; i < 512; ++i) spans.push_back(typical_span(ids, i % 2 == 1));
  OtlpResource res{.service_name = "sluice", .service_version = "0.1.0", .host_name = "gw-1"};
  std::string out;
  for (auto _ : state) {
    encode_export_trace_request(res, spans.data(), spans.size(), out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 512);
  state.counters["bytes_per_span"] = static_cast<double>(out.size()) / 512;
}
BENCHMARK(BM_EncodeBatch512);

// Push + drain on one thread: the cost a worker pays per span (the copy into a reused slot)
// plus the consumer's copy out, without cross-core traffic.
void BM_RingPushDrain(benchmark::State& state) {
  IdGenerator ids(4);
  Span s = typical_span(ids, false);
  SpanRing ring(1024);
  std::vector<Span> slots(64);
  size_t i = 0;
  for (auto _ : state) {
    ring.try_push(s);
    if (++i == 64) {
      ring.drain_to(slots.data(), slots.size());
      i = 0;
    }
  }
}
BENCHMARK(BM_RingPushDrain);

// The worker side alone: pushes into a ring nobody drains (the full-ring drop path).
void BM_RingPushFull(benchmark::State& state) {
  IdGenerator ids(5);
  Span s = typical_span(ids, false);
  SpanRing ring(1);
  ring.try_push(s);
  for (auto _ : state) benchmark::DoNotOptimize(ring.try_push(s));
}
BENCHMARK(BM_RingPushFull);

}  // namespace
