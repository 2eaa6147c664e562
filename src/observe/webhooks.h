// Webhooks: each event (observe/events.h) of the kinds a webhook lists is POSTed to its URL as
// the event's JSON object, from one background thread, so a slow or dead receiver never holds
// up the control thread. Deliveries are in event order; a failed one (connect error, timeout,
// an answer that is not 2xx) is retried `retries` times, 250 ms apart and doubling, then
// dropped and counted. At most kMaxQueued deliveries wait; past that the oldest is dropped.
// Failures are logged at most once per 10 s.
// Example:
//   WebhookSender sender;
//   sender.configure({WebhookTarget{.url = "http://127.0.0.1:9000/hook", .host = "127.0.0.1",
//                                   .port = 9000, .path = "/hook"}});
//   bus.add_listener([&](const Event& e) { sender.enqueue(e); });
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "net/blocking_http.h"
#include "observe/events.h"

namespace sluice::observe {

struct WebhookTarget {
  std::string url;  // as written, for logs
  std::string host;
  uint16_t port = 80;
  std::string path = "/";
  std::vector<std::string> kinds;  // empty: every kind
  uint64_t timeout_ms = 2000;      // one attempt: connect, send and the answer's status line
  uint32_t retries = 2;
  std::vector<std::pair<std::string, std::string>> headers;
  bool wants(std::string_view kind) const;
};

class WebhookSender {
 public:
  static constexpr size_t kMaxQueued = 1000;

  WebhookSender();
  // Stops at once: deliveries still queued are dropped (and counted).
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Any thread (a reload): the webhooks new events go to; queued deliveries keep their target.
  void configure(std::vector<WebhookTarget> targets);
  // Any thread: queues the event for each webhook that wants its kind.
  void enqueue(const Event& e);
  // Waits up to timeout_ms for the queue to empty (shutdown, tests); true when it did.
  bool flush(uint64_t timeout_ms);

  uint64_t delivered() const { return delivered_.load(std::memory_order_relaxed); }
  uint64_t failed_attempts() const { return failed_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Delivery {
    std::shared_ptr<const WebhookTarget> target;
    uint64_t event_id;
    std::string kind;
    std::string body;
  };
  void run();
  // One attempt; false with *why on failure.
  bool attempt(const Delivery& d, std::string* why);
  void log_failure(const Delivery& d, const std::string& why, bool dropping);

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<const WebhookTarget>> targets_;
  std::deque<Delivery> queue_;
  bool busy_ = false;  // a delivery is being attempted (flush() waits for it)
  bool stop_ = false;
  uint64_t last_log_ms_ = 0;
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> dropped_{0};
  net::BlockingHttp http_;
  std::thread thread_;
};

}  // namespace sluice::observe
