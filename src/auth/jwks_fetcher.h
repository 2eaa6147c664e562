// Keeps a JWKS (the identity provider's signing keys) fresh from the control thread's event
// loop and publishes each new KeySet to the workers. Fetches http(s)://host[:port]/path (https:
// the certificate verified against the system's CAs or ca_file, and the host name or IP
// against it) every refresh interval, or as the response's Cache-Control max-age says, never more
// often than min_refresh_interval_ms. A worker that meets an unknown kid calls request_refresh():
// requests are coalesced and rate-limited, so a flood of forged kids causes at most one fetch per
// min_refresh_interval_ms. A failed fetch (connect error, TLS handshake or verification failure,
// timeout, non-200, a body that is not a usable JWKS) keeps the last good keys, is logged at most
// once per 10 s and is retried with exponential back-off. Example (control thread):
//   JwksFetcherOptions o;  o.url = "http://idp:8080/.well-known/jwks.json";
//   JwksFetcher fetcher(control_loop, o);
//   if (!fetcher.start(&err)) fail(err);
// Example (worker thread, once per loop turn or per request; cheap when nothing changed):
//   if (fetcher.generation() != my_gen) { my_keys = fetcher.keys(); my_gen = my_keys->generation();
//   } JwtResult r = cache.verify(token, *my_keys, policy, now); if (r.error ==
//   JwtError::kUnknownKid) fetcher.request_refresh();
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "auth/jwk.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/timer_wheel.h"
#include "http/response_parser.h"
#include "net/owned_socket.h"
#include "net/socket.h"
#include "net/tls.h"

namespace sluice::auth {

struct JwksFetcherOptions {
  std::string url;                                // http(s)://host[:port]/path
  std::string ca_file;                            // https: PEM CAs; empty: the system's
  uint64_t refresh_interval_ms = 300'000;         // when the response has no max-age
  uint64_t min_refresh_interval_ms = 10'000;      // floor for every fetch, requested or scheduled
  uint64_t max_refresh_interval_ms = 86'400'000;  // ceiling for a max-age
  uint64_t timeout_ms = 5000;                     // one fetch: connect, send and the whole response
  uint64_t retry_initial_ms = 1000;               // back-off after a failure, doubling...
  uint64_t retry_max_ms = 60'000;                 // ...up to this
  size_t max_body_bytes = size_t{1} << 20;
};

// Splits "http(s)://host[:port][/path]" (host may be a [v6] literal; port defaults to 80 or 443,
// path to "/"). *https says which scheme (may be null).
bool parse_jwks_url(std::string_view url, std::string* host, uint16_t* port, std::string* path,
                    std::string* error, bool* https = nullptr);

class JwksFetcher {
 public:
  // The loop must be the calling thread's (the control thread).
  JwksFetcher(core::EventLoop& loop, JwksFetcherOptions options);
  // Closes a fetch in flight without waiting.
  ~JwksFetcher();
  JwksFetcher(const JwksFetcher&) = delete;
  JwksFetcher& operator=(const JwksFetcher&) = delete;

  // Checks the URL, resolves the host (blocking getaddrinfo: start-up only) and starts the first
  // fetch. False with *error for a bad URL or an unresolvable host.
  bool start(std::string* error);

  // Any thread. The newest good KeySet (an empty one before the first success); never null.
  std::shared_ptr<const KeySet> keys() const;
  // Any thread, one atomic load: the generation() of the KeySet keys() returns.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Any thread: fetch soon (within ~100 ms, and at most once per min_refresh_interval_ms).
  void request_refresh();

  // Any thread.
  uint64_t fetches_ok() const { return fetches_ok_.load(std::memory_order_relaxed); }
  uint64_t fetches_failed() const { return fetches_failed_.load(std::memory_order_relaxed); }
  // Of the failed fetches, those whose TLS handshake (or certificate check) failed.
  uint64_t tls_failures() const { return tls_failures_.load(std::memory_order_relaxed); }
  uint64_t key_count() const { return keys_count_.load(std::memory_order_relaxed); }
  uint64_t refreshes_requested() const {
    return refreshes_requested_.load(std::memory_order_relaxed);
  }
  uint64_t last_success_unix() const { return last_success_unix_.load(std::memory_order_relaxed); }
  // Control thread (tests, admin API).
  bool busy() const { return phase_ != Phase::kIdle; }
  uint64_t next_fetch_ms() const { return next_fetch_ms_; }

 private:
  using Connection = net::OwnedSocket<JwksFetcher>;
  friend class net::OwnedSocket<JwksFetcher>;
  struct TickTimer : core::Timer {
    explicit TickTimer(JwksFetcher& f) : owner(f) {}
    void on_timer() override { owner.on_tick(); }
    JwksFetcher& owner;
  };
  struct DeadlineTimer : core::Timer {
    explicit DeadlineTimer(JwksFetcher& f) : owner(f) {}
    void on_timer() override { owner.on_deadline(); }
    JwksFetcher& owner;
  };
  enum class Phase : uint8_t { kIdle, kConnecting, kWriting, kReading };

  void on_tick();
  void on_deadline();
  void on_io(uint32_t events);
  void start_fetch();
  void write_request();
  void read_response();
  void fail_tls(const char* during);
  // True once the response is complete (or failed: then the fetch is already finished).
  bool try_complete(bool eof);
  void succeed(std::string_view body, uint64_t max_age_ms);
  void fail(const std::string& why);
  void close_connection();
  void log_failure(const std::string& why);

  core::EventLoop& loop_;
  JwksFetcherOptions options_;
  std::string host_;
  uint16_t port_ = 80;
  std::string path_;
  bool https_ = false;
  std::shared_ptr<net::TlsClientContext> tls_context_;
  net::SocketAddress address_;
  bool resolve_next_ = false;  // re-resolve the host before the next fetch (after a failure)
  TickTimer tick_timer_{*this};
  DeadlineTimer deadline_timer_{*this};

  Phase phase_ = Phase::kIdle;
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<net::TlsStream> tls_;  // https: the connection's TLS
  core::BufferPool pool_;
  core::Buffer out_;       // the request not yet written
  core::Buffer read_buf_;  // bytes read, before they join in_
  std::string request_;
  std::string in_;
  http::ResponseParser parser_;
  http::ResponseHead head_;

  bool started_ = false;
  uint64_t next_fetch_ms_ = 0;
  uint64_t last_fetch_start_ms_ = 0;
  bool fetched_once_ = false;
  uint32_t failures_in_row_ = 0;
  std::string last_body_;  // an unchanged document keeps the current KeySet (and its caches)

  uint64_t last_log_ms_ = 0;
  bool logged_ = false;
  uint64_t unlogged_failures_ = 0;

  mutable std::mutex mu_;
  std::shared_ptr<const KeySet> keys_;  // guarded by mu_
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> refresh_pending_{false};
  std::atomic<uint64_t> fetches_ok_{0};
  std::atomic<uint64_t> fetches_failed_{0};
  std::atomic<uint64_t> tls_failures_{0};
  std::atomic<uint64_t> keys_count_{0};
  std::atomic<uint64_t> refreshes_requested_{0};
  std::atomic<uint64_t> last_success_unix_{0};
};

}  // namespace sluice::auth
