// Against a real redis-server started by the test (skipped when /usr/bin/redis-server is missing).
#include "net/redis_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/event_loop.h"
#include "limits/cluster_quota.h"
#include "net/redis_quota_backend.h"

namespace sluice::net {
namespace {

constexpr const char* kRedisServer = "/usr/bin/redis-server";

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool port_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

class RedisServer {
 public:
  ~RedisServer() { kill_now(); }
  bool start(int port) {
    port_ = port;
    pid_ = fork();
    if (pid_ == 0) {
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      const std::string p = std::to_string(port);
      execl(kRedisServer, "redis-server", "--port", p.c_str(), "--save", "", "--appendonly", "no",
            "--bind", "127.0.0.1", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      if (port_open(port)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void kill_now() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void pause() { kill(pid_, SIGSTOP); }
  void resume() { kill(pid_, SIGCONT); }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

bool run_until(core::EventLoop& loop, const std::function<bool()>& done, uint64_t max_ms) {
  const uint64_t end = core::monotonic_ms() + max_ms;
  while (!done()) {
    if (core::monotonic_ms() >= end) return false;
    loop.run_once(5);
  }
  return true;
}

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kRedisServer, X_OK) != 0) GTEST_SKIP() << "no " << kRedisServer;
    signal(SIGPIPE, SIG_IGN);
    ASSERT_TRUE(server_.start(free_port()));
    opts_.port = static_cast<uint16_t>(server_.port());
    opts_.reconnect_min_ms = 20;
    opts_.reconnect_max_ms = 200;
  }

  // Runs one command to completion.
  std::optional<RedisReply> sync(RedisClient& c, std::vector<std::string> args) {
    std::vector<const char*> argv;
    std::vector<size_t> len;
    for (const auto& a : args) {
      argv.push_back(a.data());
      len.push_back(a.size());
    }
    std::optional<RedisReply> out;
    if (!c.command([&](const RedisReply& r) { out = r; }, static_cast<int>(argv.size()),
                   argv.data(), len.data())) {
      return std::nullopt;
    }
    run_until(
        loop_, [&] { return out.has_value(); }, 3000);
    return out;
  }

  core::EventLoop loop_;
  RedisServer server_;
  RedisOptions opts_;
};

TEST_F(RedisClientTest, CommandsAndReplies) {
  RedisClient c(loop_, opts_);
  const char* ping[] = {"PING"};
  EXPECT_FALSE(c.command([](const RedisReply&) { FAIL(); }, 1, ping, nullptr));  // not started
  c.start();
  ASSERT_TRUE(run_until(
      loop_, [&] { return c.connected(); }, 2000));

  auto r = sync(c, {"SET", "k", std::string("v\0w", 3)});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, RedisReply::kStatus);
  EXPECT_EQ(r->str, "OK");
  r = sync(c, {"GET", "k"});
  EXPECT_EQ(r->kind, RedisReply::kString);
  EXPECT_EQ(r->str, std::string("v\0w", 3));
  r = sync(c, {"GET", "missing"});
  EXPECT_EQ(r->kind, RedisReply::kNil);
  r = sync(c, {"INCRBY", "n", "41"});
  EXPECT_EQ(r->kind, RedisReply::kInteger);
  EXPECT_EQ(r->integer, 41);
  r = sync(c, {"INCR", "k"});
  EXPECT_EQ(r->kind, RedisReply::kError);
  sync(c, {"RPUSH", "l", "a", "b", "c"});
  r = sync(c, {"LRANGE", "l", "0", "-1"});
  ASSERT_EQ(r->kind, RedisReply::kArray);
  ASSERT_EQ(r->elements.size(), 3u);
  EXPECT_EQ(r->elements[2].str, "c");

