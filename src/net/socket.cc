#include "net/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::net {

bool parse_ip_literal(const std::string& host, uint16_t port, SocketAddress* out) {
  *out = SocketAddress{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&out->storage);
  if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    out->length = sizeof(sockaddr_in);
    return true;
  }
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  if (inet_pton(AF_INET6, bare.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    out->length = sizeof(sockaddr_in6);
    return true;
  }
  *out = SocketAddress{};
  return false;
}

uint16_t address_port(const SocketAddress& addr) {
  if (addr.family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr.storage)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&addr.storage)->sin_port);
}

void set_address_port(SocketAddress& addr, uint16_t port) {
  if (addr.family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&addr.storage)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&addr.storage)->sin_port = htons(port);
  }
}

bool resolve_address(const std::string& host, uint16_t port, SocketAddress* out, std::string* err) {
  *out = SocketAddress{};
  if (host.empty() || host == "*") {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out->storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
    out->length = sizeof(sockaddr_in);
    return true;
  }
  if (parse_ip_literal(host, port, out)) return true;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    *err = "cannot resolve '" + host + "': " + gai_strerror(rc);
    return false;
  }
  std::memcpy(&out->storage, res->ai_addr, res->ai_addrlen);
  out->length = res->ai_addrlen;
  set_address_port(*out, port);
  freeaddrinfo(res);
  return true;
}

int listen_tcp(const SocketAddress& addr, bool reuse_port, int backlog, std::string* err) {
  int fd = socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (addr.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, addr.get(), addr.length) != 0 || listen(fd, backlog) != 0) {
    *err = std::string("bind/listen: ") + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

int connect_tcp(const SocketAddress& addr, int* err_no) {
  int fd = socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err_no = errno;
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, addr.get(), addr.length) != 0 && errno != EINPROGRESS) {
    *err_no = errno;
    close(fd);
    return -1;
  }
  return fd;
}

std::string ip_string(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, buf, sizeof(buf));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace sluice::net
