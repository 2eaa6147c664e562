#include "observe/otlp_exporter.h"
#include "net/http_url.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace sluice::observe {

namespace {

// A short poll notices a ring filling up long before the flush interval ends.
constexpr uint64_t kPollMs = 100;
constexpr uint64_t kLogEveryMs = 10000;
// Collectors answer with a small protobuf or JSON body; anything bigger is skipped as it
// arrives, so this only bounds one read.
constexpr size_t kReadChunk = 16 * 1024;

std::string address_authority(const net::SocketAddress& a) {
  std::string ip = net::ip_string(a.storage);
  if (a.family() == AF_INET6) ip = "[" + ip + "]";
  return ip + ":" + std::to_string(net::address_port(a));
}

bool same_address(const net::SocketAddress& a, const net::SocketAddress& b) {
  return a.length == b.length && std::memcmp(&a.storage, &b.storage, a.length) == 0;
}

}  // namespace

bool parse_otlp_endpoint(std::string_view url, std::string* host, uint16_t* port, std::string* path,
                         std::string* error) {
  net::HttpUrl u;
  if (!net::parse_http_url(url, "OTLP endpoint", kOtlpHttpDefaultPort, &u, error)) return false;
  *host = std::move(u.host);
  *port = u.port;
  *path = u.path.empty() ? std::string("/v1/traces") : std::move(u.path);
  return true;
}

OtlpExporter::OtlpExporter(core::EventLoop& loop, std::vector<SpanRing*> rings,
                           OtlpExporterOptions options)
    : loop_(loop), rings_(std::move(rings)), options_(std::move(options)) {
  std::erase(rings_, nullptr);
  batch_.resize(std::max<size_t>(options_.max_batch, 1));
  next_flush_ms_ = loop_.now_ms() + options_.flush_interval_ms;
  schedule_poll();
}

// The timers cancel themselves when destroyed.
OtlpExporter::~OtlpExporter() {
  close_connection();
}

uint64_t OtlpExporter::spans_dropped() const {
  uint64_t sum = 0;
  for (const SpanRing* r : rings_) sum += r->dropped();
  return sum;
}

void OtlpExporter::reconfigure(OtlpExporterOptions options) {
  bool moved = !same_address(options.address, options_.address);
  options_ = std::move(options);
  if (phase_ == Phase::kIdle) {
    // Only between batches: the batch in flight still points into batch_.
    batch_.resize(std::max<size_t>(options_.max_batch, 1));
    if (moved) close_connection();
  } else if (moved) {
    close_after_ = true;
  }
  next_flush_ms_ = std::min(next_flush_ms_, loop_.now_ms() + options_.flush_interval_ms);
  schedule_poll();
}

void OtlpExporter::flush_now() {
  if (phase_ != Phase::kIdle) return;  // the flush in flight drains what is there
  draining_ = true;
  start_batch();
}

void OtlpExporter::schedule_poll() {
  uint64_t every = std::clamp<uint64_t>(options_.flush_interval_ms, 1, kPollMs);
  loop_.timers().schedule(poll_timer_, loop_.now_ms() + every);
}

bool OtlpExporter::rings_half_full() const {
  for (const SpanRing* r : rings_) {
    if (r->size_approx() * 2 > r->capacity()) return true;
  }
  return false;
}

void OtlpExporter::on_poll() {
  schedule_poll();
  if (phase_ != Phase::kIdle) return;
  if (loop_.now_ms() >= next_flush_ms_ || rings_half_full()) {
    draining_ = true;
    start_batch();
  }
}

void OtlpExporter::start_batch() {
  size_t max = std::max<size_t>(options_.max_batch, 1);
  if (batch_.size() != max) batch_.resize(max);
  size_t n = 0;
  for (size_t i = 0; i < rings_.size() && n < max; ++i) {
    SpanRing* r = rings_[(next_ring_ + i) % rings_.size()];
    n += r->drain_to(batch_.data() + n, max - n);
  }
  if (!rings_.empty()) next_ring_ = (next_ring_ + 1) % rings_.size();
  if (n == 0) {
    // The flush is over: the next one is an interval from now.
    draining_ = false;
    next_flush_ms_ = loop_.now_ms() + options_.flush_interval_ms;
    return;
  }
  batch_size_ = n;
  encode_export_trace_request(options_.resource, batch_.data(), n, body_);
  build_request_head();
  retried_ = false;
  loop_.timers().schedule(deadline_timer_,
                          loop_.now_ms() + std::max<uint64_t>(options_.timeout_ms, 1));
  if (conn_ != nullptr) {
    conn_reused_ = true;
    send_request();
  } else {
    conn_reused_ = false;
    if (connect()) send_request();
  }
}

