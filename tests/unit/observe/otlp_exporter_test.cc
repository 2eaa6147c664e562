#include "observe/otlp_exporter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../loop_helpers.h"

namespace sluice::observe {
namespace {

using test::Clock;
using test::run_for;
using test::run_until;

// A blocking HTTP/1.1 collector on its own threads: records each request (head and body) and
// answers `status` with an empty body on a kept-alive connection, or stays silent.
class Collector {
 public:
  struct Request {
    std::string head;
    std::string body;
    int connection = 0;
  };

  Collector() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    port_ = net::local_port(fd_);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~Collector() {
    stop_ = true;
    accept_thread_.join();
    for (auto& t : conn_threads_) t.join();
    close(fd_);
  }

  net::SocketAddress address() const {
    net::SocketAddress a;
    std::string err;
    EXPECT_TRUE(net::resolve_address("127.0.0.1", port_, &a, &err));
    return a;
  }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.size();
  }

  std::atomic<int> status{200};
  std::atomic<bool> silent{false};
  std::atomic<bool> close_after_response{false};  // without saying Connection: close
  std::atomic<int> connections{0};

 private:
  static bool wait_readable(int fd, const std::atomic<bool>& stop) {
    while (!stop) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }

  void accept_loop() {
    while (wait_readable(fd_, stop_)) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      int n = ++connections;
      conn_threads_.emplace_back([this, c, n] { serve(c, n); });
    }
  }

  void serve(int c, int n) {
    std::string in;
    char buf[65536];
    while (true) {
      size_t end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        Request r;
        r.head = in.substr(0, end + 4);
        r.connection = n;
        size_t cl = r.head.find("Content-Length: ");
        size_t len = cl == std::string::npos ? 0 : std::stoul(r.head.substr(cl + 16));
        if (in.size() >= end + 4 + len) {
          r.body = in.substr(end + 4, len);
          in.erase(0, end + 4 + len);
          {
            std::lock_guard<std::mutex> lock(mu_);
            requests_.push_back(r);
          }
          if (!silent) {
            std::string resp = "HTTP/1.1 " + std::to_string(status.load()) +
                               " X\r\nContent-Type: application/x-protobuf\r\n"
                               "Content-Length: 0\r\n\r\n";
            (void)!send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
            if (close_after_response) break;
          }
          continue;
        }
      }
      if (!wait_readable(c, stop_)) break;
      ssize_t got = recv(c, buf, sizeof(buf), 0);
      if (got <= 0) break;
      in.append(buf, static_cast<size_t>(got));
    }
    close(c);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::vector<std::thread> conn_threads_;  // only touched by the accept thread until join
  std::mutex mu_;
  std::vector<Request> requests_;
};

Span make_span(uint64_t i) {
  Span s;
  s.trace_id[0] = 1;
  s.span_id[0] = static_cast<uint8_t>(i + 1);
  s.start_unix_ns = i;
  s.end_unix_ns = i + 10;
  s.path = "/s/" + std::to_string(i);
  s.status_code = 200;
  return s;
}

OtlpExporterOptions options_for(const Collector& c) {
  OtlpExporterOptions o;
  o.address = c.address();
  o.host_header = "collector.test:4318";
  o.flush_interval_ms = 50;
  o.timeout_ms = 2000;
  o.headers = {{"Authorization", "Bearer t0k"}};
  o.resource.service_version = "9.9";
  return o;
}

TEST(OtlpExporter, PostsABatchOnTheIntervalAndReusesTheConnection) {
  core::EventLoop loop;
  Collector collector;
  SpanRing ring(64);
  OtlpExporterOptions o = options_for(collector);
  OtlpResource res = o.resource;
  OtlpExporter exporter(loop, {&ring}, o);

  std::vector<Span> spans = {make_span(0), make_span(1), make_span(2)};
  for (const Span& s : spans) ASSERT_TRUE(ring.try_push(s));
  ASSERT_TRUE(run_until(loop, [&] { return exporter.batches_sent() == 1; }));
  EXPECT_EQ(exporter.spans_exported(), 3u);
  EXPECT_EQ(ring.size_approx(), 0u);

  auto reqs = collector.requests();
  ASSERT_EQ(reqs.size(), 1u);
  std::string expected;
  encode_export_trace_request(res, spans.data(), spans.size(), expected);
  EXPECT_EQ(reqs[0].body, expected);
  EXPECT_EQ(reqs[0].head.rfind("POST /v1/traces HTTP/1.1\r\n", 0), 0u) << reqs[0].head;
  EXPECT_NE(reqs[0].head.find("\r\nHost: collector.test:4318\r\n"), std::string::npos);
  EXPECT_NE(reqs[0].head.find("\r\nContent-Type: application/x-protobuf\r\n"), std::string::npos);
  EXPECT_NE(reqs[0].head.find("\r\nAuthorization: Bearer t0k\r\n"), std::string::npos);

  ring.try_push(make_span(3));
  exporter.flush_now();
  ASSERT_TRUE(run_until(loop, [&] { return exporter.batches_sent() == 2; }));
  reqs = collector.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].connection, reqs[0].connection) << "keep-alive connection reused";
  EXPECT_EQ(exporter.batches_failed(), 0u);
}

