#include "balance/health_checker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../loop_helpers.h"

namespace sluice::balance {
namespace {

using test::Clock;
using test::run_for;
using test::run_until;

std::string http_status(int code) {
  return "HTTP/1.1 " + std::to_string(code) +
         " Whatever\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
}

// A loopback HTTP server on the test's own loop. Each connection reads the request head, then
// (depending on the mode) answers, stays silent or closes at once; it then waits for the
// client's close. `finished` counts connections the client closed (or that we closed early):
// when it reaches k, the checker has already recorded the verdict of its k-th probe (it closes
// the connection after recording, and we see the EOF in a later loop turn).
class TestServer : public core::IoHandler {
 public:
  enum class Mode { kRespond, kSilent, kCloseAtOnce };

  explicit TestServer(core::EventLoop& loop) : loop_(loop) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    EXPECT_EQ(listen(fd_, 64), 0);
    port_ = net::local_port(fd_);
    loop_.add(fd_, EPOLLIN, this);
    respond(http_status(200));
  }
  ~TestServer() override {
    for (auto& c : conns_) c->close_fd();
    loop_.remove(fd_);
    close(fd_);
  }

  void respond(std::string raw) {
    mode_ = Mode::kRespond;
    response_ = std::move(raw);
  }
  void status(int code) { respond(http_status(code)); }
  void silent() { mode_ = Mode::kSilent; }
  void close_at_once() { mode_ = Mode::kCloseAtOnce; }

  net::SocketAddress address() const {
    net::SocketAddress a;
    std::string err;
    EXPECT_TRUE(net::resolve_address("127.0.0.1", port_, &a, &err));
    return a;
  }
  std::string key() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }

  int accepted = 0;
  int finished = 0;
  std::string last_request;

  void on_io(uint32_t) override {
    while (true) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      ++accepted;
      auto conn = std::make_unique<Conn>(*this, c);
      if (mode_ == Mode::kCloseAtOnce) {
        close(c);
        ++finished;
        continue;
      }
      loop_.add(c, EPOLLIN | EPOLLRDHUP, conn.get());
      conns_.push_back(std::move(conn));
    }
  }

 private:
  struct Conn : core::IoHandler {
    Conn(TestServer& s, int fd) : server(s), fd(fd) {}
    void close_fd() {
      if (fd < 0) return;
      server.loop_.remove(fd);
      close(fd);
      fd = -1;
    }
    void on_io(uint32_t) override {
      if (fd < 0) return;
      char buf[4096];
      while (true) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
          request.append(buf, static_cast<size_t>(n));
          continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          close_fd();
          ++server.finished;
          return;
        }
        if (errno == EAGAIN) break;
      }
      if (!answered && request.find("\r\n\r\n") != std::string::npos) {
        answered = true;
        server.last_request = request;
        if (server.mode_ == Mode::kRespond) {
          ssize_t w = write(fd, server.response_.data(), server.response_.size());
          EXPECT_EQ(w, static_cast<ssize_t>(server.response_.size()));
        }
      }
    }
    TestServer& server;
    int fd;
    std::string request;
    bool answered = false;
  };

  core::EventLoop& loop_;
  int fd_ = -1;
  uint16_t port_ = 0;
  Mode mode_ = Mode::kRespond;
  std::string response_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

config::HealthCheckConfig fast_config(uint64_t interval_ms = 40, uint32_t healthy = 2,
                                      uint32_t unhealthy = 3) {
  config::HealthCheckConfig c;
  c.enabled = true;
  c.interval_ms = interval_ms;
  c.timeout_ms = 500;
  c.healthy_threshold = healthy;
  c.unhealthy_threshold = unhealthy;
  return c;
}

HealthCheckTarget target_for(const TestServer& s, std::shared_ptr<TargetState> state,
                             config::HealthCheckConfig c) {
  return HealthCheckTarget{std::move(state), s.address(), "", std::move(c)};
}

Health health(const std::shared_ptr<TargetState>& s) {
  return s->health.load();
}

// Runs the loop until the server saw `n` probes end (each one's verdict is then recorded).
void wait_probes(core::EventLoop& loop, const TestServer& s, int n) {
  ASSERT_TRUE(run_until(loop, [&] { return s.finished >= n; })) << s.finished << " < " << n;
}

