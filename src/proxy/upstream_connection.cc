// One connection to an upstream target: connect, send the request, read the response into a
// bounded buffer for the client side to take, and park in the pool between requests.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "proxy/connection.h"

namespace sluice::proxy {

UpstreamConnection::UpstreamConnection(Worker& worker, int fd, std::string key,
                                       std::shared_ptr<UpstreamRuntime> runtime,
                                       std::shared_ptr<balance::TargetState> state)
    : worker_(worker),
      fd_(fd),
      key_(std::move(key)),
      runtime_(std::move(runtime)),
      state_(std::move(state)),
      pending_(true) {
  worker_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
  runtime_->connections.fetch_add(1, std::memory_order_relaxed);
  runtime_->pending.fetch_add(1, std::memory_order_relaxed);
  state_->connections.fetch_add(1, std::memory_order_relaxed);
}

UpstreamConnection::~UpstreamConnection() {
  if (fd_ >= 0) ::close(fd_);
}

void UpstreamConnection::set_connect_timeout(uint64_t ms) {
  worker_.loop().timers().schedule(*this, worker_.loop().now_ms() + ms);
}

void UpstreamConnection::attach(UpstreamCall* call, uint64_t response_timeout_ms) {
  call_ = call;
  response_timeout_ms_ = response_timeout_ms;
  parked_ = false;
  if (connected_) arm_response_timer();
}

void UpstreamConnection::arm_response_timer() {
  worker_.loop().timers().schedule(*this, worker_.loop().now_ms() + response_timeout_ms_);
}

void UpstreamConnection::park(uint64_t idle_timeout_ms) {
  parked_ = true;
  call_ = nullptr;
  in_.release(worker_.pool());
  out_.release(worker_.pool());
  worker_.loop().timers().schedule(*this, worker_.loop().now_ms() + idle_timeout_ms);
}

void UpstreamConnection::on_io(uint32_t events) {
  if (closed_) return;
  if ((events & (EPOLLERR | EPOLLHUP)) && reset_reason_ == nullptr) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (!connected_ || err != 0) {
      if (connected_) {
        on_reset("upstream connection reset");
      } else {
        fail(UpstreamFailure::kConnect, "upstream connection refused");
      }
      return;
    }
  }
  if (events & EPOLLOUT) {
    writable_ = true;
    if (!connected_) {
      connected_ = true;
      connected_us_ = worker_.loop().clock().now_us();
      if (pending_) {
        pending_ = false;
        runtime_->pending.fetch_sub(1, std::memory_order_relaxed);
      }
      if (call_ != nullptr) arm_response_timer();
    }
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP)) peer_closing_ = true;
  // A TLS write waiting for the peer's handshake bytes resumes on readability.
  if (tls_ && (events & EPOLLIN) && tls_->wants_read_for_write()) writable_ = true;
  if (parked_ && tls_ && events == EPOLLIN) {
    // TLS records that carry no data (a TLS 1.3 session ticket, a key update) leave the
    // connection reusable: only bytes or an EOF do not.
    core::ReadOutcome r = tls_->read_into(in_, worker_.pool(), 1);
    if (r.bytes > 0 || r.eof || r.error) close_now();
    return;
  }
  if (parked_) {
    // An idle pooled connection has nothing to say: data or EOF means it cannot be reused.
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) close_now();
    return;
  }
  flush();
  if (closed_) return;
  read_some();
}

void UpstreamConnection::flush() {
  if (!connected_ || closed_ || reset_reason_ != nullptr) return;
  bool drained_some = false;
  if (writable_ && !out_.empty()) {
    core::WriteOutcome w =
        tls_ ? tls_->write_from(out_, worker_.pool()) : core::write_from(fd_, out_, worker_.pool());
    if (w.error && tls_ && !tls_->handshake_done()) {
      fail(UpstreamFailure::kConnect, "upstream TLS handshake failed");
      return;
    }
    if (w.error) {
      on_reset("upstream connection reset while sending");
      return;
    }
    if (w.blocked) writable_ = false;
    drained_some = w.bytes > 0;
  }
  if (drained_some && call_ != nullptr && out_.size() < kHighWater) {
    call_->owner().on_call_writable(*call_);
  }
}

void UpstreamConnection::resume_reading() {
  if (!closed_ && !parked_ && readable_ && connected_) read_some();
}

void UpstreamConnection::read_some() {
  if (closed_ || call_ == nullptr) return;
  if (!readable_ || eof_) return;
  core::ReadOutcome r = tls_ ? tls_->read_into(in_, worker_.pool(), kHighWater)
                             : core::read_into(fd_, in_, worker_.pool(), kHighWater, peer_closing_);
  if (tls_ && !tls_->handshake_done() && (r.error || r.eof)) {
    fail(UpstreamFailure::kConnect, "upstream TLS handshake failed");
    return;
  }
  if (r.drained) readable_ = false;
  if (r.eof || r.error) eof_ = true;
  if (r.error) failed_ = true;
  bool got = r.bytes > 0 || r.eof || r.error;
  if (got && call_ != nullptr) call_->owner().on_call_readable(*call_);
}

void UpstreamConnection::on_reset(const char* reason) {
  if (call_ == nullptr || reset_reason_ != nullptr) {
    fail(UpstreamFailure::kReset, reason);
    return;
  }
  // An upstream that answers an upload early (a 413, say) and closes with the body unread makes
  // its kernel reset the connection, but the answer's bytes came before the reset and are still
  // readable: stop sending and let the owner read them. It fails the call (with this reason) if
  // they do not make a whole answer.
  reset_reason_ = reason;
  out_.release(worker_.pool());
  writable_ = false;
  readable_ = true;
  peer_closing_ = true;
  read_some();
}

void UpstreamConnection::fail(UpstreamFailure kind, const char* reason) {
  failed_ = true;
  UpstreamCall* call = call_;
  if (call != nullptr) {
    call->owner().on_call_failed(*call, kind, reason);  // the owner detaches and closes us
  }
  close_now();
}

void UpstreamConnection::on_timer() {
  if (closed_) return;
  if (parked_) {
    close_now();
    return;
  }
  if (!connected_) {
    fail(UpstreamFailure::kConnectTimeout, "upstream connect timeout");
  } else {
    fail(UpstreamFailure::kTimeout, "upstream response timeout");
  }
}

void UpstreamConnection::close_now() {
  if (closed_) return;
  closed_ = true;
  runtime_->connections.fetch_sub(1, std::memory_order_relaxed);
  state_->connections.fetch_sub(1, std::memory_order_relaxed);
  if (pending_) {
    pending_ = false;
    runtime_->pending.fetch_sub(1, std::memory_order_relaxed);
  }
  if (pool_node.linked()) {
    pool_node.unlink();
    --worker_.target_pool(key_).idle_count;
  }
  call_ = nullptr;
  worker_.loop().timers().cancel(*this);
  worker_.loop().remove(fd_);
  if (tls_) tls_->shutdown();
  ::close(fd_);
  fd_ = -1;
  in_.release(worker_.pool());
  out_.release(worker_.pool());
  worker_.loop().destroy_later(std::unique_ptr<core::Deferred>(this));
}

}  // namespace sluice::proxy
