// The objects a fleet shares in etcd (docs/configuration.md#config_source): every key under the
// prefix, kept current by a background thread that reads the range, then watches it from the
// revision read, and on any failure (etcd unreachable, the watch cut or compacted) reconnects
// with back-off (250 ms doubling to 5 s) and reads the whole range again. `changed` is called
// (on that thread) after every new set of objects and every change of connection state; the
// last good objects stay until a new read succeeds.
// Example:
//   EtcdSource src({.endpoints = {{"127.0.0.1", 2379}}, .prefix = "/sluice/"}, [&] { wake(); });
//   if (!src.load(&err)) log(err);   // start-up: the first read, blocking
//   src.start();
//   ... on the control thread: std::shared_ptr<const Objects> o = src.objects();
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "etcd/client.h"

namespace sluice::etcd {

struct SourceOptions {
  std::vector<Endpoint> endpoints;
  std::string prefix = "/sluice/";  // ends with '/'
  uint64_t timeout_ms = 2000;       // one read or write; the first read at start-up
};

struct Objects {
  int64_t revision = 0;
  std::map<std::string, std::string> kvs;  // key (with the prefix) -> value
};

class EtcdSource {
 public:
  EtcdSource(SourceOptions options, std::function<void()> changed);
  // Stops the thread (a watch in progress is cancelled).
  ~EtcdSource();
  // The same, before destruction: `changed` is not called any more once this returns.
  void stop();
  EtcdSource(const EtcdSource&) = delete;
  EtcdSource& operator=(const EtcdSource&) = delete;

  // The first read, on the calling thread; false with *error when it fails.
  bool load(std::string* error);
  // The background thread: watches from what load() read (reading first when it failed).
  void start();

  // Any thread. Null until a read succeeded.
  std::shared_ptr<const Objects> objects() const;
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  std::string last_error() const;
  // Waits until the objects are of `revision` or a later one; false after timeout_ms.
  bool wait_for_revision(int64_t revision, uint64_t timeout_ms);
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  const SourceOptions& options() const { return options_; }

 private:
  void run();
  bool read_range(EtcdClient& client, std::string* error);
  void fail(const std::string& error);

  SourceOptions options_;
  std::function<void()> changed_;
  EtcdClient client_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const Objects> objects_;
  std::string last_error_;
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> failures_{0};
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sluice::etcd
