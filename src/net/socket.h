// Thin wrappers over the BSD socket calls the gateway needs: non-blocking listeners with
// SO_REUSEPORT (one per worker), non-blocking connects, and address conversion.
// Example:
//   SocketAddress a;  if (resolve_address("127.0.0.1", 8080, &a, &err)) int fd = listen_tcp(a,
//   true, &err);
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace sluice::net {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
};

// An IPv4 or IPv6 literal (IPv6 optionally in brackets) with `port`; false for anything else.
bool parse_ip_literal(const std::string& host, uint16_t port, SocketAddress* out);

// The port stored in an address, and changing it.
uint16_t address_port(const SocketAddress& addr);
void set_address_port(SocketAddress& addr, uint16_t port);

// Numeric IPv4/IPv6 literals, "" or "*" (any address), or a host name (blocking getaddrinfo:
// call it off the data path only).
bool resolve_address(const std::string& host, uint16_t port, SocketAddress* out, std::string* err);

// A non-blocking listening socket; -1 and *err on failure.
int listen_tcp(const SocketAddress& addr, bool reuse_port, int backlog, std::string* err);

// Starts a non-blocking connect; returns the fd (the connection completes asynchronously) or -1
// with *err_no set.
int connect_tcp(const SocketAddress& addr, int* err_no);

// The IP of a peer address as text ("127.0.0.1", "::1").
std::string ip_string(const sockaddr_storage& addr);
// The port a bound socket got (for port 0 listeners).
uint16_t local_port(int fd);

}  // namespace sluice::net