TEST(HealthChecker, FirstPassDecidesHealthyAndRequestIsWellFormed) {
  core::EventLoop loop;
  TestServer server(loop);
  auto state = std::make_shared<TargetState>("api", server.key());
  HealthChecker checker(loop);
  auto c = fast_config(1000);
  c.path = "/status?full=1";
  checker.configure({HealthCheckTarget{state, server.address(), "api.internal", c}});
  EXPECT_EQ(checker.size(), 1u);
  EXPECT_EQ(health(state), Health::kUnknown) << "nothing happens inside configure()";
  testing::internal::CaptureStderr();
  wait_probes(loop, server, 1);
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(health(state), Health::kHealthy);
  EXPECT_EQ(server.last_request,
            "GET /status?full=1 HTTP/1.1\r\nHost: api.internal\r\nUser-Agent: sluice-health\r\n"
            "Connection: close\r\n\r\n");
  EXPECT_EQ(log, "health: api/" + server.key() + " is now healthy (status 200)\n");
}

TEST(HealthChecker, HostHeaderDefaults) {
  core::EventLoop loop;
  TestServer a(loop), b(loop);
  auto sa = std::make_shared<TargetState>("up", a.key());
  auto sb = std::make_shared<TargetState>("up", b.key());
  auto with_host = fast_config(1000);
  with_host.host = "configured.example";
  HealthChecker checker(loop);
  checker.configure({target_for(a, sa, fast_config(1000)), target_for(b, sb, with_host)});
  wait_probes(loop, a, 1);
  wait_probes(loop, b, 1);
  EXPECT_NE(a.last_request.find("\r\nHost: 127.0.0.1:" + std::to_string(a.port()) + "\r\n"),
            std::string::npos)
      << a.last_request;
  EXPECT_NE(b.last_request.find("\r\nHost: configured.example\r\n"), std::string::npos)
      << b.last_request;
}

TEST(HealthChecker, FirstFailureDecidesUnhealthyOnClosedPort) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
  uint16_t port = net::local_port(fd);
  close(fd);  // nothing listens there now

  core::EventLoop loop;
  auto state = std::make_shared<TargetState>("api", "127.0.0.1:" + std::to_string(port));
  net::SocketAddress addr;
  std::string err;
  ASSERT_TRUE(net::resolve_address("127.0.0.1", port, &addr, &err));
  HealthChecker checker(loop);
  testing::internal::CaptureStderr();
  checker.configure({HealthCheckTarget{state, addr, "", fast_config(1000)}});
  bool decided = run_until(loop, [&] { return health(state) != Health::kUnknown; });
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(decided);
  EXPECT_EQ(health(state), Health::kUnhealthy);
  EXPECT_NE(log.find("is now unhealthy (connect: Connection refused)"), std::string::npos) << log;
}

TEST(HealthChecker, ThresholdsAreRespected) {
  core::EventLoop loop;
  TestServer server(loop);
  auto state = std::make_shared<TargetState>("api", server.key());
  HealthChecker checker(loop);
  checker.configure({target_for(server, state, fast_config(30, 2, 3))});
  wait_probes(loop, server, 1);
  EXPECT_EQ(health(state), Health::kHealthy);

  server.status(503);
  wait_probes(loop, server, 2);
  EXPECT_EQ(health(state), Health::kHealthy) << "1 failure < 3";
  wait_probes(loop, server, 3);
  EXPECT_EQ(health(state), Health::kHealthy) << "2 failures < 3";
  wait_probes(loop, server, 4);
  EXPECT_EQ(health(state), Health::kUnhealthy) << "3 failures";

  server.status(200);
  wait_probes(loop, server, 5);
  EXPECT_EQ(health(state), Health::kUnhealthy) << "1 pass < 2";
  server.status(500);
  wait_probes(loop, server, 6);
  EXPECT_EQ(health(state), Health::kUnhealthy);
  server.status(204);
  wait_probes(loop, server, 7);
  EXPECT_EQ(health(state), Health::kUnhealthy) << "the failure in between restarted the count";
  wait_probes(loop, server, 8);
  EXPECT_EQ(health(state), Health::kHealthy) << "2 passes";
}

TEST(HealthChecker, IntervalIsKept) {
  core::EventLoop loop;
  TestServer server(loop);
  auto state = std::make_shared<TargetState>("api", server.key());
  HealthChecker checker(loop);
  checker.configure({target_for(server, state, fast_config(100))});
  auto start = Clock::now();
  wait_probes(loop, server, 1);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(80)) << "first probe right away";
  wait_probes(loop, server, 4);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  EXPECT_GE(ms, 280);
  EXPECT_LT(ms, 1000);
}

TEST(HealthChecker, TimeoutFailsTheProbe) {
  core::EventLoop loop;
  TestServer server(loop);
  server.silent();
  auto state = std::make_shared<TargetState>("api", server.key());
  auto c = fast_config(1000);
  c.timeout_ms = 150;
  HealthChecker checker(loop);
  testing::internal::CaptureStderr();
  auto start = Clock::now();
  checker.configure({target_for(server, state, c)});
  bool decided = run_until(loop, [&] { return health(state) != Health::kUnknown; });
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(decided);
  EXPECT_EQ(health(state), Health::kUnhealthy);
  EXPECT_GE(ms, 140);
  EXPECT_LT(ms, 900);
  EXPECT_NE(log.find("is now unhealthy (no response within 150 ms)"), std::string::npos) << log;
  wait_probes(loop, server, 1);  // the checker closed the silent connection
  EXPECT_EQ(server.accepted, 1);
}

