// The request path of one client connection: read, parse, route, forward, stream the response,
// log. See connection.h for the model. The phases live in admission.cc (security filters, rate
// limits, the route's action), forward.cc (upstream tries, request and response bodies) and
// exchange_log.cc (spans and access-log lines).
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "auth/cidr.h"
#include "auth/hmac_signature.h"
#include "balance/balancer.h"
#include "http/header.h"
#include "http/status.h"
#include "limits/retry_budget.h"
#include "proxy/connection.h"
#include "proxy/connection_util.h"
#include "proxy/messages.h"
#include "router/path.h"

namespace sluice::proxy {

void ClientConnection::resume_chain() {
  if (closed_ || !exchange_ || !exchange_->chain_waiting) return;
  worker_.loop().timers().cancel(chain_timeout_);
  exchange_->chain_waiting = false;
  exchange_->chain_resumed = true;
  // Go on in a loop turn of our own: this may run inside another component's callback.
  worker_.loop().post(this);
}

void ClientConnection::resume_chain_after(uint64_t ms) {
  worker_.loop().timers().schedule(chain_delay_, worker_.loop().now_ms() + ms);
}

void ClientConnection::on_chain_timeout() {
  if (closed_ || !exchange_ || !exchange_->chain_waiting) return;
  worker_.loop().timers().cancel(chain_delay_);
  cancel_quota_wait();
  exchange_->chain_waiting = false;
  exchange_->chain_resumed = true;
  exchange_->chain_timed_out = true;
  drive();
}

ClientConnection::ClientConnection(Worker& worker, int fd, const sockaddr_storage& peer,
                                   size_t listener)
    : worker_(worker),
      fd_(fd),
      peer_(peer),
      listener_(listener),
      parser_(worker.snapshot()->limits) {
  // The handshake runs from read_some(); the header timer below bounds it.
  const std::vector<config::ListenerConfig>& ls = worker.snapshot()->config.listeners;
  if (listener < ls.size() && ls[listener].tls.context) {
    tls_ = ls[listener].tls.context->new_stream(fd_);
    if (!tls_) close_after_flush_ = true;  // out of memory: never serve a TLS port in clear
  }
  chain_delay_.conn = this;
  chain_timeout_.conn = this;
  chain_timeout_.timeout = true;
  send_timer_.conn = this;
  worker_.metrics().connections_active.fetch_add(1, std::memory_order_relaxed);
  worker_.metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
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
  } else if (len >= 16) {
    auth::format_ipv4(ntohl(reinterpret_cast<const sockaddr_in*>(&peer_)->sin_addr.s_addr), buf);
  }
  return buf;
}

void ClientConnection::arm(TimerMode mode, uint64_t ms) {
  timer_mode_ = mode;
  worker_.loop().timers().schedule(*this, worker_.loop().now_ms() + ms);
}

