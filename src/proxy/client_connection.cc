// The request path of one client connection: read, parse, route, forward, stream the response,
// log. See connection.h for the model.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "http/header.h"
#include "http/status.h"
#include "proxy/connection.h"
#include "proxy/messages.h"
#include "router/path.h"

namespace sluice::proxy {
namespace {

void append_chunk(core::Buffer& out, core::BufferPool& pool, std::string_view data) {
  char head[24];
  size_t n = http::write_chunk_header(data.size(), head);
  out.append(pool, std::string_view(head, n));
  out.append(pool, data);
  out.append(pool, "\r\n");
}

}  // namespace

ClientConnection::ClientConnection(Worker& worker, int fd, const sockaddr_storage& peer)
    : worker_(worker), fd_(fd), peer_(peer), parser_(worker.snapshot()->limits) {
  worker_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
  arm(TimerMode::kHeader, worker_.snapshot()->config.timeouts.client_header_ms);
}

ClientConnection::~ClientConnection() {
  if (fd_ >= 0) close(fd_);
}

const char* ClientConnection::peer_ip(char* buf, size_t len) const {
  if (peer_.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&peer_)->sin6_addr, buf,
              static_cast<socklen_t>(len));
  } else {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer_)->sin_addr, buf,
              static_cast<socklen_t>(len));
  }
  return buf;
}

void ClientConnection::arm(TimerMode mode, uint64_t ms) {
  timer_mode_ = mode;
  worker_.loop().timers().schedule(*this, worker_.loop().now_ms() + ms);
}

void ClientConnection::on_io(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_closing_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  drive();
}

void ClientConnection::drive() {
  if (closed_) return;
  if (in_drive_) {
    again_ = true;  // an upstream event arrived while we were busy: loop once more
    return;
  }
  in_drive_ = true;
  int rounds = 0;
  for (; !closed_; ++rounds) {
    if (rounds == 32) {
      // Fairness: let other connections run; continue on the next loop turn.
      worker_.loop().post(this);
      break;
    }
    again_ = false;
    bool got = read_some();
    bool progressed = process();
    bool sent = flush();  // room in out_ lets the response side move again
    if (!got && !progressed && !sent && !again_) break;
  }
  in_drive_ = false;
  if (closed_) return;
  // An idle keep-alive connection holds no buffer memory.
  if (in_.empty()) in_.release(worker_.pool());
  if (peer_eof_ && !exchange_ && out_.empty()) close_now();
}

bool ClientConnection::read_some() {
  if (!readable_ || peer_eof_ || close_after_flush_) return false;
  const size_t limit =
      exchange_ ? kHighWater
                : worker_.snapshot()->limits.max_head_bytes + core::BufferPool::kBlockSize;
  core::ReadOutcome r = core::read_into(fd_, in_, worker_.pool(), limit, peer_closing_);
  if (r.error) {
    peer_eof_ = true;
    close_now();
    return false;
  }
  if (r.drained) readable_ = false;
  if (r.eof) peer_eof_ = true;
  return r.bytes > 0;
}

bool ClientConnection::process() {
  if (closed_ || close_after_flush_) return false;
  if (!exchange_) {
    if (in_.empty()) return false;
    if (timer_mode_ == TimerMode::kIdle) {
      arm(TimerMode::kHeader, worker_.snapshot()->config.timeouts.client_header_ms);
    }
    http::RequestHead& head = worker_.request_head();
    http::ParseStatus st = parser_.parse(in_.view(), head);
    if (st == http::ParseStatus::kIncomplete) {
      if (peer_eof_) close_now();
      return false;
    }
    if (st == http::ParseStatus::kError) {
      send_error(head.error_status ? head.error_status : 400, head.error_reason, true);
      return false;
    }
    return start_exchange();
  }
  bool progressed = false;
  if (!exchange_->request_done) progressed |= forward_request_body();
  if (exchange_ && exchange_->upstream_conn) progressed |= pump_response();
  if (exchange_ && exchange_->request_done && exchange_->response_done) {
    finish_exchange();
    progressed = true;
  }
  if (exchange_ && peer_eof_ && !exchange_->request_done && in_.empty()) {
    // The client went away in the middle of its request body.
    abort_upstream();
    close_now();
    return false;
  }
  return progressed;
}

