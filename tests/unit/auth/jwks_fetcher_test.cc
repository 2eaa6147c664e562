#include "auth/jwks_fetcher.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "auth/base64url.h"
#include "auth/jwt.h"

#include "../loop_helpers.h"

namespace sluice::auth {
namespace {

using test::Clock;
using test::run_for;
using test::run_until;

std::string jwks(const std::vector<std::pair<std::string, std::string>>& kid_secrets) {
  std::string s = R"({"keys":[)";
  for (size_t i = 0; i < kid_secrets.size(); ++i) {
    if (i > 0) s += ",";
    s += R"({"kty":"oct","alg":"HS256","kid":")" + kid_secrets[i].first + R"(","k":")" +
         base64url_encode(kid_secrets[i].second) + "\"}";
  }
  return s + "]}";
}

// A blocking HTTP/1.1 JWKS server on its own thread. Each connection gets the current
// response; it can also stay silent or close at once.
class JwksServer {
 public:
  enum class Mode { kServe, kSilent, kClose };

  JwksServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    port_ = net::local_port(fd_);
    thread_ = std::thread([this] { loop(); });
  }
  ~JwksServer() { stop(); }

  // Closes the listener: connections are then refused.
  void stop() {
    if (stop_.exchange(true)) return;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/jwks"; }
  int requests() const { return requests_.load(); }

  void serve(int status, std::string body, std::string extra_headers = "", bool chunked = false) {
    std::lock_guard<std::mutex> lock(mu_);
    mode_ = Mode::kServe;
    status_ = status;
    body_ = std::move(body);
    extra_ = std::move(extra_headers);
    chunked_ = chunked;
  }
  void set_mode(Mode m) {
    std::lock_guard<std::mutex> lock(mu_);
    mode_ = m;
  }
  std::string last_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }

 private:
  void loop() {
    std::vector<int> silent;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        pollfd q{c, POLLIN, 0};
        if (poll(&q, 1, 1000) <= 0) break;
        ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      ++requests_;
      std::string resp;
      Mode mode;
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_request_ = req;
        mode = mode_;
        if (chunked_) {
          char size[32];
          std::snprintf(size, sizeof(size), "%zx\r\n", body_.size());
          resp = "HTTP/1.1 " + std::to_string(status_) + " X\r\nTransfer-Encoding: chunked\r\n" +
                 extra_ + "\r\n" + size + body_ + "\r\n0\r\n\r\n";
        } else {
          resp = "HTTP/1.1 " + std::to_string(status_) +
                 " X\r\nContent-Length: " + std::to_string(body_.size()) + "\r\n" + extra_ +
                 "Connection: close\r\n\r\n" + body_;
        }
      }
      if (mode == Mode::kSilent) {
        silent.push_back(c);
        continue;
      }
      if (mode == Mode::kServe) {
        // In two writes, so the client sees a response split across reads.
        size_t half = resp.size() / 2;
        (void)!send(c, resp.data(), half, MSG_NOSIGNAL);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        (void)!send(c, resp.data() + half, resp.size() - half, MSG_NOSIGNAL);
      }
      ::close(c);
    }
    for (int c : silent) ::close(c);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  Mode mode_ = Mode::kServe;
  int status_ = 200;
  std::string body_;
  std::string extra_;
  bool chunked_ = false;
  std::string last_request_;
};

JwksFetcherOptions options(const JwksServer& s) {
  JwksFetcherOptions o;
  o.url = s.url();
  o.refresh_interval_ms = 60000;
  o.min_refresh_interval_ms = 300;
  o.timeout_ms = 500;
  o.retry_initial_ms = 100;
  o.retry_max_ms = 400;
  return o;
}

std::string hs_token(const std::string& kid, const std::string& secret) {
  std::string input = base64url_encode(R"({"alg":"HS256","kid":")" + kid + "\"}") + "." +
                      base64url_encode(R"({"sub":"u","exp":4000000000})");
  unsigned char mac[64];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + base64url_encode(std::string_view(reinterpret_cast<char*>(mac), len));
}

