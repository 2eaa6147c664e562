// Overload protection at accept time, shared by all workers: a connection limit per listener
// (listeners[].max_connections), per client address (limits.max_connections_per_client), a
// process memory budget (limits.memory_budget, checked against the resident set), and what to do
// when the process is out of file descriptors. A connection over a limit gets a fast 503 with
// Retry-After (a TLS listener's: a plain close) and is closed; the connections already open go
// on being served.
// Example:
//   ConnectionLimits limits(cfg.listeners.size());
//   Admit a = limits.admit(listener, peer, max_connections, per_client);  // on accept
//   if (a.refused != Refusal::kNone) refuse_connection(fd, a.refused, tls);
//   ...
//   limits.release(listener, peer, a.counted_client);                     // on close
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace sluice::proxy {

enum class Refusal : uint8_t { kNone, kListener, kClient, kMemory, kFdLimit, kCount };

// The `reason` label of sluice_connections_refused_total.
std::string_view refusal_name(Refusal r);

class ConnectionLimits {
 public:
  explicit ConnectionLimits(size_t listeners);

  struct Admit {
    Refusal refused = Refusal::kNone;
    bool counted_client = false;  // release() with this
  };
  // Worker threads, on accept: counts the connection unless a limit refuses it (0: no limit).
  Admit admit(size_t listener, const sockaddr_storage& peer, uint32_t listener_max,
              uint32_t per_client_max);
  void release(size_t listener, const sockaddr_storage& peer, bool counted_client);

  // The control thread's verdict on limits.memory_budget (resident set over it).
  void set_over_memory(bool over) { over_memory_.store(over, std::memory_order_relaxed); }
  bool over_memory() const { return over_memory_.load(std::memory_order_relaxed); }

  void count_refusal(Refusal r) {
    refused_[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t refused(Refusal r) const {
    return refused_[static_cast<size_t>(r)].load(std::memory_order_relaxed);
  }
  int64_t open(size_t listener) const {
    return listener < listeners_ ? per_listener_[listener].load(std::memory_order_relaxed) : 0;
  }

 private:
  struct Key {
    std::array<uint8_t, 16> bytes{};
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct alignas(64) Shard {
    std::mutex mu;
    std::unordered_map<Key, uint32_t, KeyHash> open;
  };
  static Key key_of(const sockaddr_storage& peer);
  Shard& shard_of(const Key& k);

  size_t listeners_;
  std::unique_ptr<std::atomic<int64_t>[]> per_listener_;
  std::array<Shard, 16> shards_;
  std::atomic<bool> over_memory_{false};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Refusal::kCount)> refused_{};
};

// Answers a connection refused at accept time and closes it: what the client already sent is
// read first (so the close is not a reset that destroys the answer), then a 503 with
// Retry-After: 1 and Connection: close. A TLS listener's connection is just closed.
void refuse_connection(int fd, Refusal why, bool tls);

// A few descriptors held open (on /dev/null) for the moment the process runs out: released, they
// let the admin listener accept its probes, or a worker accept and refuse a waiting client with
// a 503 instead of leaving it in the backlog (and the loop retrying).
class FdReserve {
 public:
  explicit FdReserve(int count);
  ~FdReserve();
  FdReserve(const FdReserve&) = delete;
  FdReserve& operator=(const FdReserve&) = delete;

  bool release_one();  // false when none is held
  void refill();       // takes back what it can
  int held() const { return held_; }

 private:
  std::array<int, 8> fds_{};
  int want_;
  int held_ = 0;
};

// The process's resident set in bytes (/proc/self/statm), 0 when unreadable.
uint64_t resident_bytes();

}  // namespace sluice::proxy