bool ClientConnection::start_exchange() {
  http::RequestHead& head = worker_.request_head();
  const std::shared_ptr<const Snapshot>& snap = worker_.snapshot();
  std::unique_ptr<Exchange> ex = worker_.take_exchange();
  ex->snapshot = snap;
  ex->method = head.method;
  ex->client_http10 = head.version_minor == 0;
  ex->client_keep_alive = head.keep_alive && !worker_.draining();
  ex->request_body = head.body;
  ex->request_remaining = head.content_length;
  ex->request_done = head.body == http::BodyKind::kNone ||
                     (head.body == http::BodyKind::kContentLength && head.content_length == 0);
  ex->has_body = !ex->request_done;
  const http::Header* rid = http::find_header(head.headers, "x-request-id");
  if (rid != nullptr && valid_request_id(rid->value)) {
    std::memcpy(ex->request_id, rid->value.data(), rid->value.size());
    ex->request_id_len = static_cast<uint8_t>(rid->value.size());
  } else {
    worker_.make_request_id(ex->request_id);
    ex->request_id_len = 32;
  }
  exchange_ = std::move(ex);
  worker_.exchange_started();
  Exchange& x = *exchange_;
  const size_t head_len = parser_.head_length();

  // on_request_headers: normalise and route.
  bool path_ok = true;
  std::string_view path = head.path;
  if (path != "*") path = router::normalize_path(head.path, worker_.path_scratch(), &path_ok);
  if (!path_ok) {
    in_.consume(head_len);
    send_error(400, "invalid request path", true);
    return false;
  }
  router::MatchResult m = snap->router->match(head.host, head.method, path, head.headers);
  if (m.status != router::MatchStatus::kFound) {
    in_.consume(head_len);
    x.discard_body = true;
    bool found = m.status == router::MatchStatus::kMethodNotAllowed;
    send_error(found ? 405 : 404, found ? "method not allowed" : "no route", false,
               found ? m.allowed_methods : 0);
    arm_body_timer();
    return true;
  }
  x.route = &snap->routes[m.route];
  if (x.route->max_body_bytes != 0 && head.body == http::BodyKind::kContentLength &&
      head.content_length > x.route->max_body_bytes) {
    in_.consume(head_len);
    send_error(413, "request body too large", true);
    return false;
  }

  if (x.route->upstream < 0) {
    // A route answered from config: the request body, if any, is read and dropped.
    in_.consume(head_len);
    x.discard_body = true;
    send_local(x.route->respond_head, x.method == http::Method::kHead ? "" : x.route->respond_body,
               false);
    arm_body_timer();
    return true;
  }

  // select_upstream and on_upstream_request.
  x.upstream = &snap->upstreams[static_cast<size_t>(x.route->upstream)];
  if (x.upstream->targets.empty()) {
    in_.consume(head_len);
    send_error(503, "no upstream target available", true);
    return false;
  }
  char ip[64];
  x.upstream_head.clear();
  x.target = &worker_.pick_target(*snap, x.route->upstream);
  render_upstream_request(head, *x.route, peer_ip(ip, sizeof(ip)),
                          std::string_view(x.request_id, x.request_id_len), path, x.target->key,
                          x.upstream_head);
  if (head.expect_continue && !x.request_done && !x.client_http10 && in_.size() == head_len) {
    out_.append(worker_.pool(), "HTTP/1.1 100 Continue\r\n\r\n");
  }
  in_.consume(head_len);
  connect_upstream();
  if (!exchange_) return false;
  arm_body_timer();
  return true;
}