constexpr char kSecretA[] = "secret-a-0123456789abcdef";
constexpr char kSecretB[] = "secret-b-0123456789abcdef";

TEST(JwksFetcher, FetchesRotatesAndRateLimitsRefreshes) {
  JwksServer server;
  server.serve(200, jwks({{"a", kSecretA}}));
  core::EventLoop loop;
  JwksFetcher f(loop, options(server));
  EXPECT_TRUE(f.keys()->empty());
  std::string err;
  ASSERT_TRUE(f.start(&err)) << err;
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_ok() == 1; }));
  EXPECT_NE(server.last_request().find("GET /jwks HTTP/1.1\r\n"), std::string::npos);
  EXPECT_EQ(f.key_count(), 1u);
  EXPECT_GT(f.last_success_unix(), 0u);
  auto keys = f.keys();
  EXPECT_EQ(f.generation(), keys->generation());
  JwtCache cache;
  EXPECT_TRUE(cache.verify(hs_token("a", kSecretA), *keys, {}, 1700000000).ok);

  // Rotation: the IdP now signs with b; a token with kid b triggers a refresh.
  server.serve(200, jwks({{"b", kSecretB}}));
  JwtResult r = cache.verify(hs_token("b", kSecretB), *keys, {}, 1700000000);
  EXPECT_EQ(r.error, JwtError::kUnknownKid);
  EXPECT_EQ(r.kid, "b");
  uint64_t gen = f.generation();
  int before = server.requests();
  for (int i = 0; i < 50; ++i) f.request_refresh();  // a burst of unknown kids
  ASSERT_TRUE(run_until(loop, [&] { return f.generation() != gen; }));
  keys = f.keys();
  EXPECT_EQ(keys->find("a"), nullptr);
  EXPECT_TRUE(cache.verify(hs_token("b", kSecretB), *keys, {}, 1700000000).ok);
  // The cached token verified with a is not served from the cache under the new keys.
  EXPECT_EQ(cache.verify(hs_token("a", kSecretA), *keys, {}, 1700000000).error,
            JwtError::kUnknownKid);
  EXPECT_EQ(f.refreshes_requested(), 50u);
  run_for(loop, 100);
  EXPECT_EQ(server.requests(), before + 1);  // coalesced

  // Requests right after a fetch wait for min_refresh_interval_ms, then make one more fetch.
  f.request_refresh();
  f.request_refresh();
  run_for(loop, 100);
  EXPECT_EQ(server.requests(), before + 1);
  ASSERT_TRUE(run_until(loop, [&] { return server.requests() == before + 2; }));
  run_for(loop, 400);
  EXPECT_EQ(server.requests(), before + 2);
  // The same document again keeps the same KeySet (and so the workers' caches).
  EXPECT_EQ(f.generation(), keys->generation());
}

TEST(JwksFetcher, KeepsTheLastGoodKeysWhenFetchesFail) {
  JwksServer server;
  server.serve(200, jwks({{"a", kSecretA}}));
  core::EventLoop loop;
  JwksFetcher f(loop, options(server));
  std::string err;
  ASSERT_TRUE(f.start(&err)) << err;
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_ok() == 1; }));
  uint64_t gen = f.generation();

  uint64_t failed = f.fetches_failed();
  server.serve(500, "oops");
  f.request_refresh();
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_failed() > failed; }));
  EXPECT_EQ(f.generation(), gen);

  failed = f.fetches_failed();
  server.serve(200, "{not json");
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_failed() > failed; }));  // back-off retry
  EXPECT_EQ(f.generation(), gen);

  failed = f.fetches_failed();
  server.serve(200, R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]})");
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_failed() > failed; }));
  EXPECT_EQ(f.generation(), gen);

  failed = f.fetches_failed();
  server.set_mode(JwksServer::Mode::kSilent);
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_failed() > failed; }));
  EXPECT_FALSE(f.busy());

  failed = f.fetches_failed();
  server.set_mode(JwksServer::Mode::kClose);
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_failed() > failed; }));

  failed = f.fetches_failed();
  server.stop();  // down: connection refused
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_failed() > failed + 1; }));
  EXPECT_EQ(f.generation(), gen);
  EXPECT_EQ(f.keys()->size(), 1u);
  EXPECT_EQ(f.key_count(), 1u);
  EXPECT_EQ(f.fetches_ok(), 1u);
}

