// A small HTTP/1.1 client for background threads (webhook deliveries, the etcd client): one
// request per connection, blocking with a deadline on every step, a body read whole (bounded)
// or streamed chunk by chunk (etcd's watch). cancel() from another thread ends a call in
// progress (shutdown of its socket). Never for the data path or the control loop.
// Example:
//   BlockingHttp http;
//   HttpCall call{.host = "127.0.0.1", .port = 2379, .method = "POST", .path = "/v3/kv/range",
//                 .body = R"({"key":"Lw=="})", .timeout_ms = 2000};
//   HttpResult r = http.call(call);      // r.ok, r.status, r.body, r.error
//   http.stream(call, [](std::string_view piece) { return keep_going; });  // until it ends
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::net {

struct HttpCall {
  std::string host;  // a name (resolved at each call) or an IP literal
  uint16_t port = 80;
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
  uint64_t timeout_ms = 2000;  // the whole call (stream(): to connect and get the head)
  size_t max_body_bytes = size_t{16} << 20;
};

struct HttpResult {
  bool ok = false;  // an answer was read (any status)
  int status = 0;
  std::string body;
  std::string error;  // why not ok
};

class BlockingHttp {
 public:
  HttpResult call(const HttpCall& c);
  // Sends c and hands each piece of the answer's body to on_data as it comes, until the body
  // ends, on_data returns false, the connection fails, idle_ms pass without a byte (0: no
  // limit), or cancel(). The result's body is empty; ok means the head was read.
  using OnData = std::function<bool(std::string_view)>;
  HttpResult stream(const HttpCall& c, const OnData& on_data, uint64_t idle_ms);
  // Any thread: ends the call in progress (if any) as soon as possible.
  void cancel();

 private:
  struct Conn;
  HttpResult run(const HttpCall& c, const OnData* on_data, uint64_t idle_ms);

  std::mutex mu_;
  int active_fd_ = -1;
  std::atomic<bool> cancelled_{false};
};

}  // namespace sluice::net