void ClientConnection::arm_body_timer() {
  if (!exchange_) return;  // answered and closing
  if (!exchange_->request_done) {
    arm(TimerMode::kBody, exchange_->snapshot->config.timeouts.client_body_ms);
  } else {
    worker_.loop().timers().cancel(*this);
  }
}

void ClientConnection::connect_upstream() {
  Exchange& x = *exchange_;
  bool reused = false;
  UpstreamConnection* up = worker_.acquire_upstream(*x.target, *x.upstream, &reused);
  if (up == nullptr) {
    send_error(502, "cannot connect to upstream", true);
    return;
  }
  x.upstream_conn = up;
  x.upstream_reused = reused;
  x.response_parser.reset();
  up->attach(this, x.route->response_timeout_ms);
  up->out().append(worker_.pool(), x.upstream_head);
  up->flush();
}

bool ClientConnection::forward_request_body() {
  Exchange& x = *exchange_;
  UpstreamConnection* up = x.discard_body ? nullptr : x.upstream_conn;
  if (up == nullptr && !x.discard_body) return false;
  bool progressed = false;
  core::BufferPool& pool = worker_.pool();
  if (x.request_body == http::BodyKind::kContentLength) {
    while (x.request_remaining > 0 && !in_.empty()) {
      if (up != nullptr && up->out().size() >= kHighWater) break;
      size_t n = static_cast<size_t>(std::min<uint64_t>(x.request_remaining, in_.size()));
      if (up != nullptr) {
        n = std::min(n, kHighWater);
        up->out().append(pool, std::string_view(in_.data(), n));
      }
      in_.consume(n);
      x.request_remaining -= n;
      progressed = true;
    }
    if (x.request_remaining == 0) x.request_done = true;
  } else if (x.request_body == http::BodyKind::kChunked) {
    const uint64_t limit = x.route != nullptr ? x.route->max_body_bytes : 0;
    while (!in_.empty() && !x.request_done) {
      if (up != nullptr && up->out().size() >= kHighWater) break;
      size_t used = 0;
      std::string_view data;
      http::ChunkedDecoder::Status st = x.request_chunked.decode(in_.view(), &used, &data);
      if (st == http::ChunkedDecoder::Status::kError) {
        in_.consume(used);
        abort_upstream();
        send_error(400, x.request_chunked.error_reason(), true);
        return false;
      }
      if (st == http::ChunkedDecoder::Status::kData) {
        x.request_body_bytes += data.size();
        if (limit != 0 && x.request_body_bytes > limit) {
          abort_upstream();
          send_error(413, "request body too large", true);
          return false;
        }
        if (up != nullptr) append_chunk(up->out(), pool, data);
      } else if (st == http::ChunkedDecoder::Status::kDone) {
        if (up != nullptr) up->out().append(pool, "0\r\n\r\n");
        x.request_done = true;
      }
      in_.consume(used);
      progressed = progressed || used > 0;
      if (st == http::ChunkedDecoder::Status::kNeedMore) break;
    }
  }
  if (progressed) {
    if (x.request_done) {
      worker_.loop().timers().cancel(*this);
    } else {
      arm(TimerMode::kBody, x.snapshot->config.timeouts.client_body_ms);
    }
  }
  if (up != nullptr && progressed) {
    up->arm_response_timer();  // a long upload is not a slow upstream
    up->flush();
  }
  return progressed;
}

