// Exports the spans that workers leave in their SpanRings to an OpenTelemetry collector over
// OTLP/HTTP (protobuf), from the control thread's event loop. Every flush interval (or sooner,
// when a ring is more than half full or flush_now() is called) it drains the rings and POSTs
// batches of at most max_batch spans, one request at a time on a reused keep-alive connection.
// Spans wait in the rings while a request is in flight, so a slow or dead collector costs ring
// drops (counted), never unbounded memory or a blocked loop. A failed batch (connect error,
// timeout, non-2xx) is dropped and counted, and logged to stderr at most once per 10 s.
// Example:
//   std::string host, path, err;  uint16_t port;
//   if (!parse_otlp_endpoint("http://otel:4318/v1/traces", &host, &port, &path, &err)) fail(err);
//   OtlpExporterOptions o;  net::resolve_address(host, port, &o.address, &err);
//   o.host_header = host + ":" + std::to_string(port);  o.path = path;
//   OtlpExporter exporter(loop, {&ring0, &ring1}, std::move(o));
//   while (running) loop.run_once(1000);
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "http/chunked.h"
#include "http/response_parser.h"
#include "net/owned_socket.h"
#include "net/socket.h"
#include "observe/otlp.h"
#include "observe/span.h"
#include "observe/span_ring.h"

namespace sluice::observe {

// The OTLP/HTTP default port, used when an endpoint URL names none.
inline constexpr uint16_t kOtlpHttpDefaultPort = 4318;

// Splits "http://host[:port][/path]" (host may be a [v6] literal). The port defaults to 4318
// and the path to /v1/traces. https:// and anything else is rejected with *error saying why.
bool parse_otlp_endpoint(std::string_view url, std::string* host, uint16_t* port, std::string* path,
                         std::string* error);

struct OtlpExporterOptions {
  net::SocketAddress address;  // the collector
  std::string host_header;     // Host to send; "" = the address as "ip:port"
  std::string path = "/v1/traces";
  std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. authorization
  uint64_t flush_interval_ms = 1000;
  size_t max_batch = 512;
  uint64_t timeout_ms = 5000;  // one request: connect, send and the whole response
  OtlpResource resource;
};

class OtlpExporter {
 public:
  // The rings must outlive the exporter; the loop must be the calling thread's.
  OtlpExporter(core::EventLoop& loop, std::vector<SpanRing*> rings, OtlpExporterOptions options);
  // Closes the connection without waiting; a batch in flight is lost (and not counted).
  ~OtlpExporter();
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  // New options (config reload). A request in flight completes; when the collector's address
  // changed, its connection is then closed and the next batch connects to the new one.
  void reconfigure(OtlpExporterOptions options);
  // Starts a flush now (if none is in flight; otherwise the current one goes on draining).
  void flush_now();

  // Readable from any thread.
  uint64_t spans_exported() const { return spans_exported_.load(std::memory_order_relaxed); }
  uint64_t spans_failed() const { return spans_failed_.load(std::memory_order_relaxed); }
  uint64_t batches_sent() const { return batches_sent_.load(std::memory_order_relaxed); }
  uint64_t batches_failed() const { return batches_failed_.load(std::memory_order_relaxed); }
  // Spans the rings refused because they were full (the exporter did not keep up).
  uint64_t spans_dropped() const;
  // True while a request is in flight (for tests and the admin API).
  bool busy() const { return phase_ != Phase::kIdle; }

 private:
  using Connection = net::OwnedSocket<OtlpExporter>;
  friend class net::OwnedSocket<OtlpExporter>;
  struct PollTimer : core::Timer {
    explicit PollTimer(OtlpExporter& e) : owner(e) {}
    void on_timer() override { owner.on_poll(); }
    OtlpExporter& owner;
  };
  struct DeadlineTimer : core::Timer {
    explicit DeadlineTimer(OtlpExporter& e) : owner(e) {}
    void on_timer() override { owner.on_deadline(); }
    OtlpExporter& owner;
  };
  enum class Phase : uint8_t { kIdle, kConnecting, kWriting, kReading };

  void on_poll();
  void on_deadline();
  void on_io(uint32_t events);
  void schedule_poll();
  bool rings_half_full() const;
  void start_batch();
  void build_request_head();
  bool connect();
  void send_request();
  void read_response(bool peer_closing);
  bool consume_body(bool eof, const char** error);
  void finish_batch(bool ok, const std::string& why);
  bool retry_on_fresh_connection();
  void close_connection();
  void log_failure(const std::string& why);

  core::EventLoop& loop_;
  std::vector<SpanRing*> rings_;
  OtlpExporterOptions options_;
  PollTimer poll_timer_{*this};
  DeadlineTimer deadline_timer_{*this};
  core::BufferPool pool_{2};

  std::vector<Span> batch_;  // slots kept between batches so that draining reuses their strings
  size_t batch_size_ = 0;
  size_t next_ring_ = 0;  // where the next drain starts, so no ring starves the others
  std::string body_;
  std::string head_;
  size_t written_ = 0;

  std::unique_ptr<Connection> conn_;
  bool conn_reused_ = false;  // this request went out on a connection used before
  bool retried_ = false;      // and was already resent once on a fresh one
  bool close_after_ = false;  // reconfigured to another address while in flight
  Phase phase_ = Phase::kIdle;
  bool draining_ = false;  // a flush goes on batch after batch until the rings are empty
  uint64_t next_flush_ms_ = 0;

  http::ResponseParser parser_;
  http::ResponseHead response_;
  http::ChunkedDecoder chunked_;
  core::Buffer in_;
  bool head_done_ = false;
  bool got_bytes_ = false;
  uint64_t body_left_ = 0;

  uint64_t last_log_ms_ = 0;
  bool logged_ = false;
  uint64_t unlogged_failures_ = 0;

  std::atomic<uint64_t> spans_exported_{0};
  std::atomic<uint64_t> spans_failed_{0};
  std::atomic<uint64_t> batches_sent_{0};
  std::atomic<uint64_t> batches_failed_{0};
};

}  // namespace sluice::observe
