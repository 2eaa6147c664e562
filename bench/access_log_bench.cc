// Micro-benchmarks of the access log's cost on a worker: formatting one line (JSON, a combined-
// log-like template, and JSON with values that need escaping) into a reused string, and
// appending a line to the worker's ring with a consumer draining it as the writer thread would.
#include <benchmark/benchmark.h>

#include <atomic>
#include <string>
#include <thread>

#include "observe/access_log.h"

namespace {

using sluice::observe::AccessLogBuffer;
using sluice::observe::AccessLogFormat;
using sluice::observe::AccessLogRecord;

AccessLogRecord record() {
  AccessLogRecord r;
  r.time_unix_us = 1795684245123456;
  r.request_id = "01JD3W4K9G6ZQ8T2M5N7P0R1S3";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.client_address = "10.0.0.7:51234";
  r.method = "GET";
  r.host = "api.example.com";
  r.path = "/v1/users/12345/orders?limit=20&offset=40";
  r.route = "users";
  r.upstream = "users-svc";
  r.target = "10.1.0.3:8080";
  r.protocol = "HTTP/1.1";
  r.status = 200;
  r.bytes_in = 0;
  r.bytes_out = 3456;
  r.duration_us = 12345;
  r.upstream_connect_us = 250;
  r.upstream_response_us = 10001;
  r.tries = 1;
  r.user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)";
  r.referer = "https://www.example.com/app";
  return r;
}

void run_format(benchmark::State& state, std::string_view spec, const AccessLogRecord& r) {
  auto f = AccessLogFormat::compile(spec, nullptr);
  std::string out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    f->format(r, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}

void BM_FormatJson(benchmark::State& state) {
  run_format(state, "json", record());
}
BENCHMARK(BM_FormatJson);

void BM_FormatJsonEscaped(benchmark::State& state) {
  AccessLogRecord r = record();
  r.path = "/search?q=\"caf\xc3\xa9\"&x=\\n\xff";
  r.user_agent = "evil\"agent\n\x01 Mozilla/5.0 \xe2\x82\xac";
  run_format(state, "json", r);
}
BENCHMARK(BM_FormatJsonEscaped);

void BM_FormatTemplate(benchmark::State& state) {
  run_format(state,
             "$client - - [$time_iso] \"$method $path $protocol\" $status $bytes_out "
             "\"$referer\" \"$user_agent\" $duration_ms $upstream_response_ms",
             record());
}
BENCHMARK(BM_FormatTemplate);

// Appends a line of the given size. The benchmark thread drains the ring itself whenever it is
// full (one store, amortised over thousands of lines), so the number is the producer's cost
// without a second thread's cache traffic or scheduling noise on a shared machine.
void BM_BufferAppend(benchmark::State& state) {
  AccessLogBuffer buffer(AccessLogBuffer::kDefaultCapacity);
  const std::string line(static_cast<size_t>(state.range(0)) - 1, 'x');
  const std::string full = line + "\n";
  for (auto _ : state) {
    if (!buffer.append(full)) {
      buffer.consume(buffer.peek().size());
      benchmark::DoNotOptimize(buffer.append(full));
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * full.size()));
}
BENCHMARK(BM_BufferAppend)->Arg(128)->Arg(512);

// Appends while another thread drains as the writer does: adds the cost of the shared cache
// lines. Drops count lines the drainer did not keep up with.
void BM_BufferAppendWithConsumer(benchmark::State& state) {
  AccessLogBuffer buffer(AccessLogBuffer::kDefaultCapacity);
  const std::string full = std::string(511, 'x') + "\n";
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    while (!done.load(std::memory_order_relaxed)) {
      const auto s = buffer.peek();
      if (s.size() == 0) {
        std::this_thread::yield();
      } else {
        buffer.consume(s.size());
      }
    }
  });
  for (auto _ : state) benchmark::DoNotOptimize(buffer.append(full));
  done.store(true);
  consumer.join();
  state.counters["drop_ratio"] =
      static_cast<double>(buffer.drops()) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_BufferAppendWithConsumer);

// The whole worker-side cost: format into a reused string and append.
void BM_FormatJsonAndAppend(benchmark::State& state) {
  auto f = AccessLogFormat::compile("json", nullptr);
  AccessLogBuffer buffer(AccessLogBuffer::kDefaultCapacity);
  const AccessLogRecord r = record();
  std::string out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    f->format(r, out);
    if (!buffer.append(out)) {
      buffer.consume(buffer.peek().size());
      benchmark::DoNotOptimize(buffer.append(out));
    }
  }
}
BENCHMARK(BM_FormatJsonAndAppend);

}  // namespace
