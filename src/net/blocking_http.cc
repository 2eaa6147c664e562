#include "net/blocking_http.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "http/chunked.h"
#include "http/method.h"
#include "http/response_parser.h"
#include "net/socket.h"

namespace sluice::net {

// One connection: the descriptor, registered for cancel() while it is open.
struct BlockingHttp::Conn {
  Conn(BlockingHttp& owner, int fd) : owner(owner), fd(fd) {
    std::lock_guard<std::mutex> lock(owner.mu_);
    owner.active_fd_ = fd;
  }
  ~Conn() {
    std::lock_guard<std::mutex> lock(owner.mu_);
    owner.active_fd_ = -1;
    ::close(fd);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Until fd is ready for `events`; false with *why on timeout (deadline 0: none), error or
  // cancel().
  bool wait(short events, uint64_t deadline_ms, std::string* why) const {
    for (;;) {
      if (owner.cancelled_.load()) {
        *why = "cancelled";
        return false;
      }
      const uint64_t now = core::monotonic_ms();
      if (deadline_ms != 0 && now >= deadline_ms) {
        *why = "timed out";
        return false;
      }
      const uint64_t slice = deadline_ms == 0 ? 1000 : std::min<uint64_t>(deadline_ms - now, 1000);
      pollfd p{fd, events, 0};
      const int n = ::poll(&p, 1, static_cast<int>(slice));
      if (n > 0) return true;  // ready, or an error the next call reports
      if (n < 0 && errno != EINTR) {
        *why = std::string("poll: ") + std::strerror(errno);
        return false;
      }
    }
  }

  BlockingHttp& owner;
  int fd;
};

HttpResult BlockingHttp::call(const HttpCall& c) {
  return run(c, nullptr, 0);
}

HttpResult BlockingHttp::stream(const HttpCall& c, const OnData& on_data, uint64_t idle_ms) {
  return run(c, &on_data, idle_ms);
}

void BlockingHttp::cancel() {
  cancelled_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  if (active_fd_ >= 0) ::shutdown(active_fd_, SHUT_RDWR);
}

HttpResult BlockingHttp::run(const HttpCall& c, const OnData* on_data, uint64_t idle_ms) {
  HttpResult r;
  if (cancelled_.load()) {
    r.error = "cancelled";
    return r;
  }
  const uint64_t deadline = core::monotonic_ms() + c.timeout_ms;
  SocketAddress addr;
  if (!resolve_address(c.host, c.port, &addr, &r.error)) return r;
  int err_no = 0;
  const int fd = connect_tcp(addr, &err_no);
  if (fd < 0) {
    r.error = std::string("connect: ") + std::strerror(err_no);
    return r;
  }
  Conn conn(*this, fd);
  std::string why;
  if (!conn.wait(POLLOUT, deadline, &why)) {
    r.error = "connect: " + why;
    return r;
  }
  int so_error = 0;
  socklen_t len = sizeof so_error;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    r.error = std::string("connect: ") + std::strerror(so_error);
    return r;
  }
  std::string req = c.method + " " + c.path + " HTTP/1.1\r\nhost: " + c.host + ":" +
                    std::to_string(c.port) + "\r\nuser-agent: sluice";
  for (const auto& [name, value] : c.headers) {
    req += "\r\n";
    req += name;
    req += ": ";
    req += value;
  }
  if (!c.body.empty() || c.method == "POST" || c.method == "PUT") {
    req += "\r\ncontent-type: " + c.content_type +
           "\r\ncontent-length: " + std::to_string(c.body.size());
  }
  req += "\r\nconnection: close\r\n\r\n";
  req += c.body;
  for (size_t sent = 0; sent < req.size();) {
    const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!conn.wait(POLLOUT, deadline, &why)) {
        r.error = "send: " + why;
        return r;
      }
    } else {
      r.error = std::string("send: ") + std::strerror(errno);
      return r;
    }
  }

  // Reads more into `in`; 0 at the end of the stream, -1 (r.error set) on failure.
  std::string in;
  bool head_done = false;
  auto read_more = [&]() -> int {
    for (;;) {
      char buf[16384];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        in.append(buf, static_cast<size_t>(n));
        return 1;
      }
      if (n == 0) return 0;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        r.error = std::string("recv: ") + std::strerror(errno);
        return -1;
      }
      const uint64_t until = !head_done || on_data == nullptr
                                 ? deadline
                                 : (idle_ms == 0 ? 0 : core::monotonic_ms() + idle_ms);
      if (!conn.wait(POLLIN, until, &why)) {
        r.error = (head_done ? "reading the body: " : "waiting for the answer: ") + why;
        return -1;
      }
    }
  };

  http::ResponseParser parser;
  http::ResponseHead head;
  const http::Method method = http::parse_method(c.method);
  for (;;) {
    const http::ParseStatus st = parser.parse(in, method, head);
    if (st == http::ParseStatus::kDone) break;
    if (st == http::ParseStatus::kError) {
      r.error = std::string("malformed answer: ") + head.error_reason;
      return r;
    }
    const int got = read_more();
    if (got <= 0) {
      if (got == 0) r.error = "closed before answering";
      return r;
    }
  }
  head_done = true;
  r.status = head.status;
  const http::BodyKind kind = head.body;
  const uint64_t length = head.content_length;
  in.erase(0, parser.head_length());
  r.ok = true;  // from here on a failure is reported in error, with ok kept for the head

  // Hands out body bytes; false when the caller (or the bound) says stop.
  auto deliver = [&](std::string_view piece) {
    if (on_data != nullptr) return (*on_data)(piece);
    if (r.body.size() + piece.size() > c.max_body_bytes) {
      r.error = "the answer's body is too large";
      r.ok = false;
      return false;
    }
    r.body.append(piece);
    return true;
  };
  if (kind == http::BodyKind::kNone) return r;
  if (kind == http::BodyKind::kContentLength || kind == http::BodyKind::kUntilClose) {
    uint64_t left = length;
    for (;;) {
      if (!in.empty()) {
        const size_t take = kind == http::BodyKind::kUntilClose
                                ? in.size()
                                : static_cast<size_t>(std::min<uint64_t>(left, in.size()));
        if (!deliver(std::string_view(in).substr(0, take))) return r;
        in.erase(0, take);
        left -= std::min<uint64_t>(left, take);
      }
      if (kind == http::BodyKind::kContentLength && left == 0) return r;
      const int got = read_more();
      if (got < 0 || (got == 0 && kind == http::BodyKind::kContentLength)) {
        if (got == 0) r.error = "closed in the body";
        r.ok = on_data != nullptr && r.ok;
        return r;
      }
      if (got == 0) return r;
    }
  }
  http::ChunkedDecoder dec;
  for (;;) {
    std::string_view rest = in;
    for (;;) {
      size_t used = 0;
      std::string_view data;
      const http::ChunkedDecoder::Status st = dec.decode(rest, &used, &data);
      rest.remove_prefix(used);
      if (st == http::ChunkedDecoder::Status::kData) {
        if (!deliver(data)) return r;
        continue;
      }
      if (st == http::ChunkedDecoder::Status::kDone) return r;
      if (st == http::ChunkedDecoder::Status::kError) {
        r.error = std::string("malformed chunked body: ") + dec.error_reason();
        r.ok = false;
        return r;
      }
      break;  // kNeedMore
    }
    in.clear();
    const int got = read_more();
    if (got <= 0) {
      if (got == 0) r.error = "closed in the body";
      if (on_data == nullptr) r.ok = false;
      return r;
    }
  }
}

}  // namespace sluice::net