void OtlpExporter::build_request_head() {
  head_.clear();
  head_.append("POST ").append(options_.path.empty() ? "/v1/traces" : options_.path);
  head_.append(" HTTP/1.1\r\nHost: ");
  head_.append(options_.host_header.empty() ? address_authority(options_.address)
                                            : options_.host_header);
  head_.append("\r\nUser-Agent: sluice-otlp\r\nContent-Type: application/x-protobuf\r\n");
  for (const auto& [name, value] : options_.headers) {
    head_.append(name).append(": ").append(value).append("\r\n");
  }
  head_.append("Content-Length: ").append(std::to_string(body_.size())).append("\r\n\r\n");
}

// False when the connect failed at once (the batch is then already finished).
bool OtlpExporter::connect() {
  int err = 0;
  int fd = net::connect_tcp(options_.address, &err);
  if (fd < 0) {
    finish_batch(false, std::string("connect: ") + std::strerror(err));
    return false;
  }
  conn_ = std::make_unique<Connection>(this, fd);
  if (!loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, conn_.get())) {
    err = errno;
    close_connection();
    finish_batch(false, std::string("epoll: ") + std::strerror(err));
    return false;
  }
  phase_ = Phase::kConnecting;
  return true;
}

void OtlpExporter::send_request() {
  phase_ = phase_ == Phase::kConnecting ? Phase::kConnecting : Phase::kWriting;
  written_ = 0;
  parser_.reset();
  response_.clear();
  chunked_.reset();
  in_.clear();
  head_done_ = false;
  got_bytes_ = false;
  body_left_ = 0;
  if (phase_ == Phase::kWriting) on_io(EPOLLOUT);
}

void OtlpExporter::on_io(uint32_t events) {
  if (conn_ == nullptr) return;
  int fd = conn_->fd();
  if (phase_ == Phase::kIdle) {
    // An idle keep-alive connection: the collector closing it (or sending anything) ends it.
    char c;
    ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) || n > 0 ||
        (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
      close_connection();
    }
    return;
  }
  if (phase_ == Phase::kConnecting) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      close_connection();
      return finish_batch(false, std::string("connect: ") + std::strerror(err));
    }
    phase_ = Phase::kWriting;
  }
  if (phase_ == Phase::kWriting) {
    size_t total = head_.size() + body_.size();
    while (written_ < total) {
      iovec iov[2];
      int cnt = 0;
      if (written_ < head_.size()) {
        iov[cnt++] = {head_.data() + written_, head_.size() - written_};
        iov[cnt++] = {body_.data(), body_.size()};
      } else {
        size_t off = written_ - head_.size();
        iov[cnt++] = {body_.data() + off, body_.size() - off};
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(cnt);
      ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
      if (n > 0) {
        written_ += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;  // the next EPOLLOUT edge resumes
      } else {
        int err = n < 0 ? errno : EPIPE;
        close_connection();
        if (retry_on_fresh_connection()) return;
        return finish_batch(false, std::string("send: ") + std::strerror(err));
      }
    }
    phase_ = Phase::kReading;
  }
  read_response((events & EPOLLRDHUP) != 0);
}

// A reused keep-alive connection may have been closed by the collector just as we sent; that
// is not the collector failing, so the batch goes once more on a new connection.
bool OtlpExporter::retry_on_fresh_connection() {
  if (!conn_reused_ || retried_ || got_bytes_) return false;
  retried_ = true;
  conn_reused_ = false;
  phase_ = Phase::kIdle;
  if (connect()) send_request();
  return true;
}

