#include "net/resolver.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace sluice::net {
namespace {

struct Result {
  bool done = false;
  bool ok = false;
  std::vector<std::string> ips;
  std::vector<uint16_t> ports;
  std::string error;
  int calls = 0;
};

Resolver::Callback record(Result* r) {
  return [r](bool ok, const std::vector<SocketAddress>& addrs, const std::string& error) {
    ++r->calls;
    r->done = true;
    r->ok = ok;
    r->error = error;
    for (const SocketAddress& a : addrs) {
      r->ips.push_back(ip_string(a.storage));
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&a.storage);  // port at same offset
      r->ports.push_back(ntohs(sin->sin_port));
    }
  };
}

// Turns the loop until pred() or timeout; returns whether pred() became true.
template <class Pred>
bool run_until(core::EventLoop& loop, Pred pred, int timeout_ms = 8000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    loop.run_once(20);
  }
  return true;
}

// The Python test DNS server, one for the whole suite, with a zone file it re-reads per query.
class DnsServer {
 public:
  DnsServer() {
    char tmpl[] = "/tmp/sluice-dns-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    zone_ = dir_ + "/zone.json";
    write_zone(R"({"two.test": ["10.0.0.2", "10.0.0.1", "10.0.0.2"],
                   "mixed.test": ["::1", "192.0.2.7"],
                   "silent.test": null})");
    int out[2];
    if (pipe(out) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    std::string script = SLUICE_SOURCE_DIR "/tests/integration/dns_server.py";
    std::vector<std::string> args = {"/usr/bin/python3", script, "--port", "0", "--zone", zone_};
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
      pid_ = -1;
      close(out[0]);
      return;
    }
    // "listening on 127.0.0.1:PORT\n"
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    size_t colon = line.rfind(':');
    if (line.rfind("listening on ", 0) == 0 && colon != std::string::npos) {
      address_ = line.substr(13);
      port_ = std::stoi(line.substr(colon + 1));
    }
  }
  ~DnsServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
    if (!zone_.empty()) std::remove(zone_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  // Atomically (rename) so the server never reads a half-written file.
  void write_zone(const std::string& json) {
    std::string tmp = zone_ + ".tmp";
    {
      std::ofstream f(tmp);
      f << json;
    }
    std::rename(tmp.c_str(), zone_.c_str());
  }
  bool running() const { return pid_ > 0 && port_ > 0; }
  const std::string& address() const { return address_; }

 private:
  pid_t pid_ = -1;
  std::string dir_;
  std::string zone_;
  std::string address_;
  int port_ = 0;
};

class ResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new DnsServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(server_->running()) << "could not start tests/integration/dns_server.py";
  }
  static DnsServer* server_;
};
DnsServer* ResolverTest::server_ = nullptr;

TEST(Resolver, Localhost) {
  core::EventLoop loop;
  std::string err;
  Resolver dns(loop, {}, &err);
  ASSERT_EQ(err, "");
  Result r;
  dns.resolve("localhost", 8080, record(&r));
  EXPECT_FALSE(r.done) << "callbacks never run inside resolve()";
  EXPECT_EQ(dns.pending(), 1u);
  ASSERT_TRUE(run_until(loop, [&] { return r.done; }));
  EXPECT_EQ(dns.pending(), 0u);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_FALSE(r.ips.empty());
  for (const std::string& ip : r.ips) EXPECT_TRUE(ip == "127.0.0.1" || ip == "::1") << ip;
  for (uint16_t p : r.ports) EXPECT_EQ(p, 8080);
}

TEST(Resolver, IpLiterals) {
  core::EventLoop loop;
  Resolver dns(loop, {}, nullptr);
  Result v4, v6, bracketed;
  dns.resolve("192.0.2.1", 80, record(&v4));
  dns.resolve("2001:db8::1", 443, record(&v6));
  dns.resolve("[::1]", 8443, record(&bracketed));
  EXPECT_FALSE(v4.done);
  EXPECT_EQ(dns.pending(), 3u);
  loop.run_once(0);  // the next turn answers them
  ASSERT_TRUE(v4.done && v6.done && bracketed.done);
  EXPECT_EQ(v4.ips, std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ(v4.ports, std::vector<uint16_t>{80});
  EXPECT_EQ(v6.ips, std::vector<std::string>{"2001:db8::1"});
  EXPECT_EQ(v6.ports, std::vector<uint16_t>{443});
  EXPECT_EQ(bracketed.ips, std::vector<std::string>{"::1"});
  EXPECT_EQ(dns.pending(), 0u);
}

TEST(Resolver, EmptyNameFails) {
  core::EventLoop loop;
  Resolver dns(loop, {}, nullptr);
  Result r;
  dns.resolve("", 80, record(&r));
  ASSERT_TRUE(run_until(loop, [&] { return r.done; }));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
}

TEST(Resolver, BadServerIsReported) {
  core::EventLoop loop;
  for (const char* bad : {"nonsense", "127.0.0.1:", "127.0.0.1:99999", "[::1", "[::1]x"}) {
    std::string err;
    Resolver dns(loop, {bad}, &err);
    EXPECT_NE(err, "") << bad;
    Result r;
    dns.resolve("example.test", 80, record(&r));
    ASSERT_TRUE(run_until(loop, [&] { return r.done; }));
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("bad DNS server"), std::string::npos) << r.error;
  }
  std::string err;
  Resolver ok(loop, {"127.0.0.1:5353", "[::1]:53", "10.0.0.1", "::1"}, &err);
  EXPECT_EQ(err, "");
}

