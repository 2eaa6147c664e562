#include "observe/webhooks.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/clock.h"

namespace sluice::observe {
namespace {

constexpr uint64_t kFirstBackoffMs = 250;
constexpr uint64_t kLogEveryMs = 10000;

}  // namespace

bool WebhookTarget::wants(std::string_view kind) const {
  return kinds.empty() || std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

WebhookSender::WebhookSender() : thread_([this] { run(); }) {}

WebhookSender::~WebhookSender() {
  http_.cancel();  // an attempt in progress ends now
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
    queue_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

void WebhookSender::configure(std::vector<WebhookTarget> targets) {
  std::vector<std::shared_ptr<const WebhookTarget>> next;
  next.reserve(targets.size());
  for (WebhookTarget& t : targets) next.push_back(std::make_shared<WebhookTarget>(std::move(t)));
  std::lock_guard<std::mutex> lock(mu_);
  targets_ = std::move(next);
}

void WebhookSender::enqueue(const Event& e) {
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& t : targets_) {
      if (!t->wants(e.kind)) continue;
      if (queue_.size() >= kMaxQueued) {
        queue_.pop_front();
        dropped_.fetch_add(1, std::memory_order_relaxed);
      }
      queue_.push_back(Delivery{t, e.id, e.kind, e.json});
      queued = true;
    }
  }
  if (queued) cv_.notify_all();
}

bool WebhookSender::flush(uint64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [this] { return queue_.empty() && !busy_; });
}

void WebhookSender::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Delivery d = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    uint64_t backoff = kFirstBackoffMs;
    for (uint32_t attempt_no = 0;; ++attempt_no) {
      lock.unlock();
      std::string why;
      const bool ok = attempt(d, &why);
      lock.lock();
      if (ok) {
        delivered_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      failed_.fetch_add(1, std::memory_order_relaxed);
      const bool last = attempt_no >= d.target->retries;
      log_failure(d, why, last);
      if (last) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      if (cv_.wait_for(lock, std::chrono::milliseconds(backoff), [this] { return stop_; })) {
        busy_ = false;
        return;
      }
      backoff *= 2;
    }
    busy_ = false;
    cv_.notify_all();  // flush() may wait for this
  }
}

bool WebhookSender::attempt(const Delivery& d, std::string* why) {
  const WebhookTarget& t = *d.target;
  net::HttpCall call;
  call.host = t.host;
  call.port = t.port;
  call.method = "POST";
  call.path = t.path;
  call.headers = t.headers;
  call.headers.emplace_back("x-sluice-event", d.kind);
  call.headers.emplace_back("x-sluice-event-id", std::to_string(d.event_id));
  call.body = d.body;
  call.timeout_ms = t.timeout_ms;
  call.max_body_bytes = 65536;  // the answer's body is not used
  const net::HttpResult r = http_.call(call);
  if (!r.ok) {
    *why = r.error;
    return false;
  }
  if (r.status < 200 || r.status > 299) {
    *why = "answered " + std::to_string(r.status);
    return false;
  }
  return true;
}

void WebhookSender::log_failure(const Delivery& d, const std::string& why, bool dropping) {
  const uint64_t now = core::monotonic_ms();
  if (last_log_ms_ != 0 && now - last_log_ms_ < kLogEveryMs) return;
  last_log_ms_ = now;
  std::fprintf(stderr, "webhook %s: event %llu (%s): %s%s\n", d.target->url.c_str(),
               static_cast<unsigned long long>(d.event_id), d.kind.c_str(), why.c_str(),
               dropping ? "; dropped" : "; retrying");
}

}  // namespace sluice::observe