TEST(OtlpExporter, SplitsIntoBatchesAcrossRingsOneAtATime) {
  core::EventLoop loop;
  Collector collector;
  SpanRing a(64), b(64);
  OtlpExporterOptions o = options_for(collector);
  o.max_batch = 4;
  o.flush_interval_ms = 60000;
  OtlpExporter exporter(loop, {&a, &b}, o);
  for (uint64_t i = 0; i < 6; ++i) a.try_push(make_span(i));
  for (uint64_t i = 6; i < 10; ++i) b.try_push(make_span(i));
  exporter.flush_now();
  EXPECT_TRUE(exporter.busy());
  ASSERT_TRUE(run_until(loop, [&] { return exporter.spans_exported() == 10; }));
  EXPECT_EQ(exporter.batches_sent(), 3u);
  EXPECT_EQ(collector.count(), 3u);
  run_for(loop, 30);
  EXPECT_FALSE(exporter.busy());
}

TEST(OtlpExporter, FlushesEarlyWhenARingIsHalfFull) {
  core::EventLoop loop;
  Collector collector;
  SpanRing ring(8);
  OtlpExporterOptions o = options_for(collector);
  o.flush_interval_ms = 60000;
  OtlpExporter exporter(loop, {&ring}, o);
  for (uint64_t i = 0; i < 4; ++i) ring.try_push(make_span(i));
  run_for(loop, 250);
  EXPECT_EQ(exporter.batches_sent(), 0u) << "half full is not more than half";
  ring.try_push(make_span(4));
  ASSERT_TRUE(run_until(
      loop, [&] { return exporter.spans_exported() == 5; }, 1000));
}

TEST(OtlpExporter, Non2xxIsAFailedBatch) {
  core::EventLoop loop;
  Collector collector;
  collector.status = 503;
  SpanRing ring(64);
  OtlpExporter exporter(loop, {&ring}, options_for(collector));
  ring.try_push(make_span(0));
  ring.try_push(make_span(1));
  ASSERT_TRUE(run_until(loop, [&] { return exporter.batches_failed() == 1; }));
  EXPECT_EQ(exporter.spans_failed(), 2u);
  EXPECT_EQ(exporter.spans_exported(), 0u);
  EXPECT_EQ(exporter.batches_sent(), 0u);

  collector.status = 200;
  ring.try_push(make_span(2));
  ASSERT_TRUE(run_until(loop, [&] { return exporter.batches_sent() == 1; }));
  EXPECT_EQ(exporter.spans_exported(), 1u);
}

TEST(OtlpExporter, DeadCollectorNeitherBlocksNorGrows) {
  core::EventLoop loop;
  net::SocketAddress dead;
  {
    Collector gone;  // a port that was just listening and is now closed
    dead = gone.address();
  }
  SpanRing ring(4);
  OtlpExporterOptions o;
  o.address = dead;
  o.flush_interval_ms = 20;
  OtlpExporter exporter(loop, {&ring}, o);
  auto t0 = Clock::now();
  for (int round = 0; round < 5; ++round) {
    for (uint64_t i = 0; i < 6; ++i) ring.try_push(make_span(i));
    run_for(loop, 40);
  }
  EXPECT_GE(exporter.batches_failed(), 2u);
  EXPECT_EQ(exporter.spans_exported(), 0u);
  EXPECT_GE(exporter.spans_dropped(), 10u);  // the ring overflowed: that is the back-pressure
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
}