TEST_F(ResolverTest, TwoRecordsSortedAndDeduplicated) {
  core::EventLoop loop;
  std::string err;
  Resolver dns(loop, {server_->address()}, &err);
  ASSERT_EQ(err, "");
  Result r;
  dns.resolve("two.test", 9000, record(&r));
  ASSERT_TRUE(run_until(loop, [&] { return r.done; }));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.ips, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(r.ports, (std::vector<uint16_t>{9000, 9000}));
  EXPECT_EQ(r.calls, 1);
}

TEST_F(ResolverTest, ARecordsBeforeAaaaRecords) {
  core::EventLoop loop;
  Resolver dns(loop, {server_->address()}, nullptr);
  Result r;
  dns.resolve("MIXED.test.", 80, record(&r));
  ASSERT_TRUE(run_until(loop, [&] { return r.done; }));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.ips, (std::vector<std::string>{"192.0.2.7", "::1"}));
}

TEST_F(ResolverTest, NxdomainFails) {
  core::EventLoop loop;
  Resolver dns(loop, {server_->address()}, nullptr);
  Result r;
  dns.resolve("missing.test", 80, record(&r));
  ASSERT_TRUE(run_until(loop, [&] { return r.done; }));
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.ips.empty());
  EXPECT_NE(r.error.find("missing.test"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("not found"), std::string::npos) << r.error;
}

TEST_F(ResolverTest, ZoneChangesAreSeen) {
  core::EventLoop loop;
  Resolver dns(loop, {server_->address()}, nullptr);
  server_->write_zone(R"({"moving.test": ["10.1.0.1"]})");
  Result first;
  dns.resolve("moving.test", 80, record(&first));
  ASSERT_TRUE(run_until(loop, [&] { return first.done; }));
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(first.ips, std::vector<std::string>{"10.1.0.1"});

  server_->write_zone(R"({"moving.test": ["10.1.0.3", "10.1.0.2"]})");
  Result second;
  dns.resolve("moving.test", 80, record(&second));
  ASSERT_TRUE(run_until(loop, [&] { return second.done; }));
  ASSERT_TRUE(second.ok) << second.error;
  EXPECT_EQ(second.ips, (std::vector<std::string>{"10.1.0.2", "10.1.0.3"}));
  server_->write_zone(R"({"two.test": ["10.0.0.2", "10.0.0.1"], "mixed.test": ["::1",
                         "192.0.2.7"], "silent.test": null})");
}

TEST_F(ResolverTest, ManyConcurrentQueries) {
  core::EventLoop loop;
  Resolver dns(loop, {server_->address()}, nullptr);
  std::vector<Result> results(40);
  for (size_t i = 0; i < results.size(); ++i) {
    dns.resolve(i % 2 == 0 ? "two.test" : "missing.test", 80, record(&results[i]));
  }
  EXPECT_EQ(dns.pending(), results.size());
  ASSERT_TRUE(run_until(loop, [&] { return dns.pending() == 0; }));
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].calls, 1);
    EXPECT_EQ(results[i].ok, i % 2 == 0) << results[i].error;
  }
}

TEST_F(ResolverTest, CallbackMayResolveAgain) {
  core::EventLoop loop;
  Resolver dns(loop, {server_->address()}, nullptr);
  Result second;
  bool first_done = false;
  dns.resolve("two.test", 80, [&](bool ok, const std::vector<SocketAddress>&, const std::string&) {
    first_done = ok;
    dns.resolve("mixed.test", 81, record(&second));
  });
  ASSERT_TRUE(run_until(loop, [&] { return second.done; }));
  EXPECT_TRUE(first_done);
  EXPECT_TRUE(second.ok) << second.error;
}

TEST_F(ResolverTest, SilentServerTimesOut) {
  core::EventLoop loop;
  Resolver dns(loop, {server_->address()}, nullptr);
  Result r;
  auto start = std::chrono::steady_clock::now();
  dns.resolve("silent.test", 80, record(&r));
  ASSERT_TRUE(run_until(
      loop, [&] { return r.done; }, 10000));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("silent.test"), std::string::npos) << r.error;
  EXPECT_LT(ms, 4500);
  EXPECT_GE(ms, 900);
}

TEST(Resolver, UnreachableServerTimesOut) {
  // A bound UDP socket that never reads: queries vanish, like a dead server.
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
  socklen_t len = sizeof(sin);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  std::string server = "127.0.0.1:" + std::to_string(ntohs(sin.sin_port));

  core::EventLoop loop;
  Resolver dns(loop, {server}, nullptr);
  Result r;
  auto start = std::chrono::steady_clock::now();
  dns.resolve("nobody.test", 80, record(&r));
  ASSERT_TRUE(run_until(
      loop, [&] { return r.done; }, 10000));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("nobody.test"), std::string::npos) << r.error;
  EXPECT_LT(ms, 4500);
  close(fd);
}

TEST(Resolver, DestructionCancelsWithoutCallbacks) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
  socklen_t len = sizeof(sin);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);

  core::EventLoop loop;
  Result pending_name, pending_literal;
  {
    Resolver dns(loop, {"127.0.0.1:" + std::to_string(ntohs(sin.sin_port))}, nullptr);
    dns.resolve("nobody.test", 80, record(&pending_name));
    dns.resolve("127.0.0.1", 80, record(&pending_literal));
    loop.run_once(0);
    pending_literal = Result{};
    dns.resolve("127.0.0.2", 80, record(&pending_literal));  // queued for the next turn
    EXPECT_EQ(dns.pending(), 2u);
  }
  for (int i = 0; i < 5; ++i) loop.run_once(10);
  EXPECT_EQ(pending_name.calls, 0);
  EXPECT_EQ(pending_literal.calls, 0);
  close(fd);
}

}  // namespace
}  // namespace sluice::net