bool ClientConnection::pump_response() {
  Exchange& x = *exchange_;
  UpstreamConnection* up = x.upstream_conn;
  if (up == nullptr || x.response_done) return false;
  core::BufferPool& pool = worker_.pool();
  bool progressed = false;
  while (!x.response_started) {
    if (up->in().empty()) {
      if (up->eof()) {
        on_upstream_failed(502, "upstream closed the connection before responding");
        return true;
      }
      return progressed;
    }
    http::ResponseHead& head = worker_.response_head();
    http::ParseStatus st = x.response_parser.parse(up->in().view(), x.method, head);
    if (st == http::ParseStatus::kIncomplete) {
      if (up->eof()) {
        on_upstream_failed(502, "upstream closed the connection mid-response");
        return true;
      }
      if (up->in().size() >= kHighWater) {
        on_upstream_failed(502, "upstream response head too large");
        return true;
      }
      return progressed;
    }
    if (st == http::ParseStatus::kError) {
      on_upstream_failed(502, "invalid response from upstream");
      return true;
    }
    size_t head_len = x.response_parser.head_length();
    if (head.status < 200) {
      // Interim responses (103 Early Hints, a stray 100) are dropped: the client gets the final
      // one.
      if (head.status == 101) {
        on_upstream_failed(502, "upstream switched protocols");
        return true;
      }
      up->in().consume(head_len);
      x.response_parser.reset();
      progressed = true;
      continue;
    }
    // on_response_headers
    ResponseFraming framing = ResponseFraming::kAsIs;
    bool close = !x.client_keep_alive || worker_.draining() || !x.request_done;
    x.response_in = head.body;
    switch (head.body) {
      case http::BodyKind::kNone:
        break;
      case http::BodyKind::kContentLength:
        framing = ResponseFraming::kContentLength;
        x.response_remaining = head.content_length;
        break;
      case http::BodyKind::kChunked:
      case http::BodyKind::kUntilClose:
        if (x.client_http10) {
          framing = ResponseFraming::kClose;
          close = true;
        } else {
          framing = ResponseFraming::kChunked;
        }
        break;
    }
    x.response_out =
        framing == ResponseFraming::kChunked ? Exchange::Out::kChunked : Exchange::Out::kRaw;
    if (close) x.client_keep_alive = false;
    std::string& rendered = worker_.head_scratch();
    rendered.clear();
    render_client_response(head, std::string_view(x.request_id, x.request_id_len), framing, close,
                           x.client_http10 && !close, rendered);
    out_.append(pool, rendered);
    up->in().consume(head_len);
    x.response_started = true;
    progressed = true;
    if (head.body == http::BodyKind::kNone ||
        (head.body == http::BodyKind::kContentLength && head.content_length == 0)) {
      x.response_done = true;
    }
  }
  // on_response_body
  while (!x.response_done) {
    if (out_.size() >= kHighWater) break;
    core::Buffer& src = up->in();
    if (x.response_in == http::BodyKind::kContentLength) {
      if (src.empty()) break;
      size_t n = static_cast<size_t>(std::min<uint64_t>(x.response_remaining, src.size()));
      n = std::min(n, kHighWater);
      out_.append(pool, std::string_view(src.data(), n));
      src.consume(n);
      x.response_remaining -= n;
      progressed = true;
      if (x.response_remaining == 0) x.response_done = true;
    } else if (x.response_in == http::BodyKind::kChunked) {
      if (src.empty()) break;
      size_t used = 0;
      std::string_view data;
      http::ChunkedDecoder::Status st = x.response_chunked.decode(src.view(), &used, &data);
      if (st == http::ChunkedDecoder::Status::kError) {
        on_upstream_failed(502, "invalid chunked body from upstream");
        return true;
      }
      if (st == http::ChunkedDecoder::Status::kData) {
        if (x.response_out == Exchange::Out::kChunked) {
          append_chunk(out_, pool, data);
        } else {
          out_.append(pool, data);
        }
      } else if (st == http::ChunkedDecoder::Status::kDone) {
        if (x.response_out == Exchange::Out::kChunked) out_.append(pool, "0\r\n\r\n");
        x.response_done = true;
      }
      src.consume(used);
      progressed = true;
      if (st == http::ChunkedDecoder::Status::kNeedMore) break;
    } else {  // until close
      if (!src.empty()) {
        size_t n = std::min(src.size(), kHighWater);
        if (x.response_out == Exchange::Out::kChunked) {
          append_chunk(out_, pool, std::string_view(src.data(), n));
        } else {
          out_.append(pool, std::string_view(src.data(), n));
        }
        src.consume(n);
        progressed = true;
        continue;
      }
      if (up->eof()) {
        if (x.response_out == Exchange::Out::kChunked) out_.append(pool, "0\r\n\r\n");
        x.response_done = true;
        progressed = true;
      }
      break;
    }
  }
  if (!x.response_done && up->eof() && up->in().empty() &&
      x.response_in != http::BodyKind::kUntilClose) {
    on_upstream_failed(502, "upstream closed the connection mid-body");
    return true;
  }
  if (x.response_done) {
    // on_log would run here. The upstream connection is reused only after a clean, complete
    // exchange.
    x.upstream_conn = nullptr;
    up->detach();
    bool reusable = x.request_done && x.response_in != http::BodyKind::kUntilClose &&
                    up->in().empty() && !up->eof() && !up->failed() &&
                    worker_.response_head().keep_alive;
    if (reusable) {
      worker_.release_upstream(up, *x.upstream);
    } else {
      up->close_now();
    }
  } else if (progressed) {
    up->arm_response_timer();
  }
  if (progressed) up->resume_reading();
  return progressed;
}

