// A client of etcd's v3 API through its JSON gateway (HTTP/1.1, POST /v3/kv/range, /v3/kv/put,
// /v3/kv/deleterange, /v3/watch), for background threads: every call blocks for at most the
// timeout, a failed call moves on to the next endpoint, and cancel() ends a call (a watch
// especially) from another thread. Keys and values are bytes (base64 on the wire).
// Example:
//   EtcdClient etcd({{"127.0.0.1", 2379}}, 2000);
//   std::string err;
//   if (auto r = etcd.range_prefix("/sluice/", &err)) for (const KeyValue& kv : r->kvs) ...;
//   etcd.watch("/sluice/", r->revision + 1, on_events, &err, &compacted);  // until it fails
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/blocking_http.h"

namespace sluice::etcd {

struct Endpoint {
  std::string host;
  uint16_t port = 2379;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t mod_revision = 0;
};

struct RangeResult {
  int64_t revision = 0;  // of the store when read
  std::vector<KeyValue> kvs;
};

struct WatchEvent {
  bool deleted = false;
  KeyValue kv;  // value empty when deleted
};

// The end of the key range of every key starting with prefix (etcd's range_end).
std::string prefix_end(std::string_view prefix);
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

class EtcdClient {
 public:
  EtcdClient(std::vector<Endpoint> endpoints, uint64_t timeout_ms);

  std::optional<RangeResult> range_prefix(const std::string& prefix, std::string* error);
  // The revision of the store after the write; nullopt and *error on failure.
  std::optional<int64_t> put(const std::string& key, const std::string& value, std::string* error);
  std::optional<int64_t> remove(const std::string& key, std::string* error);

  // Watches every key under prefix from `from_revision` on, calling on_events for each batch
  // (with the store's revision after it), until the stream ends, fails or cancel(). Returns false
  // with *error then; *compacted says the revision is gone (read the range again).
  using OnEvents = std::function<void(int64_t revision, std::vector<WatchEvent> events)>;
  bool watch(const std::string& prefix, int64_t from_revision, const OnEvents& on_events,
             std::string* error, bool* compacted);

  // Any thread; permanent: every later call fails at once.
  void cancel() { http_.cancel(); }
  const Endpoint& endpoint() const { return endpoints_[current_]; }

 private:
  // One JSON call to the current endpoint, moving to the next one when it fails to answer.
  std::optional<std::string> post(const std::string& path, const std::string& body,
                                  std::string* error);

  std::vector<Endpoint> endpoints_;
  size_t current_ = 0;
  uint64_t timeout_ms_;
  net::BlockingHttp http_;
};

}  // namespace sluice::etcd