TEST(HealthChecker, ExpectedStatusRanges) {
  core::EventLoop loop;
  struct Case {
    int status;
    Health expected;
  };
  std::vector<Case> cases = {{200, Health::kHealthy},   {204, Health::kHealthy},
                             {205, Health::kUnhealthy}, {404, Health::kHealthy},
                             {302, Health::kUnhealthy}, {503, Health::kUnhealthy}};
  std::vector<std::unique_ptr<TestServer>> servers;
  std::vector<std::shared_ptr<TargetState>> states;
  std::vector<HealthCheckTarget> targets;
  auto c = fast_config(1000);
  c.expected_statuses = {{200, 204}, {404, 404}};
  for (const Case& k : cases) {
    servers.push_back(std::make_unique<TestServer>(loop));
    servers.back()->status(k.status);
    states.push_back(std::make_shared<TargetState>("api", servers.back()->key()));
    targets.push_back(target_for(*servers.back(), states.back(), c));
  }
  HealthChecker checker(loop);
  checker.configure(std::move(targets));
  EXPECT_EQ(checker.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    wait_probes(loop, *servers[i], 1);
    EXPECT_EQ(health(states[i]), cases[i].expected) << "status " << cases[i].status;
  }
}

TEST(HealthChecker, BadResponses) {
  core::EventLoop loop;
  std::vector<std::string> raws = {
      "NOT HTTP AT ALL\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-",  // then the server waits; the checker times out
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
  };
  std::vector<std::unique_ptr<TestServer>> servers;
  std::vector<std::shared_ptr<TargetState>> states;
  std::vector<HealthCheckTarget> targets;
  auto c = fast_config(1000);
  c.timeout_ms = 200;
  for (const std::string& raw : raws) {
    servers.push_back(std::make_unique<TestServer>(loop));
    servers.back()->respond(raw);
    states.push_back(std::make_shared<TargetState>("api", servers.back()->key()));
    targets.push_back(target_for(*servers.back(), states.back(), c));
  }
  // A server that accepts and closes before answering.
  servers.push_back(std::make_unique<TestServer>(loop));
  servers.back()->close_at_once();
  states.push_back(std::make_shared<TargetState>("api", servers.back()->key()));
  targets.push_back(target_for(*servers.back(), states.back(), c));

  HealthChecker checker(loop);
  testing::internal::CaptureStderr();
  checker.configure(std::move(targets));
  bool all = run_until(loop, [&] {
    for (auto& s : states) {
      if (health(s) == Health::kUnknown) return false;
    }
    return true;
  });
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(all) << log;
  for (size_t i = 0; i < states.size(); ++i) {
    EXPECT_EQ(health(states[i]), Health::kUnhealthy) << i;
  }
  EXPECT_NE(log.find("is now unhealthy (bad response: "), std::string::npos) << log;
  EXPECT_NE(log.find("is now unhealthy (no response within 200 ms)"), std::string::npos) << log;
}

