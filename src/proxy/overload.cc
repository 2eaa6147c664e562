#include "proxy/overload.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "proxy/messages.h"

namespace sluice::proxy {

std::string_view refusal_name(Refusal r) {
  switch (r) {
    case Refusal::kListener:
      return "listener_limit";
    case Refusal::kClient:
      return "client_limit";
    case Refusal::kMemory:
      return "memory_budget";
    case Refusal::kFdLimit:
      return "fd_limit";
    case Refusal::kNone:
    case Refusal::kCount:
      break;
  }
  return "none";
}

ConnectionLimits::ConnectionLimits(size_t listeners)
    : listeners_(listeners), per_listener_(std::make_unique<std::atomic<int64_t>[]>(listeners)) {}

size_t ConnectionLimits::KeyHash::operator()(const Key& k) const {
  uint64_t a = 0;
  uint64_t b = 0;
  std::memcpy(&a, k.bytes.data(), 8);
  std::memcpy(&b, k.bytes.data() + 8, 8);
  uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL;
  return static_cast<size_t>(h ^ (h >> 31));
}

ConnectionLimits::Key ConnectionLimits::key_of(const sockaddr_storage& peer) {
  Key k;
  if (peer.ss_family == AF_INET6) {
    std::memcpy(k.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr, 16);
  } else {
    // IPv4 as its IPv4-mapped IPv6 address: one client, whichever listener family it used.
    k.bytes[10] = 0xff;
    k.bytes[11] = 0xff;
    std::memcpy(k.bytes.data() + 12, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, 4);
  }
  return k;
}

ConnectionLimits::Shard& ConnectionLimits::shard_of(const Key& k) {
  return shards_[KeyHash{}(k) % shards_.size()];
}

ConnectionLimits::Admit ConnectionLimits::admit(size_t listener, const sockaddr_storage& peer,
                                                uint32_t listener_max, uint32_t per_client_max) {
  Admit a;
  if (over_memory()) {
    a.refused = Refusal::kMemory;
    count_refusal(a.refused);
    return a;
  }
  std::atomic<int64_t>* open = listener < listeners_ ? &per_listener_[listener] : nullptr;
  if (open != nullptr) {
    const int64_t now = open->fetch_add(1, std::memory_order_relaxed) + 1;
    if (listener_max != 0 && now > static_cast<int64_t>(listener_max)) {
      open->fetch_sub(1, std::memory_order_relaxed);
      a.refused = Refusal::kListener;
      count_refusal(a.refused);
      return a;
    }
  }
  if (per_client_max != 0) {
    const Key k = key_of(peer);
    Shard& s = shard_of(k);
    std::lock_guard<std::mutex> lock(s.mu);
    uint32_t& n = s.open[k];
    if (n >= per_client_max) {
      if (open != nullptr) open->fetch_sub(1, std::memory_order_relaxed);
      a.refused = Refusal::kClient;
      count_refusal(a.refused);
      return a;
    }
    ++n;
    a.counted_client = true;
  }
  return a;
}

void ConnectionLimits::release(size_t listener, const sockaddr_storage& peer, bool counted_client) {
  if (listener < listeners_) per_listener_[listener].fetch_sub(1, std::memory_order_relaxed);
  if (!counted_client) return;
  const Key k = key_of(peer);
  Shard& s = shard_of(k);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.open.find(k);
  if (it == s.open.end()) return;
  if (--it->second == 0) s.open.erase(it);
}

void refuse_connection(int fd, Refusal why, bool tls) {
  if (!tls) {
    char sink[4096];
    for (int i = 0; i < 4 && ::recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; ++i) {
    }
    const char* reason = why == Refusal::kListener ? "listener connection limit reached"
                         : why == Refusal::kClient ? "client connection limit reached"
                         : why == Refusal::kMemory ? "memory budget exceeded"
                                                   : "out of file descriptors";
    const std::string body = error_body(503, reason);
    const std::string answer =
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: " +
        std::to_string(body.size()) + "\r\nretry-after: 1\r\nconnection: close\r\n\r\n" + body;
    (void)::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
  }
  ::close(fd);
}

FdReserve::FdReserve(int count) : want_(std::min<int>(count, static_cast<int>(fds_.size()))) {
  fds_.fill(-1);
  refill();
}

FdReserve::~FdReserve() {
  for (int& fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

bool FdReserve::release_one() {
  for (int& fd : fds_) {
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
      --held_;
      return true;
    }
  }
  return false;
}

void FdReserve::refill() {
  for (int i = 0; i < want_ && held_ < want_; ++i) {
    if (fds_[static_cast<size_t>(i)] >= 0) continue;
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    fds_[static_cast<size_t>(i)] = fd;
    ++held_;
  }
}

uint64_t resident_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) return 0;
  unsigned long size = 0;
  unsigned long resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE))
                : 0;
}

}  // namespace sluice::proxy