void ClientConnection::on_io(uint32_t events) {
  if (closed_) return;
  if (lingering_) {
    on_linger_readable();
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_closing_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  // A TLS write blocked on the peer's handshake bytes resumes on readability (a read blocked on
  // writability kept readable_ set, so EPOLLOUT retries it).
  if (tls_ && (events & EPOLLIN) && tls_->wants_read_for_write()) writable_ = true;
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
  core::ReadOutcome r = tls_ ? tls_->read_into(in_, worker_.pool(), limit)
                             : core::read_into(fd_, in_, worker_.pool(), limit, peer_closing_);
  if (tls_ && !tls_->handshake_done()) {
    if (r.error || r.eof) note_tls_handshake(false);
  } else if (tls_ && tls_->take_handshake_event()) {
    note_tls_handshake(true);
  }
  if (r.error) {
    peer_eof_ = true;
    close_now();
    return false;
  }
  if (r.drained) readable_ = false;
  if (r.eof) peer_eof_ = true;
  worker_.metrics().bytes_in.fetch_add(r.bytes, std::memory_order_relaxed);
  return r.bytes > 0;
}

void ClientConnection::note_tls_handshake(bool ok) {
  observe::WorkerMetrics& m = worker_.metrics();
  const size_t slot = std::min(listener_, observe::kMaxTlsListeners - 1);
  if (!ok) {
    m.tls_handshakes_failed[slot].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  m.tls_handshakes_ok[slot].fetch_add(1, std::memory_order_relaxed);
  // Kept as a string: filters may read it for every request of the connection.
  client_cert_subject_ = tls_->peer_subject();
  client_cert_verified_ = !client_cert_subject_.empty() && tls_->peer_verified();
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
    bool started = start_exchange();
    // Answered at once (a respond route, 404, 405) with no body to read: settle now, so the
    // exchange is logged before its bytes reach the client.
    if (exchange_ && exchange_->request_done && exchange_->response_done) finish_exchange();
    return started;
  }
  if (exchange_->chain_waiting) return false;
  if (exchange_->body_buffering) {
    if (in_.empty() && !peer_eof_) return false;
    bool started = admit();
    if (exchange_ && exchange_->request_done && exchange_->response_done) finish_exchange();
    return started;
  }
  if (exchange_->chain_resumed && !exchange_->response_paused) {
    bool started = admit();
    if (exchange_ && exchange_->request_done && exchange_->response_done) finish_exchange();
    return started;
  }
  bool progressed = false;
  if (!exchange_->request_done) progressed |= forward_request_body();
  if (exchange_ && exchange_->call.conn) progressed |= pump_response();
  if (exchange_ && exchange_->response_done && !exchange_->request_done &&
      !exchange_->discard_body) {
    // The upstream answered before the request body was all there (a 413 to an upload, say):
    // the answer stands, the rest of the body is not forwarded, and the connection closes after
    // the answer (which said so).
    finish_exchange();
    worker_.loop().timers().cancel(*this);
    return true;
  }
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
  const std::shared_ptr<const Snapshot>& snap = worker_.snapshot();
  std::unique_ptr<Exchange> ex = worker_.take_exchange();
  // The exchange owns its head from here on; the read buffer keeps only what follows it.
  const size_t head_len = parser_.head_length();
  http::copy_head(worker_.request_head(), in_.view().substr(0, head_len), ex->head_bytes, ex->head);
  in_.consume(head_len);
  const http::RequestHead& head = ex->head;
  if (head.dropped_headers != 0) {
    worker_.metrics().headers_dropped_underscore.fetch_add(head.dropped_headers,
                                                           std::memory_order_relaxed);
  }
  ex->snapshot = snap;
  ex->call.bind(worker_, *this);
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
  ex->start_us = worker_.loop().clock().now_us();
  exchange_ = std::move(ex);
  worker_.exchange_started();
  Exchange& x = *exchange_;
  if (!snap->sinks.span_rings.empty()) start_trace(head);

  // on_request_headers: normalise and route.
  bool path_ok = true;
  std::string_view path = head.path;
  if (path != "*") path = router::normalize_path(head.path, worker_.path_scratch(), &path_ok);
  if (!path_ok) {
    send_error(400, "invalid request path", true);
    return false;
  }
  router::MatchResult m = snap->router->match(head.host, head.method, path, head.headers);
  if (m.status != router::MatchStatus::kFound) {
    if (snap->security && snap->security->default_headers) {
      x.response_extra.append(snap->security->default_headers->block());
    }
    x.discard_body = true;
    bool found = m.status == router::MatchStatus::kMethodNotAllowed;
    send_error(found ? 405 : 404, found ? "method not allowed" : "no route", false,
               found ? m.allowed_methods : 0);
    arm_body_timer();
    return true;
  }
  x.route = &snap->routes[m.route];
  // The normalised path and the route's parameters are kept in the context (the path scratch
  // is the worker's).
  x.ctx.begin(head, path, &m, x.route->name, client_address(head),
              std::string_view(x.request_id, x.request_id_len), this, this);
  if (x.route->chain && !x.route->chain->empty()) {
    x.chain = x.route->chain.get();
    x.ctx.clear_state(x.chain->state_bytes());
    x.ctx.set_keep_claims(x.chain->reads_claims());
  }
  if (x.route->max_body_bytes != 0 && head.body == http::BodyKind::kContentLength &&
      head.content_length > x.route->max_body_bytes) {
    send_error(413, "request body too large", true);
    return false;
  }
  return admit();
}

limits::QuotaResult ClientConnection::take_quota(const limits::RatePolicy& policy,
                                                 std::string_view key, limits::RateDecision* out) {
  Exchange& x = *exchange_;
  limits::ClusterQuota& q = worker_.cluster_quota(*x.snapshot, policy);
  const limits::QuotaResult r = q.take(key, policy.params, worker_.loop().now_ms(), out, this);
  if (r == limits::QuotaResult::kWait) {
    x.quota.quota = &q;
    x.quota.waiting = true;
  }
  return r;
}

bool ClientConnection::quota_answer(limits::RateDecision* out) const {
  *out = exchange_->quota.decision;
  return exchange_->quota.ok;
}

void ClientConnection::cancel_quota_wait() {
  Exchange::QuotaWait& q = exchange_->quota;
  if (!q.waiting) return;
  q.quota->cancel(this);
  q.waiting = false;
}

void ClientConnection::on_quota(const limits::RateDecision& decision) {
  if (closed_ || !exchange_ || !exchange_->quota.waiting) return;
  Exchange::QuotaWait& q = exchange_->quota;
  q.waiting = false;
  q.ok = true;
  q.decision = decision;
  resume_chain();  // in a loop turn of its own: this runs inside the Redis client's callback
}

void ClientConnection::on_quota_unavailable() {
  if (closed_ || !exchange_ || !exchange_->quota.waiting) return;
  exchange_->quota.waiting = false;
  exchange_->quota.ok = false;
  resume_chain();
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
  settle_exchange();
  worker_.recycle_exchange(std::move(exchange_));
  worker_.exchange_finished();
}

bool ClientConnection::flush() {
  if (closed_) return false;
  bool sent = false;
  if (writable_ && !out_.empty()) {
    core::WriteOutcome w =
        tls_ ? tls_->write_from(out_, worker_.pool()) : core::write_from(fd_, out_, worker_.pool());
    if (w.error) {
      close_now();  // the client is gone
      return false;
    }
    if (w.blocked) writable_ = false;
    sent = w.bytes > 0;
    worker_.metrics().bytes_out.fetch_add(w.bytes, std::memory_order_relaxed);
  }
  // A client that stops taking bytes must not hold the connection (and the upstream's) forever:
  // the timer runs from the last progress while bytes wait.
  if (!out_.empty() && (sent || !send_timer_.armed)) {
    send_timer_.armed = true;
    worker_.loop().timers().schedule(
        send_timer_, worker_.loop().now_ms() + worker_.snapshot()->config.timeouts.client_send_ms);
  } else if (out_.empty() && send_timer_.armed) {
    send_timer_.armed = false;
    worker_.loop().timers().cancel(send_timer_);
  }
  if (out_.empty()) {
    out_.release(worker_.pool());
    if (close_after_flush_ && !lingering_) {
      linger();
      return false;
    }
  }
  // Back-pressure: the response side resumes once the client has taken the bytes.
  if (sent && exchange_ && exchange_->call.conn && out_.size() < kHighWater) {
    exchange_->call.conn->resume_reading();
  }
  return sent;
}

namespace {
// How long a closing connection keeps reading what the client still sends (nginx's
// lingering_time is 30 s, its lingering_timeout 5 s).
constexpr uint64_t kLingerMs = 5000;
}  // namespace

void ClientConnection::linger() {
  if (tls_) tls_->shutdown();
  ::shutdown(fd_, SHUT_WR);
  if (peer_eof_ || closed_) {
    close_now();
    return;
  }
  lingering_ = true;
  in_.release(worker_.pool());
  worker_.loop().timers().cancel(send_timer_);
  arm(TimerMode::kLinger, kLingerMs);
  on_linger_readable();
}

void ClientConnection::on_linger_readable() {
  char sink[16384];
  for (int i = 0; i < 64; ++i) {
    const ssize_t n = ::recv(fd_, sink, sizeof(sink), 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    close_now();  // the client closed (or reset)
    return;
  }
  worker_.loop().post(this);  // more to drop: after the others had their turn
}

void ClientConnection::append_common_headers(std::string& out, bool close_after) {
  out.append("date: ");
  out.append(worker_.loop().clock().http_date());
  out.append("\r\nx-request-id: ");
  if (exchange_) {
    out.append(exchange_->request_id, exchange_->request_id_len);
  } else {
    worker_.make_request_id(refusal_id_);  // logged by log_refusal()
    out.append(refusal_id_, sizeof(refusal_id_));
  }
  out.append("\r\n");
  if (close_after) out.append("connection: close\r\n");
}

void ClientConnection::send_local(std::string_view head_prefix, std::string_view body,
                                  bool close_after) {
  if (exchange_ && (!exchange_->client_keep_alive || worker_.draining())) close_after = true;
  std::string& head = worker_.head_scratch();
  head.assign(head_prefix);
  if (exchange_) {
    head.append(exchange_->response_extra);
    if (exchange_->chain != nullptr) {
      // Response-header filters also edit the gateway's own answers.
      Exchange& x = *exchange_;
      x.ctx.set_response(x.final_status, {}, {});
      x.cursor.start(filter::Phase::kResponseHeaders);
      filter::run_phase(*x.chain, x.ctx, x.cursor, true);
      head.append(x.ctx.response_lines());
    }
  }
  append_common_headers(head, close_after);
  if (!close_after && exchange_ && exchange_->client_http10)
    head.append("connection: keep-alive\r\n");
  head.append("\r\n");
  out_.append(worker_.pool(), head);
  out_.append(worker_.pool(), body);
  if (exchange_) {
    exchange_->response_bytes += head.size() + body.size();
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
  const bool before_exchange = exchange_ == nullptr;
  if (exchange_) {
    exchange_->final_status = status;
    exchange_->error = reason;
  } else {
    worker_.metrics().refuse(status);
  }
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
  if (before_exchange) log_refusal(status, reason);
}

void ClientConnection::on_call_readable(UpstreamCall& /*call*/) {
  drive();
}

void ClientConnection::on_call_writable(UpstreamCall& /*call*/) {
  drive();
}

void ClientConnection::on_call_failed(UpstreamCall& call, UpstreamFailure kind,
                                      const char* reason) {
  if (!exchange_) return;
  Exchange& x = *exchange_;
  if (x.trace.on) end_try_span(0, failure_type(kind));
  if (!call.fail_try(kind, x.response_started, x.has_body)) {
    // A pooled connection the upstream closed just as we reused it: once more on a fresh one.
    if (try_upstream()) drive();
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
  if (retry_call(kind, 0)) return;
  int status = kind == UpstreamFailure::kConnectTimeout ? 503
               : kind == UpstreamFailure::kTimeout      ? 504
                                                        : 502;
  if (call.deadline_ms != 0 && worker_.loop().now_ms() >= call.deadline_ms) {
    status = 504;
    reason = "route timeout";
  }
  send_error(status, reason, !x.request_done);
  drive();
}

void ClientConnection::abort_upstream() {
  if (exchange_) exchange_->call.abort();
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
    case TimerMode::kLinger:
      close_now();
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

void ClientConnection::on_send_timeout() {
  send_timer_.armed = false;
  if (closed_ || out_.empty()) return;
  // Nothing written for timeouts.client_send: the client is gone or stalled. What is buffered
  // is dropped with the connection; the upstream connection is closed with the exchange.
  abort_upstream();
  close_now();
}

void ClientConnection::drain_notice() {
  if (idle() && out_.empty()) {
    // Nothing in flight: keep the socket so a request racing the drain still gets an answer.
    // In an upgrade, an idle client is closed after 1 s (the new process serves its next one).
    const uint64_t drain_ms = worker_.snapshot()->config.timeouts.drain_ms;
    arm(TimerMode::kIdle, worker_.upgrade_drain() ? std::min<uint64_t>(drain_ms, 1000) : drain_ms);
  }
}

void ClientConnection::close_now() {
  if (closed_) return;
  closed_ = true;
  if (exchange_) {
    abort_upstream();
    end_exchange();
  }
  worker_.metrics().connections_active.fetch_sub(1, std::memory_order_relaxed);
  worker_.loop().timers().cancel(*this);
  worker_.loop().timers().cancel(send_timer_);
  worker_.loop().unpost(this);
  worker_.loop().remove(fd_);
  if (tls_) tls_->shutdown();
  ::close(fd_);
  fd_ = -1;
  in_.release(worker_.pool());
  out_.release(worker_.pool());
  worker_.client_closed(this);
  worker_.loop().destroy_later(std::unique_ptr<core::Deferred>(this));
}

}  // namespace sluice::proxy