void ClientConnection::finish_exchange() {
  const bool keep = exchange_->client_keep_alive && !worker_.draining();
  const uint64_t idle_ms = exchange_->snapshot->config.timeouts.idle_ms;
  end_exchange();
  // The next request is parsed with the limits of the config in force now.
  parser_ = http::RequestParser(worker_.snapshot()->limits);
  if (!keep) {
    close_after_flush_ = true;
    return;
  }
  if (in_.empty()) {
    arm(TimerMode::kIdle, idle_ms);
  } else {
    arm(TimerMode::kHeader, worker_.snapshot()->config.timeouts.client_header_ms);
  }
}

void ClientConnection::end_exchange() {
  worker_.recycle_exchange(std::move(exchange_));
  worker_.exchange_finished();
}

bool ClientConnection::flush() {
  if (closed_) return false;
  bool sent = false;
  while (!out_.empty() && writable_) {
    ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out_.consume(static_cast<size_t>(n));
      sent = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      writable_ = false;
      break;
    }
    // The client is gone.
    if (exchange_) abort_upstream();
    close_now();
    return false;
  }
  if (out_.empty()) {
    out_.release(worker_.pool());
    if (close_after_flush_) {
      ::shutdown(fd_, SHUT_WR);
      close_now();
      return false;
    }
  }
  // Back-pressure: the response side resumes once the client has taken the bytes.
  if (sent && exchange_ && exchange_->upstream_conn && out_.size() < kHighWater) {
    exchange_->upstream_conn->resume_reading();
  }
  return sent;
}

void ClientConnection::append_common_headers(std::string& out, bool close_after) {
  out.append("date: ");
  out.append(worker_.loop().clock().http_date());
  out.append("\r\nx-request-id: ");
  if (exchange_) {
    out.append(exchange_->request_id, exchange_->request_id_len);
  } else {
    char id[32];
    worker_.make_request_id(id);
    out.append(id, sizeof(id));
  }
  out.append("\r\n");
  if (close_after) out.append("connection: close\r\n");
}

void ClientConnection::send_local(std::string_view head_prefix, std::string_view body,
                                  bool close_after) {
  if (exchange_ && (!exchange_->client_keep_alive || worker_.draining())) close_after = true;
  std::string& head = worker_.head_scratch();
  head.assign(head_prefix);
  append_common_headers(head, close_after);
  if (!close_after && exchange_ && exchange_->client_http10)
    head.append("connection: keep-alive\r\n");
  head.append("\r\n");
  out_.append(worker_.pool(), head);
  out_.append(worker_.pool(), body);
  if (exchange_) {
    exchange_->response_started = true;
    exchange_->response_done = true;
    if (close_after) exchange_->client_keep_alive = false;
  }
  if (close_after) {
    if (exchange_) {
      end_exchange();
    }
    close_after_flush_ = true;
    worker_.loop().timers().cancel(*this);
  }
}