TEST(HealthChecker, InterimResponseIsSkipped) {
  core::EventLoop loop;
  TestServer server(loop);
  server.respond("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
  auto state = std::make_shared<TargetState>("api", server.key());
  HealthChecker checker(loop);
  checker.configure({target_for(server, state, fast_config(1000))});
  wait_probes(loop, server, 1);
  EXPECT_EQ(health(state), Health::kUnhealthy) << "the 503 decides, not the 100";
}

TEST(HealthChecker, ReconfigureKeepsCountersOfKeptTargets) {
  core::EventLoop loop;
  TestServer server(loop);
  auto state = std::make_shared<TargetState>("api", server.key());
  HealthChecker checker(loop);
  checker.configure({target_for(server, state, fast_config(30, 2, 3))});
  wait_probes(loop, server, 1);
  ASSERT_EQ(health(state), Health::kHealthy);
  server.status(500);
  wait_probes(loop, server, 2);
  ASSERT_EQ(health(state), Health::kHealthy);  // 1 failure

  // A reload: a new target list with the same state (and a changed path).
  auto c = fast_config(30, 2, 3);
  c.path = "/ready";
  checker.configure({target_for(server, state, c)});
  EXPECT_EQ(checker.size(), 1u);
  wait_probes(loop, server, 3);
  EXPECT_EQ(health(state), Health::kHealthy) << "2 failures: not decided afresh as a new target";
  EXPECT_EQ(server.last_request.rfind("GET /ready ", 0), 0u) << server.last_request;
  wait_probes(loop, server, 4);
  EXPECT_EQ(health(state), Health::kUnhealthy) << "3 failures: the count went on";
}

TEST(HealthChecker, RemovedTargetsStop) {
  core::EventLoop loop;
  TestServer kept(loop), removed(loop), removed_in_flight(loop);
  removed_in_flight.silent();
  auto sk = std::make_shared<TargetState>("api", kept.key());
  auto sr = std::make_shared<TargetState>("api", removed.key());
  auto sf = std::make_shared<TargetState>("api", removed_in_flight.key());
  auto c = fast_config(30);
  c.timeout_ms = 5000;
  HealthChecker checker(loop);
  checker.configure(
      {target_for(kept, sk, c), target_for(removed, sr, c), target_for(removed_in_flight, sf, c)});
  EXPECT_EQ(checker.size(), 3u);
  wait_probes(loop, removed, 2);
  ASSERT_TRUE(run_until(loop, [&] { return removed_in_flight.accepted == 1; }));
  EXPECT_EQ(health(sr), Health::kHealthy);
  EXPECT_EQ(health(sf), Health::kUnknown);  // its probe waits for the silent server

  checker.configure({target_for(kept, sk, c)});
  EXPECT_EQ(checker.size(), 1u);
  EXPECT_EQ(health(sr), Health::kUnknown) << "no longer checked";
  int removed_seen = removed.accepted;
  int kept_seen = kept.accepted;
  wait_probes(loop, removed_in_flight, 1);  // the abandoned probe's connection was closed
  run_for(loop, 200);
  EXPECT_GE(kept.accepted, kept_seen + 3);
  EXPECT_LE(removed.accepted, removed_seen + 1);  // one connect may have been on its way
  EXPECT_EQ(removed_in_flight.accepted, 1);
  EXPECT_EQ(health(sf), Health::kUnknown);
  EXPECT_EQ(health(sk), Health::kHealthy);
}

TEST(HealthChecker, AddressChangeRedirectsProbes) {
  core::EventLoop loop;
  TestServer before(loop), after(loop);
  auto state = std::make_shared<TargetState>("api", "backend.test:80");
  HealthChecker checker(loop);
  checker.configure({target_for(before, state, fast_config(30))});
  wait_probes(loop, before, 1);
  checker.configure({target_for(after, state, fast_config(30))});
  int seen = before.accepted;
  wait_probes(loop, after, 2);
  EXPECT_LE(before.accepted, seen + 1);  // at most one probe was already on its way
  EXPECT_EQ(health(state), Health::kHealthy);
}

TEST(HealthChecker, IgnoresNullAndDuplicateStates) {
  core::EventLoop loop;
  TestServer server(loop);
  auto state = std::make_shared<TargetState>("api", server.key());
  HealthChecker checker(loop);
  checker.configure({target_for(server, nullptr, fast_config(1000)),
                     target_for(server, state, fast_config(1000)),
                     target_for(server, state, fast_config(1000))});
  EXPECT_EQ(checker.size(), 1u);
  wait_probes(loop, server, 1);
  run_for(loop, 50);
  EXPECT_EQ(server.accepted, 1);
}

TEST(HealthChecker, DestroyedWithProbesInFlight) {
  core::EventLoop loop;
  TestServer server(loop);
  server.silent();
  auto state = std::make_shared<TargetState>("api", server.key());
  {
    HealthChecker checker(loop);
    checker.configure({target_for(server, state, fast_config(1000))});
    ASSERT_TRUE(run_until(loop, [&] { return server.accepted == 1; }));
  }
  wait_probes(loop, server, 1);  // closed by the destructor
  run_for(loop, 50);
  EXPECT_EQ(health(state), Health::kUnknown);
}

TEST(HealthChecker, ManyTargetsAreSpread) {
  core::EventLoop loop;
  TestServer server(loop);
  std::vector<std::shared_ptr<TargetState>> states;
  std::vector<HealthCheckTarget> targets;
  for (int i = 0; i < 20; ++i) {
    states.push_back(std::make_shared<TargetState>("api", "t" + std::to_string(i)));
    targets.push_back(target_for(server, states.back(), fast_config(400)));
  }
  HealthChecker checker(loop);
  checker.configure(std::move(targets));
  run_for(loop, 100);
  // Spread over 400 ms: after ~100 ms about a quarter have been probed, not all of them.
  EXPECT_GE(server.accepted, 2);
  EXPECT_LE(server.accepted, 12);
  ASSERT_TRUE(run_until(loop, [&] {
    for (auto& s : states) {
      if (health(s) != Health::kHealthy) return false;
    }
    return true;
  }));
}

}  // namespace
}  // namespace sluice::balance