TEST(OtlpExporter, SilentCollectorTimesOut) {
  core::EventLoop loop;
  Collector collector;
  collector.silent = true;
  SpanRing ring(64);
  OtlpExporterOptions o = options_for(collector);
  o.timeout_ms = 150;
  OtlpExporter exporter(loop, {&ring}, o);
  ring.try_push(make_span(0));
  ASSERT_TRUE(run_until(
      loop, [&] { return exporter.batches_failed() == 1; }, 3000));
  EXPECT_EQ(exporter.spans_failed(), 1u);
  // Spans arriving meanwhile waited in the ring and go out once the collector answers again.
  collector.silent = false;
  ring.try_push(make_span(1));
  exporter.flush_now();
  ASSERT_TRUE(run_until(
      loop, [&] { return exporter.batches_sent() == 1; }, 3000));
}

TEST(OtlpExporter, ReconnectsWhenTheCollectorClosedTheConnection) {
  core::EventLoop loop;
  Collector collector;
  collector.close_after_response = true;
  SpanRing ring(64);
  OtlpExporter exporter(loop, {&ring}, options_for(collector));
  for (uint64_t i = 0; i < 3; ++i) {
    ring.try_push(make_span(i));
    exporter.flush_now();
    ASSERT_TRUE(run_until(loop, [&] { return exporter.batches_sent() == i + 1; }));
  }
  EXPECT_EQ(exporter.batches_failed(), 0u);
  EXPECT_EQ(collector.connections.load(), 3);
}

TEST(OtlpExporter, ReconfigureMovesToTheNewCollector) {
  core::EventLoop loop;
  Collector first, second;
  SpanRing ring(64);
  OtlpExporter exporter(loop, {&ring}, options_for(first));
  ring.try_push(make_span(0));
  ASSERT_TRUE(run_until(loop, [&] { return exporter.batches_sent() == 1; }));
  exporter.reconfigure(options_for(second));
  ring.try_push(make_span(1));
  ASSERT_TRUE(run_until(loop, [&] { return exporter.batches_sent() == 2; }));
  EXPECT_EQ(first.count(), 1u);
  EXPECT_EQ(second.count(), 1u);
}

TEST(OtlpExporter, DestroyedWhileInFlight) {
  core::EventLoop loop;
  Collector collector;
  collector.silent = true;
  SpanRing ring(64);
  auto exporter =
      std::make_unique<OtlpExporter>(loop, std::vector<SpanRing*>{&ring}, options_for(collector));
  ring.try_push(make_span(0));
  exporter->flush_now();
  ASSERT_TRUE(run_until(loop, [&] { return collector.count() == 1; }));
  exporter.reset();
  run_for(loop, 20);
}

TEST(OtlpEndpoint, Parses) {
  std::string host, path, err;
  uint16_t port = 0;
  ASSERT_TRUE(parse_otlp_endpoint("http://otel:4318/v1/traces", &host, &port, &path, &err));
  EXPECT_EQ(host, "otel");
  EXPECT_EQ(port, 4318);
  EXPECT_EQ(path, "/v1/traces");
  ASSERT_TRUE(parse_otlp_endpoint("HTTP://10.0.0.1:9999", &host, &port, &path, &err));
  EXPECT_EQ(host, "10.0.0.1");
  EXPECT_EQ(port, 9999);
  EXPECT_EQ(path, "/v1/traces");
  ASSERT_TRUE(parse_otlp_endpoint("http://collector/custom/traces", &host, &port, &path, &err));
  EXPECT_EQ(port, kOtlpHttpDefaultPort);
  EXPECT_EQ(path, "/custom/traces");
  ASSERT_TRUE(parse_otlp_endpoint("http://[::1]:4000/x", &host, &port, &path, &err));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 4000);
}

TEST(OtlpEndpoint, Rejects) {
  std::string host, path, err;
  uint16_t port = 0;
  EXPECT_FALSE(parse_otlp_endpoint("https://otel:4318/v1/traces", &host, &port, &path, &err));
  EXPECT_NE(err.find("https"), std::string::npos) << err;
  for (const char* bad :
       {"otel:4318", "grpc://otel:4317", "http://", "http://:4318/", "http://otel:/",
        "http://otel:0/", "http://otel:65536/", "http://otel:12x/", "http://u:p@otel/",
        "http://::1/", "http://[::1/", "http://otel/a b", "http://otel/x#frag"}) {
    err.clear();
    EXPECT_FALSE(parse_otlp_endpoint(bad, &host, &port, &path, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

}  // namespace
}  // namespace sluice::observe