TEST(JwksFetcher, RecoversAfterFailuresAndHonoursMaxAge) {
  JwksServer server;
  server.serve(503, "");
  core::EventLoop loop;
  JwksFetcher f(loop, options(server));
  std::string err;
  ASSERT_TRUE(f.start(&err)) << err;
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_failed() >= 2; }));  // retried by itself
  EXPECT_TRUE(f.keys()->empty());
  server.serve(200, jwks({{"a", kSecretA}}), "Cache-Control: public, max-age=1\r\n", true);
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_ok() == 1; }));
  EXPECT_EQ(f.key_count(), 1u);
  // max-age=1 beats the 60 s refresh interval.
  auto t0 = Clock::now();
  ASSERT_TRUE(run_until(
      loop, [&] { return f.fetches_ok() == 2; }, 3000));
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(800));
}

TEST(JwksFetcher, TooLargeResponsesFail) {
  JwksServer server;
  server.serve(200, std::string(5000, ' ') + jwks({{"a", kSecretA}}));
  core::EventLoop loop;
  JwksFetcherOptions o = options(server);
  o.max_body_bytes = 1000;
  JwksFetcher f(loop, o);
  std::string err;
  ASSERT_TRUE(f.start(&err)) << err;
  ASSERT_TRUE(run_until(loop, [&] { return f.fetches_failed() >= 1; }));
  EXPECT_EQ(f.fetches_ok(), 0u);
}

TEST(JwksUrl, ParsesAndRejects) {
  std::string host, path, err;
  uint16_t port = 0;
  ASSERT_TRUE(parse_jwks_url("http://idp:8080/.well-known/jwks.json", &host, &port, &path, &err));
  EXPECT_EQ(host, "idp");
  EXPECT_EQ(port, 8080);
  EXPECT_EQ(path, "/.well-known/jwks.json");
  ASSERT_TRUE(parse_jwks_url("http://[::1]/k?x=1", &host, &port, &path, &err));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 80);
  EXPECT_EQ(path, "/k?x=1");
  ASSERT_TRUE(parse_jwks_url("HTTP://h", &host, &port, &path, &err));
  EXPECT_EQ(path, "/");
  bool https = false;
  ASSERT_TRUE(parse_jwks_url("HTTPS://idp.example/keys", &host, &port, &path, &err, &https));
  EXPECT_TRUE(https);
  EXPECT_EQ(host, "idp.example");
  EXPECT_EQ(port, 443);
  EXPECT_EQ(path, "/keys");
  ASSERT_TRUE(parse_jwks_url("https://[::1]:8443", &host, &port, &path, &err, &https));
  EXPECT_EQ(port, 8443);
  ASSERT_TRUE(parse_jwks_url("http://h", &host, &port, &path, &err, &https));
  EXPECT_FALSE(https);
  for (const char* bad : {"ftp://x", "http://", "https://", "http://u@h/", "http://h:0/",
                          "http://h:99999/", "http://::1/", "http://h/a b", "http://h:/"}) {
    EXPECT_FALSE(parse_jwks_url(bad, &host, &port, &path, &err)) << bad;
    EXPECT_FALSE(err.empty());
  }
  // A CA file that cannot be loaded stops the start.
  core::EventLoop loop;
  JwksFetcherOptions o;
  o.url = "https://127.0.0.1/jwks";
  o.ca_file = "/nonexistent/ca.pem";
  JwksFetcher f(loop, o);
  EXPECT_FALSE(f.start(&err));
  EXPECT_NE(err.find("/nonexistent/ca.pem"), std::string::npos) << err;
}

}  // namespace
}  // namespace sluice::auth