void ClientConnection::send_error(int status, const char* reason, bool close_after,
                                  uint16_t allow) {
  std::string body = error_body(status, reason);
  std::string prefix = "HTTP/1.1 " + std::to_string(status) + " ";
  prefix += http::reason_phrase(status);
  prefix += "\r\ncontent-type: application/json\r\ncontent-length: ";
  prefix += std::to_string(body.size());
  prefix += "\r\n";
  if (allow != 0) {
    prefix += "allow: ";
    prefix += router::allow_header_value(allow);
    prefix += "\r\n";
  }
  bool head_only = exchange_ && exchange_->method == http::Method::kHead;
  send_local(prefix, head_only ? std::string_view() : std::string_view(body), close_after);
}

void ClientConnection::on_upstream_readable() {
  drive();
}

void ClientConnection::on_upstream_writable() {
  drive();
}

void ClientConnection::on_upstream_failed(int status, const char* reason) {
  if (!exchange_) return;
  Exchange& x = *exchange_;
  UpstreamConnection* up = x.upstream_conn;
  // A pooled connection the upstream closed just as we reused it: try once more on a fresh one
  // when nothing of the response arrived and the request can be replayed.
  bool replayable = x.upstream_reused && !x.retried && !x.response_started && up != nullptr &&
                    up->in().empty() && !x.has_body && status == 502;
  abort_upstream();
  if (replayable) {
    x.retried = true;
    connect_upstream();
    return;
  }
  if (x.response_started) {
    // Never complete a body falsely: what arrived is delivered, then the connection closes
    // short of the declared length (or without the last chunk).
    end_exchange();
    close_after_flush_ = true;
    worker_.loop().timers().cancel(*this);
    flush();
    return;
  }
  send_error(status, reason, !x.request_done);
  drive();
}

void ClientConnection::abort_upstream() {
  if (!exchange_ || exchange_->upstream_conn == nullptr) return;
  UpstreamConnection* up = exchange_->upstream_conn;
  exchange_->upstream_conn = nullptr;
  up->detach();
  up->close_now();
}

void ClientConnection::on_timer() {
  if (closed_) return;
  switch (timer_mode_) {
    case TimerMode::kIdle:
      close_now();
      return;
    case TimerMode::kHeader:
      if (in_.empty() && !exchange_) {
        close_now();
      } else {
        send_error(408, "request header timeout", true);
        flush();
      }
      return;
    case TimerMode::kBody:
      if (exchange_ && !exchange_->response_started) {
        abort_upstream();
        send_error(408, "request body timeout", true);
        flush();
      } else {
        abort_upstream();
        close_now();
      }
      return;
  }
}

void ClientConnection::drain_notice() {
  if (idle() && out_.empty()) {
    // Nothing in flight: keep the socket so a request racing the drain still gets an answer.
    arm(TimerMode::kIdle, worker_.snapshot()->config.timeouts.drain_ms);
  }
}

void ClientConnection::close_now() {
  if (closed_) return;
  closed_ = true;
  if (exchange_) {
    abort_upstream();
    end_exchange();
  }
  worker_.loop().timers().cancel(*this);
  worker_.loop().unpost(this);
  worker_.loop().remove(fd_);
  ::close(fd_);
  fd_ = -1;
  in_.release(worker_.pool());
  out_.release(worker_.pool());
  worker_.client_closed(this);
  worker_.loop().destroy_later(std::unique_ptr<core::Deferred>(this));
}

}  // namespace sluice::proxy
