#include "etcd/source.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace sluice::etcd {
namespace {

constexpr uint64_t kFirstBackoffMs = 250;
constexpr uint64_t kMaxBackoffMs = 5000;

}  // namespace

EtcdSource::EtcdSource(SourceOptions options, std::function<void()> changed)
    : options_(std::move(options)),
      changed_(std::move(changed)),
      client_(options_.endpoints, options_.timeout_ms) {}

EtcdSource::~EtcdSource() {
  stop();
}

void EtcdSource::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  client_.cancel();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool EtcdSource::load(std::string* error) {
  return read_range(client_, error);
}

void EtcdSource::start() {
  thread_ = std::thread([this] { run(); });
}

std::shared_ptr<const Objects> EtcdSource::objects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_;
}

bool EtcdSource::wait_for_revision(int64_t revision, uint64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    return stop_ || (objects_ && objects_->revision >= revision);
  }) && !stop_;
}

std::string EtcdSource::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

bool EtcdSource::read_range(EtcdClient& client, std::string* error) {
  std::optional<RangeResult> r = client.range_prefix(options_.prefix, error);
  if (!r) {
    fail(*error);
    return false;
  }
  auto next = std::make_shared<Objects>();
  next->revision = r->revision;
  for (KeyValue& kv : r->kvs) next->kvs.emplace(std::move(kv.key), std::move(kv.value));
  {
    std::lock_guard<std::mutex> lock(mu_);
    objects_ = std::move(next);
    last_error_.clear();
  }
  cv_.notify_all();  // wait_for_revision()
  connected_.store(true, std::memory_order_release);
  changed_();
  return true;
}

void EtcdSource::fail(const std::string& error) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = error;
  }
  const bool was = connected_.exchange(false, std::memory_order_acq_rel);
  if (was) changed_();
}

void EtcdSource::run() {
  uint64_t backoff = kFirstBackoffMs;
  bool fresh = objects() != nullptr;  // load() read the range: watch from there
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    std::string error;
    if (!fresh && !read_range(client_, &error)) {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, std::chrono::milliseconds(backoff), [this] { return stop_; })) return;
      backoff = std::min(backoff * 2, kMaxBackoffMs);
      continue;
    }
    fresh = false;  // after the watch ends, the range is read again (it may have changed)
    backoff = kFirstBackoffMs;
    const int64_t from = objects()->revision + 1;
    bool compacted = false;
    client_.watch(
        options_.prefix, from,
        [this](int64_t revision, std::vector<WatchEvent> events) {
          auto next = std::make_shared<Objects>(*objects());
          for (WatchEvent& e : events) {
            if (e.deleted) {
              next->kvs.erase(e.kv.key);
            } else {
              next->kvs[e.kv.key] = std::move(e.kv.value);
            }
          }
          next->revision = std::max(revision, next->revision);
          {
            std::lock_guard<std::mutex> lock(mu_);
            objects_ = std::move(next);
          }
          cv_.notify_all();  // wait_for_revision()
          changed_();
        },
        &error, &compacted);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    fail(error);
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(backoff), [this] { return stop_; })) return;
  }
}

}  // namespace sluice::etcd