void OtlpExporter::read_response(bool peer_closing) {
  while (true) {
    core::ReadOutcome r =
        core::read_into(conn_->fd(), in_, pool_, in_.size() + kReadChunk, peer_closing);
    int read_errno = errno;
    if (r.bytes > 0) got_bytes_ = true;
    while (!head_done_) {
      http::ParseStatus st = parser_.parse(in_.view(), http::Method::kPost, response_);
      if (st == http::ParseStatus::kError) {
        std::string why = std::string("bad response: ") + response_.error_reason;
        close_connection();
        return finish_batch(false, why);
      }
      if (st == http::ParseStatus::kIncomplete) break;
      in_.consume(parser_.head_length());
      if (response_.status >= 100 && response_.status < 200) {
        parser_.reset();  // interim response: the final one follows
        response_.clear();
        continue;
      }
      head_done_ = true;
      body_left_ = response_.content_length;
    }
    if (head_done_) {
      const char* error = nullptr;
      bool complete = consume_body(r.eof, &error);
      if (error != nullptr) {
        close_connection();
        return finish_batch(false, std::string("bad response body: ") + error);
      }
      if (complete) {
        int status = response_.status;
        bool keep = response_.keep_alive && response_.body != http::BodyKind::kUntilClose &&
                    !r.eof && !close_after_;
        if (!keep) close_connection();
        in_.release(pool_);
        if (status >= 200 && status < 300) return finish_batch(true, "");
        return finish_batch(false, "status " + std::to_string(status));
      }
    }
    if (r.error || r.eof) {
      close_connection();
      if (retry_on_fresh_connection()) return;
      return finish_batch(false, r.error ? std::string("read: ") + std::strerror(read_errno)
                                         : std::string("connection closed before the response"));
    }
    if (r.drained) return;
  }
}

// Skips the response body as it arrives; true once it is complete.
bool OtlpExporter::consume_body(bool eof, const char** error) {
  switch (response_.body) {
    case http::BodyKind::kNone:
      return true;
    case http::BodyKind::kContentLength: {
      size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, in_.size()));
      in_.consume(n);
      body_left_ -= n;
      return body_left_ == 0;
    }
    case http::BodyKind::kChunked:
      while (!in_.empty()) {
        size_t used = 0;
        std::string_view data;
        http::ChunkedDecoder::Status st = chunked_.decode(in_.view(), &used, &data);
        in_.consume(used);
        if (st == http::ChunkedDecoder::Status::kDone) return true;
        if (st == http::ChunkedDecoder::Status::kError) {
          *error = chunked_.error_reason();
          return false;
        }
        if (st == http::ChunkedDecoder::Status::kNeedMore) break;
      }
      return false;
    case http::BodyKind::kUntilClose:
      in_.consume(in_.size());
      return eof;
  }
  return false;
}

void OtlpExporter::on_deadline() {
  if (phase_ == Phase::kIdle) return;
  close_connection();
  finish_batch(false, "no response within " + std::to_string(options_.timeout_ms) + " ms");
}

void OtlpExporter::finish_batch(bool ok, const std::string& why) {
  loop_.timers().cancel(deadline_timer_);
  phase_ = Phase::kIdle;
  if (close_after_) {
    close_connection();
    close_after_ = false;
  }
  size_t n = batch_size_;
  batch_size_ = 0;
  if (ok) {
    spans_exported_.fetch_add(n, std::memory_order_relaxed);
    batches_sent_.fetch_add(1, std::memory_order_relaxed);
    // Keep draining while spans are waiting; a success always arrives from an I/O event, so
    // this does not recurse through batch after batch.
    if (draining_) start_batch();
    return;
  }
  spans_failed_.fetch_add(n, std::memory_order_relaxed);
  batches_failed_.fetch_add(1, std::memory_order_relaxed);
  // After a failure the rest waits for the next interval rather than hammering a collector
  // that is down (the rings absorb, then drop, what arrives meanwhile).
  draining_ = false;
  next_flush_ms_ = loop_.now_ms() + options_.flush_interval_ms;
  log_failure(why);
}

void OtlpExporter::log_failure(const std::string& why) {
  uint64_t now = loop_.now_ms();
  if (logged_ && now - last_log_ms_ < kLogEveryMs) {
    ++unlogged_failures_;
    return;
  }
  std::string target =
      options_.host_header.empty() ? address_authority(options_.address) : options_.host_header;
  if (unlogged_failures_ > 0) {
    std::fprintf(stderr,
                 "otlp: export to %s%s failed: %s (and %llu more failed batches not logged)\n",
                 target.c_str(), options_.path.c_str(), why.c_str(),
                 static_cast<unsigned long long>(unlogged_failures_));
  } else {
    std::fprintf(stderr, "otlp: export to %s%s failed: %s\n", target.c_str(), options_.path.c_str(),
                 why.c_str());
  }
  logged_ = true;
  last_log_ms_ = now;
  unlogged_failures_ = 0;
}

void OtlpExporter::close_connection() {
  if (conn_ == nullptr) return;
  conn_->detach(&loop_);
  loop_.destroy_later(std::move(conn_));
  in_.release(pool_);
}

}  // namespace sluice::observe
