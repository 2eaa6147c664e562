// Asynchronous DNS (A and AAAA) for the control thread: c-ares driven by a core::EventLoop, so
// re-resolving upstream host names never blocks. /etc/hosts is read first ("fb" lookups), then the
// DNS servers (the given ones, or those of /etc/resolv.conf); timeout 1 s per try, 2 tries.
// Example:
//   std::string err;  net::Resolver dns(loop, {}, &err);
//   dns.resolve("api.internal", 8080, [](bool ok, std::vector<SocketAddress> addrs,
//                                        const std::string& error) { ... });
//
// Callbacks run on the loop's thread, never inside resolve(): a result known at once (an IP
// literal, a /etc/hosts entry, an invalid name) is delivered on the next loop turn. A callback may
// call resolve() again, but must not destroy the Resolver (use loop.destroy_later() for that).
// Destroying the Resolver cancels every pending query WITHOUT calling its callback.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "net/socket.h"

struct ares_channeldata;
struct ares_addrinfo;

namespace sluice::net {

class Resolver {
 public:
  // Successful answers list every address once, IPv4 before IPv6, each family in byte order,
  // with `port` filled in; ok=false comes with a non-empty error and no addresses.
  using Callback =
      std::function<void(bool ok, std::vector<SocketAddress> addresses, const std::string& error)>;

  // servers: "127.0.0.1:5353", "[::1]:5353", "10.0.0.2" (port 53); empty = /etc/resolv.conf.
  // On failure (a malformed server, c-ares init) *error (if given) says why and every resolve()
  // answers ok=false with that error.
  Resolver(core::EventLoop& loop, const std::vector<std::string>& servers, std::string* error);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Resolves `host` (a name, or an IPv4/IPv6 literal, optionally in brackets).
  void resolve(const std::string& host, uint16_t port, Callback cb);
  // Queries whose callback has not run yet.
  size_t pending() const { return pending_; }

 private:
  class SocketHandler;
  class Poster : public core::IoHandler {
   public:
    explicit Poster(Resolver& r) : r_(r) {}
    void on_io(uint32_t events) override;

   private:
    Resolver& r_;
  };
  class TimeoutTimer : public core::Timer {
   public:
    explicit TimeoutTimer(Resolver& r) : r_(r) {}
    void on_timer() override;

   private:
    Resolver& r_;
  };
  struct Query {
    Resolver* owner;
    std::string host;
    uint16_t port;
    Callback cb;
  };
  struct Ready {
    Callback cb;
    bool ok;
    std::vector<SocketAddress> addresses;
    std::string error;
  };

  static void on_sock_state(void* data, int fd, int readable, int writable);
  static void on_addrinfo(void* arg, int status, int timeouts, ares_addrinfo* res);
  void sock_state(int fd, bool readable, bool writable);
  void process_fd(int fd, uint32_t events);
  void rearm_timer();
  void deliver(Callback cb, bool ok, std::vector<SocketAddress> addresses, std::string error);
  void flush_ready();

  core::EventLoop& loop_;
  ares_channeldata* channel_ = nullptr;
  std::string init_error_;
  std::unordered_map<int, std::unique_ptr<SocketHandler>> sockets_;
  TimeoutTimer timer_{*this};
  Poster poster_{*this};
  std::vector<Ready> ready_;
  bool posted_ = false;
  int in_resolve_ = 0;  // > 0 while resolve() runs: completions then wait for the next turn
  bool destroying_ = false;
  size_t pending_ = 0;
};

}  // namespace sluice::net
