// net::BlockingHttp against a scripted loopback server: bodies by Content-Length, chunked and
// until close, a streamed body handed out piece by piece, a deadline, cancel() from another
// thread, and a refused connection.
#include "net/blocking_http.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "net/socket.h"

namespace sluice::net {
namespace {

// Accepts one connection, reads the request head, writes `pieces` (pausing `gap_ms` between
// them) and closes unless hold is set (then it waits for the client to go).
class Script {
 public:
  Script(std::vector<std::string> pieces, int gap_ms = 0, bool hold = false) {
    SocketAddress addr;
    std::string err;
    resolve_address("127.0.0.1", 0, &addr, &err);
    fd_ = listen_tcp(addr, false, 4, &err);
    port_ = local_port(fd_);
    thread_ = std::thread([this, pieces = std::move(pieces), gap_ms, hold] {
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, 5000);
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 5000) <= 0) break;
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      request_ = head;
      for (const std::string& piece : pieces) {
        (void)::send(c, piece.data(), piece.size(), MSG_NOSIGNAL);
        if (gap_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
      }
      if (hold) {
        pollfd q{c, POLLIN, 0};
        ::poll(&q, 1, 5000);  // until the client closes
      }
      ::close(c);
    });
  }
  ~Script() {
    thread_.join();
    ::close(fd_);
  }
  HttpCall call(uint64_t timeout_ms = 2000) const {
    HttpCall c;
    c.host = "127.0.0.1";
    c.port = port_;
    c.method = "POST";
    c.path = "/p";
    c.body = "{}";
    c.headers = {{"x-a", "1"}};
    c.timeout_ms = timeout_ms;
    return c;
  }
  const std::string& request() const { return request_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::string request_;
  std::thread thread_;
};

TEST(BlockingHttp, ContentLengthBody) {
  Script s({"HTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nhel", "lo"}, 20);
  BlockingHttp http;
  HttpResult r = http.call(s.call());
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "hello");
}

TEST(BlockingHttp, ChunkedAndUntilCloseBodies) {
  {
    Script s({"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n",
              "2\r\nde\r\n0\r\n\r\n"},
             20);
    BlockingHttp http;
    HttpResult r = http.call(s.call());
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.body, "abcde");
    EXPECT_NE(s.request().find("POST /p HTTP/1.1\r\n"), std::string::npos) << s.request();
    EXPECT_NE(s.request().find("x-a: 1\r\n"), std::string::npos) << s.request();
    EXPECT_NE(s.request().find("content-length: 2\r\n"), std::string::npos) << s.request();
  }
  {
    Script s({"HTTP/1.1 200 OK\r\n\r\nuntil", " close"});
    BlockingHttp http;
    HttpResult r = http.call(s.call());
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.body, "until close");
  }
}

TEST(BlockingHttp, StreamHandsOutPiecesUntilTheCallerStops) {
  Script s({"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", "4\r\none\n\r\n",
            "4\r\ntwo\n\r\n", "6\r\nthree\n\r\n"},
           30, true);
  BlockingHttp http;
  std::string got;
  HttpResult r = http.stream(
      s.call(),
      [&](std::string_view piece) {
        got.append(piece);
        return got.find("two\n") == std::string::npos;  // stop after the second line
      },
      0);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(got, "one\ntwo\n");
}

TEST(BlockingHttp, DeadlineAndCancel) {
  {
    Script s({}, 0, true);  // answers nothing
    BlockingHttp http;
    const auto t0 = std::chrono::steady_clock::now();
    HttpResult r = http.call(s.call(300));
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
    EXPECT_LT(ms, 2000);
  }
  {
    Script s({"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"}, 0, true);
    BlockingHttp http;
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      http.cancel();
    });
    HttpResult r = http.stream(
        s.call(), [](std::string_view) { return true; }, 0);
    canceller.join();
    EXPECT_TRUE(r.ok);  // the head came
    EXPECT_FALSE(r.error.empty());
    EXPECT_FALSE(http.call(s.call()).ok);  // cancel() is for good
  }
}

TEST(BlockingHttp, RefusedConnection) {
  BlockingHttp http;
  HttpCall c;
  c.host = "127.0.0.1";
  c.port = 1;
  HttpResult r = http.call(c);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("connect"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace sluice::net