  // A reply bigger than hiredis' 16 KiB read, and many pipelined in one turn: nothing may stay
  // unread in the socket with edge-triggered epoll.
  const std::string big(200000, 'x');
  sync(c, {"SET", "big", big});
  int done = 0;
  size_t got = 0;
  for (int i = 0; i < 50; ++i) {
    const char* get[] = {"GET", "big"};
    ASSERT_TRUE(c.command(
        [&](const RedisReply& x) {
          ++done;
          got += x.str.size();
        },
        2, get, nullptr));
  }
  ASSERT_TRUE(run_until(
      loop_, [&] { return done == 50; }, 5000));
  EXPECT_EQ(got, 50 * big.size());
  EXPECT_EQ(c.stats().errors, 1u);
  EXPECT_EQ(c.stats().timeouts, 0u);
}

TEST_F(RedisClientTest, EvalShaFallsBackToEval) {
  RedisClient c(loop_, opts_);
  c.start();
  ASSERT_TRUE(run_until(
      loop_, [&] { return c.connected(); }, 2000));
  sync(c, {"SCRIPT", "FLUSH"});
  const RedisScript script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}");
  ASSERT_EQ(script.sha1().size(), 40u);
  for (int round = 0; round < 2; ++round) {
    const std::string_view keys[] = {"ctr"};
    const std::string_view args[] = {"arg"};
    std::optional<RedisReply> out;
    ASSERT_TRUE(c.eval([&](const RedisReply& r) { out = r; }, script, keys, args));
    ASSERT_TRUE(run_until(
        loop_, [&] { return out.has_value(); }, 2000));
    ASSERT_EQ(out->kind, RedisReply::kArray) << out->str;
    EXPECT_EQ(out->elements[0].str, "ctr");
    EXPECT_EQ(out->elements[1].str, "arg");
    EXPECT_EQ(out->elements[2].integer, round + 1);
  }
  auto exists = sync(c, {"SCRIPT", "EXISTS", script.sha1()});
  ASSERT_EQ(exists->kind, RedisReply::kArray);
  EXPECT_EQ(exists->elements.at(0).integer, 1);
  EXPECT_EQ(c.stats().errors, 0u);  // the NOSCRIPT was handled, not reported
}

TEST_F(RedisClientTest, TimeoutAgainstPausedServerThenRecovers) {
  RedisClient c(loop_, opts_);
  c.start();
  ASSERT_TRUE(run_until(
      loop_, [&] { return c.connected(); }, 2000));
  server_.pause();
  std::optional<RedisReply> first, second;
  const char* ping[] = {"PING"};
  const uint64_t t0 = core::monotonic_ms();
  uint64_t t1 = 0;
  ASSERT_TRUE(c.command(
      [&](const RedisReply& r) {
        first = r;
        t1 = core::monotonic_ms();
      },
      1, ping, nullptr));
  ASSERT_TRUE(c.command([&](const RedisReply& r) { second = r; }, 1, ping, nullptr));
  ASSERT_TRUE(run_until(
      loop_, [&] { return second.has_value(); }, 2000));
  EXPECT_EQ(first->kind, RedisReply::kTimeout);
  EXPECT_TRUE(second->failed());
  const uint64_t waited = t1 - t0;
  std::printf("timeout answered after %llu ms (command_timeout_ms %llu)\n",
              static_cast<unsigned long long>(waited),
              static_cast<unsigned long long>(opts_.command_timeout_ms));
  EXPECT_GE(waited, opts_.command_timeout_ms - 5);
  EXPECT_LT(waited, opts_.command_timeout_ms + 150);
  EXPECT_FALSE(c.connected());
  EXPECT_FALSE(c.command([](const RedisReply&) {}, 1, ping, nullptr));
  EXPECT_GE(c.stats().timeouts, 1u);
  // While paused, reconnects fail (the kernel accepts, PING is not answered) without blocking.
  const uint64_t b0 = core::monotonic_ms();
  run_until(
      loop_, [] { return false; }, 700);
  EXPECT_LT(core::monotonic_ms() - b0, 900u);
  EXPECT_FALSE(c.connected());
  server_.resume();
  ASSERT_TRUE(run_until(
      loop_, [&] { return c.connected(); }, 3000));
  auto r = sync(c, {"PING"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->str, "PONG");
  EXPECT_GE(c.stats().reconnects, 1u);
}

TEST_F(RedisClientTest, ServerKilledThenRestarted) {
  opts_.command_timeout_ms = 5000;
  RedisClient c(loop_, opts_);
  c.start();
  ASSERT_TRUE(run_until(
      loop_, [&] { return c.connected(); }, 2000));
  std::optional<RedisReply> blocked;
  const char* blpop[] = {"BLPOP", "nothing", "0"};
  ASSERT_TRUE(c.command([&](const RedisReply& r) { blocked = r; }, 3, blpop, nullptr));
  run_until(
      loop_, [] { return false; }, 50);
  EXPECT_FALSE(blocked);
  server_.kill_now();
  ASSERT_TRUE(run_until(
      loop_, [&] { return blocked.has_value(); }, 2000));
  EXPECT_EQ(blocked->kind, RedisReply::kDisconnected);
  EXPECT_FALSE(c.connected());
  const char* ping[] = {"PING"};
  EXPECT_FALSE(c.command([](const RedisReply&) {}, 1, ping, nullptr));
  run_until(
      loop_, [] { return false; }, 300);  // a few refused reconnects
  EXPECT_FALSE(c.connected());
  ASSERT_TRUE(server_.start(server_.port()));
  ASSERT_TRUE(run_until(
      loop_, [&] { return c.connected(); }, 3000));
  auto r = sync(c, {"PING"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->str, "PONG");
  EXPECT_EQ(c.stats().reconnects, 1u);
}

TEST_F(RedisClientTest, StopCancelAndDestroy) {
  auto c = std::make_unique<RedisClient>(loop_, opts_);
  c->start();
  ASSERT_TRUE(run_until(
      loop_, [&] { return c->connected(); }, 2000));
  int called = 0;
  const char* ping[] = {"PING"};
  RedisClient::RequestId id = 0;
  ASSERT_TRUE(c->command([&](const RedisReply&) { ++called; }, 1, ping, nullptr, &id));
  EXPECT_NE(id, 0u);
  c->cancel(id);
  std::optional<RedisReply> last;
  ASSERT_TRUE(c->command([&](const RedisReply& r) { last = r; }, 1, ping, nullptr));
  ASSERT_TRUE(run_until(
      loop_, [&] { return last.has_value(); }, 2000));
  EXPECT_EQ(called, 0);
  // stop(): pending fail at once, no reconnect.
  last.reset();
  ASSERT_TRUE(c->command([&](const RedisReply& r) { last = r; }, 1, ping, nullptr));
  c->stop();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->kind, RedisReply::kDisconnected);
  run_until(
      loop_, [] { return false; }, 100);
  EXPECT_FALSE(c->connected());
  // Destruction: pending callbacks are dropped, never called.
  c->start();
  ASSERT_TRUE(run_until(
      loop_, [&] { return c->connected(); }, 2000));
  ASSERT_TRUE(c->command([&](const RedisReply&) { ++called; }, 1, ping, nullptr));
  c.reset();
  run_until(
      loop_, [] { return false; }, 100);
  EXPECT_EQ(called, 0);
}

// A client whose server refuses connections keeps the loop free and command() fails at once.
TEST_F(RedisClientTest, NoServerNeverBlocks) {
  opts_.port = static_cast<uint16_t>(free_port());
  RedisClient c(loop_, opts_);
  const uint64_t t0 = core::monotonic_ms();
  c.start();
  run_until(
      loop_, [] { return false; }, 300);
  EXPECT_LT(core::monotonic_ms() - t0, 500u);
  EXPECT_FALSE(c.connected());
  const char* ping[] = {"PING"};
  EXPECT_FALSE(c.command([](const RedisReply&) {}, 1, ping, nullptr));
}

// Each lease script once against the real server: grants stop at the limit (or the burst).
TEST_F(RedisClientTest, LeaseScriptsGrantUpToTheLimit) {
  RedisClient c(loop_, opts_);
  c.start();
  ASSERT_TRUE(run_until(
      loop_, [&] { return c.connected(); }, 2000));
  RedisQuotaBackend backend(c, loop_);
  auto lease = [&](limits::RateAlgorithm a, const std::string& key, int64_t limit, int64_t want,
                   int64_t burst) {
    const int64_t args[] = {limit, 60000, want, burst, 3750, 16, 900};  // 16 sub-windows
    std::optional<limits::LeaseReply> out;
    limits::QuotaBackend::Ticket ticket = 0;
    const bool sliding = a == limits::RateAlgorithm::kSlidingWindow;
    EXPECT_TRUE(backend.eval(
        static_cast<int>(a), key, std::span(args, sliding ? 7 : 4),
        [&](const limits::LeaseReply& r) { out = r; }, &ticket));
    run_until(
        loop_, [&] { return out.has_value(); }, 2000);
    return out.value_or(limits::LeaseReply{});
  };
  using A = limits::RateAlgorithm;
  for (A a : {A::kFixedWindow, A::kSlidingWindow, A::kTokenBucket}) {
    const std::string key = "script-" + std::to_string(static_cast<int>(a));
    const int64_t burst = a == A::kTokenBucket ? 8 : 0;
    const int64_t cap = a == A::kTokenBucket ? 8 : 10;
    auto r = lease(a, key, 10, 6, burst);
    ASSERT_TRUE(r.ok) << static_cast<int>(a);
    EXPECT_EQ(r.granted, 6);
    EXPECT_EQ(r.remaining, cap - 6);
    EXPECT_GT(r.reset_ms, 0);
    // The sliding window's units count a period after their lease's end: up to a sub-window more.
    EXPECT_LE(r.reset_ms, a == A::kSlidingWindow ? 60000 + 3750 : 60000);
    r = lease(a, key, 10, 6, burst);
    EXPECT_EQ(r.granted, cap - 6) << static_cast<int>(a);
    EXPECT_EQ(r.remaining, 0);
    r = lease(a, key, 10, 1, burst);
    EXPECT_EQ(r.granted, 0);
    if (a != A::kSlidingWindow) continue;
    // The sliding window's sub-window, and a refund of 3 units to it.
    EXPECT_GT(r.lease_ms, 0);
    EXPECT_LE(r.lease_ms, 900);
    EXPECT_GT(r.retry_ms, 0);  // denied: when the grants of a period ago leave
    ASSERT_GT(r.slot, 0);
    const int64_t refund[] = {r.slot, 3};
    std::optional<limits::LeaseReply> back;
    limits::QuotaBackend::Ticket ticket = 0;
    ASSERT_TRUE(backend.eval(
        limits::kRefundScript, key, refund, [&](const limits::LeaseReply& x) { back = x; },
        &ticket));
    ASSERT_TRUE(run_until(
        loop_, [&] { return back.has_value(); }, 2000));
    EXPECT_EQ(back->granted, 3);
    r = lease(a, key, 10, 5, burst);
    if (r.slot == refund[0]) {
      EXPECT_EQ(r.granted, 3);  // (unless a sub-window began meanwhile)
    }
    auto sttl = sync(c, {"PTTL", key + ":sw"});  // the sliding window's hash
    ASSERT_TRUE(sttl);
    EXPECT_GT(sttl->integer, 0);
  }
  // A reload that switches a policy's algorithm: each keeps a state of its own in the store.
  for (A a : {A::kTokenBucket, A::kSlidingWindow, A::kFixedWindow, A::kSlidingWindow}) {
    const auto r = lease(a, "switched", 10, 1, a == A::kTokenBucket ? 8 : 0);
    EXPECT_TRUE(r.ok) << static_cast<int>(a);
    EXPECT_EQ(r.granted, 1) << static_cast<int>(a);
  }
  // Keys expire: Redis memory stays bounded.
  auto ttl = sync(c, {"PTTL", "script-0"});
  ASSERT_TRUE(ttl);
  EXPECT_GT(ttl->integer, 0);
}

// Three "instances" (three loops in three threads, each with its own client and quota) hammer
// one key with a fixed window of 3000 per 10 s.
TEST_F(RedisClientTest, ClusterQuotaThreeInstancesFixedWindow) {
  constexpr uint64_t kLimit = 3000;
  constexpr uint64_t kPeriod = 10000;
  constexpr int kInstances = 3;
  {
    // Start well inside a window: a window change during the run would grant a second 3000.
    RedisClient c(loop_, opts_);
    c.start();
    ASSERT_TRUE(run_until(
        loop_, [&] { return c.connected(); }, 2000));
    auto t = sync(c, {"TIME"});
    ASSERT_EQ(t->kind, RedisReply::kArray);
    const uint64_t now =
        std::stoull(t->elements[0].str) * 1000 + std::stoull(t->elements[1].str) / 1000;
    const uint64_t left = kPeriod - now % kPeriod;
    if (left < 3500) std::this_thread::sleep_for(std::chrono::milliseconds(left + 50));
  }
  const limits::RateParams params{limits::RateAlgorithm::kFixedWindow, kLimit, kPeriod, 0};
  const std::string key = "e2e-" + std::to_string(getpid());
  std::atomic<int> ready{0};
  std::atomic<uint64_t> admitted{0}, denied{0}, unavailable{0}, fetches{0};
  auto instance = [&] {
    core::EventLoop loop;
    RedisOptions o = opts_;
    o.command_timeout_ms = 1000;
    RedisClient client(loop, o);
    client.start();
    run_until(
        loop, [&] { return client.connected(); }, 2000);
    RedisQuotaBackend backend(client, loop);
    limits::ClusterQuotaOptions qo;
    qo.policy_id = "e2e";
    limits::ClusterQuota quota(backend, qo);
    struct Slot : limits::QuotaWaiter {
      void on_quota(const limits::RateDecision& d) override {
        ++(d.allowed ? *yes : *no);
        busy = false;
      }
      void on_quota_unavailable() override {
        ++*na;
        busy = false;
      }
      bool busy = false;
      uint64_t *yes, *no, *na;
    };
    uint64_t yes = 0, no = 0, na = 0;
    std::vector<Slot> slots(32);
    for (auto& s : slots) {
      s.yes = &yes;
      s.no = &no;
      s.na = &na;
    }
    ready.fetch_add(1);
    while (ready.load() < kInstances) std::this_thread::yield();
    const uint64_t end = core::monotonic_ms() + 2000;
    while (core::monotonic_ms() < end) {
      for (auto& s : slots) {
        if (s.busy) continue;
        limits::RateDecision d;
        switch (quota.take(key, params, loop.now_ms(), &d, &s)) {
          case limits::QuotaResult::kDecided:
            ++(d.allowed ? yes : no);
            break;
          case limits::QuotaResult::kWait:
            s.busy = true;
            break;
          case limits::QuotaResult::kUnavailable:
            ++na;
            break;
        }
      }
      loop.run_once(0);
    }
    // Let fetches in flight land (their waiters are answered) before counting.
    run_until(
        loop,
        [&] {
          for (auto& s : slots) {
            if (s.busy) return false;
          }
          return true;
        },
        2000);
    admitted += yes;
    denied += no;
    unavailable += na;
    fetches += quota.stats().fetches;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) threads.emplace_back(instance);
  for (auto& t : threads) t.join();
  const double error = (static_cast<double>(kLimit) - static_cast<double>(admitted.load())) /
                       static_cast<double>(kLimit);
  std::printf(
      "cluster quota: admitted %llu of %llu (error %.2f%%), denied %llu, unavailable %llu, "
      "fetches %llu\n",
      static_cast<unsigned long long>(admitted.load()), static_cast<unsigned long long>(kLimit),
      100.0 * error, static_cast<unsigned long long>(denied.load()),
      static_cast<unsigned long long>(unavailable.load()),
      static_cast<unsigned long long>(fetches.load()));
  EXPECT_LE(admitted.load(), kLimit);
  EXPECT_GE(admitted.load(), kLimit * 95 / 100);
  EXPECT_EQ(unavailable.load(), 0u);
  EXPECT_GT(denied.load(), 0u);
}

}  // namespace
}  // namespace sluice::net
