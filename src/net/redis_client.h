// A non-blocking Redis client on a worker's core::EventLoop (hiredis async API with our own
// adapter), for things shared between gateway instances: cluster rate-limit leases, later caches.
// One client per worker; it never blocks the loop: it connects in the background (AUTH, SELECT,
// then a PING that proves the server answers), puts a deadline on every command, and when the
// server stops answering it drops the connection and reconnects with jittered exponential
// back-off. While it is not connected, command() fails at once so the caller can apply its
// on_error policy without waiting.
// Example:
//   RedisOptions opts;  opts.port = 6379;
//   RedisClient redis(loop, opts);  redis.start();
//   const char* argv[] = {"INCR", "hits"};
//   if (!redis.command([](const RedisReply& r) { if (r.kind == RedisReply::kInteger) ...; },
//                      2, argv, nullptr)) { /* not connected: on_error policy */ }
//
// Callbacks run on the loop's thread, never inside command(). Each accepted command's callback is
// called exactly once (the reply, kError, kTimeout or kDisconnected) unless cancel()ed or the
// client is destroyed: destroying it drops pending callbacks WITHOUT calling them. A callback may
// issue commands and may call stop(), but must not destroy the client (use loop.destroy_later()).
// Callbacks are std::function: a capture of up to 16 trivially copyable bytes (two pointers) is
// stored inline by libstdc++, larger ones allocate once per command.
// The host should be an IP literal: hiredis resolves a name with blocking getaddrinfo().
// Writes go through hiredis' write(2): the process must ignore SIGPIPE (main() does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "core/timer_wheel.h"

struct redisAsyncContext;

namespace sluice::net {

struct RedisOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string password;               // AUTH when not empty
  int db = 0;                         // SELECT when not 0
  uint64_t connect_timeout_ms = 500;  // TCP connect plus AUTH/SELECT/PING
  uint64_t command_timeout_ms = 200;
  uint64_t reconnect_min_ms = 100;
  uint64_t reconnect_max_ms = 5000;
};

struct RedisReply {
  enum Kind : uint8_t { kInteger, kString, kArray, kNil, kStatus, kError, kTimeout, kDisconnected };
  Kind kind = kNil;
  int64_t integer = 0;
  std::string str;  // kString, kStatus, kError (the server's message), kTimeout/kDisconnected (why)
  std::vector<RedisReply> elements;  // kArray

  // A failure of the exchange rather than an answer of the server.
  bool failed() const { return kind == kTimeout || kind == kDisconnected; }
};

// A Lua script sent by EVALSHA, and by EVAL when the server does not know it yet (NOSCRIPT).
class RedisScript {
 public:
  explicit RedisScript(std::string body);
  const std::string& body() const { return body_; }
  const std::string& sha1() const { return sha1_; }  // 40 lowercase hex digits

 private:
  std::string body_;
  std::string sha1_;
};

struct RedisStats {
  uint64_t commands = 0;    // accepted by command()/eval()
  uint64_t errors = 0;      // kError replies (NOSCRIPT retries not counted) and kDisconnected
  uint64_t timeouts = 0;    // commands that ran past command_timeout_ms
  uint64_t reconnects = 0;  // connections established after the first one
};

class RedisClient {
 public:
  using Callback = std::function<void(const RedisReply&)>;
  // Identifies an accepted command for cancel(); ids grow, 0 is never used.
  using RequestId = uint64_t;

  RedisClient(core::EventLoop& loop, RedisOptions options);
  // Drops pending callbacks without calling them and closes the socket without waiting.
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Connects in the background and keeps reconnecting until stop().
  void start();
  // Closes the connection; pending callbacks get kDisconnected before stop() returns.
  void stop();
  // The handshake (AUTH, SELECT, PING) succeeded and the connection has not failed since.
  bool connected() const { return connected_; }

  // false (cb not called, not counted) when not connected; otherwise cb is called later, once.
  // argvlen may be null for NUL-terminated arguments. *id (if given) receives the command's id.
  bool command(Callback cb, int argc, const char** argv, const size_t* argvlen,
               RequestId* id = nullptr);
  // EVALSHA script.sha1 numkeys keys... args...; on NOSCRIPT the same call again as EVAL with the
  // body (one more round trip, once per server restart or SCRIPT FLUSH), under the same id.
  // `script` must outlive the command; keys and args are copied (one allocation per call).
  bool eval(Callback cb, const RedisScript& script, std::span<const std::string_view> keys,
            std::span<const std::string_view> args, RequestId* id = nullptr);
  // The command's callback will not be called (the command itself still runs). Unknown or
  // finished ids are ignored.
  void cancel(RequestId id);

  const RedisStats& stats() const { return stats_; }
  size_t pending() const { return pending_.size(); }
  const RedisOptions& options() const { return options_; }

 private:
  class Connection;
  friend class Connection;
  struct EvalRetry;
  struct Pending {
    RequestId id;
    uint64_t deadline_ms;
    Callback cb;  // empty once cancelled
    std::unique_ptr<EvalRetry> retry;
  };
  template <void (RedisClient::*fn)()>
  struct TimerFn : core::Timer {
    explicit TimerFn(RedisClient& c) : client(c) {}
    void on_timer() override { (client.*fn)(); }
    RedisClient& client;
  };

  static void hiredis_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void hiredis_handshake(redisAsyncContext* ac, void* reply, void* privdata);
  void connect();
  void on_connect_timeout();
  void on_command_timeout();
  void on_handshake_reply(bool ok);
  void on_reply(void* reply);
  // hiredis is freeing the connection (EOF, I/O error, refused connect).
  void on_connection_lost();
  // We give up on the connection (timeout, failed handshake): close it, fail what is pending.
  void drop_connection(RedisReply::Kind why);
  // Lets go of the connection; with free_context, also frees hiredis' context.
  void detach(bool free_context);
  // Calls every pending callback: kTimeout for those past their deadline when why is kTimeout,
  // kDisconnected for the others.
  void fail_pending(RedisReply::Kind why);
  void schedule_reconnect();
  void arm_command_timer();
  bool send(Callback& cb, std::unique_ptr<EvalRetry>& retry, int argc, const char** argv,
            const size_t* argvlen, RequestId id);
  uint64_t next_random();

  core::EventLoop& loop_;
  RedisOptions options_;
  std::unique_ptr<Connection> conn_;
  bool running_ = false;
  bool connected_ = false;
  bool ever_connected_ = false;
  int handshake_left_ = 0;
  uint32_t attempt_ = 0;
  uint64_t rng_;
  RequestId next_id_ = 1;
  std::deque<Pending> pending_;  // in the order of the connection's replies
  RedisStats stats_;
  TimerFn<&RedisClient::connect> reconnect_timer_{*this};
  TimerFn<&RedisClient::on_connect_timeout> connect_timer_{*this};
  TimerFn<&RedisClient::on_command_timeout> command_timer_{*this};
};

}  // namespace sluice::net
