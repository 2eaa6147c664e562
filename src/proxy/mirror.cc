// Request mirroring: a copy of the request to a shadow upstream, its answer discarded.
#include "proxy/mirror.h"

#include "http/chunked.h"
#include "proxy/connection.h"

namespace sluice::proxy {
namespace {

// A mirror is tried once: a shadow that fails is counted, not retried.
const config::RetryConfig kNoRetry{.attempts = 1};

}  // namespace

void Mirror::open(std::shared_ptr<const Snapshot> snap, const Route& route,
                  observe::RouteMetrics& metrics) {
  snapshot_ = std::move(snap);
  route_ = &*route.mirror;
  metrics_ = &metrics;
  metrics_->mirror_in_flight.fetch_add(1, std::memory_order_relaxed);
  call_.bind(worker_, *this);
  open_ = true;
}

void Mirror::begin(http::Method method, std::string_view request) {
  method_ = method;
  call_.request.assign(request);
}

bool Mirror::take_body(size_t n) {
  if (body_bytes_ + n > route_->max_body_bytes) {
    drop();
    return false;
  }
  body_bytes_ += n;
  return true;
}

bool Mirror::add_body(std::string_view data) {
  if (!take_body(data.size())) return false;
  call_.request.append(data);
  return true;
}

bool Mirror::add_chunk(std::string_view data) {
  if (!take_body(data.size())) return false;
  char head[24];
  call_.request.append(head, http::write_chunk_header(data.size(), head));
  call_.request.append(data);
  call_.request.append("\r\n");
  return true;
}

void Mirror::end_chunks() {
  call_.request.append("0\r\n\r\n");
}

void Mirror::dispatch(const http::RequestHead& head, std::string_view client_ip,
                      std::string_view matched_path) {
  if (call_.admit(*snapshot_, route_->upstream, kNoRetry, route_->timeout_ms, 0) != nullptr) {
    finish(Result::kDropped, 0);  // the shadow's breaker is open, or it is at max_requests
    return;
  }
  call_.key_request(head, client_ip, matched_path);
  start_try();
}

void Mirror::drop() {
  finish(Result::kDropped, 0);
}

void Mirror::start_try() {
  switch (call_.connect()) {
    case UpstreamCall::Connect::kOk:
      call_.send();  // may fail the try at once (on_call_failed)
      return;
    case UpstreamCall::Connect::kNoTarget:
    case UpstreamCall::Connect::kLimited:
      finish(Result::kDropped, 0);
      return;
    case UpstreamCall::Connect::kFailed:
      finish(Result::kFailed, 502);
      return;
  }
}

void Mirror::on_call_readable(UpstreamCall& /*call*/) {
  if (in_pump_) {
    again_ = true;  // more arrived while we were discarding: one more round
    return;
  }
  in_pump_ = true;
  do {
    again_ = false;
    if (pump()) return;  // finished: this object was recycled
    call_.conn->resume_reading();
  } while (again_);
  in_pump_ = false;
}

void Mirror::on_call_failed(UpstreamCall& call, UpstreamFailure kind, const char* /*reason*/) {
  // The whole request is in call.request: even a stale pooled connection is replayed safely.
  if (!call.fail_try(kind, head_done_, false)) {
    start_try();
    return;
  }
  finish(Result::kFailed, kind == UpstreamFailure::kTimeout ? 504 : 502);
}

bool Mirror::pump() {
  UpstreamConnection* up = call_.conn;
  core::Buffer& in = up->in();
  auto fail = [&](UpstreamFailure kind) {
    on_call_failed(call_, kind, nullptr);
    return !open_;  // or a stale pooled connection is replayed on a fresh one
  };
  bool progressed = false;
  while (!head_done_) {
    if (in.empty()) return up->eof() ? fail(UpstreamFailure::kReset) : false;
    http::ResponseHead& head = worker_.response_head();
    const http::ParseStatus st = call_.parser.parse(in.view(), method_, head);
    if (st == http::ParseStatus::kIncomplete) {
      if (up->eof()) return fail(UpstreamFailure::kReset);
      if (in.size() >= kHighWater) return fail(UpstreamFailure::kProtocol);
      return false;
    }
    if (st == http::ParseStatus::kError || head.status == 101) {
      return fail(UpstreamFailure::kProtocol);
    }
    in.consume(call_.parser.head_length());
    progressed = true;
    if (head.status < 200) {
      call_.parser.reset();  // an interim answer: the final one follows
      continue;
    }
    call_.response_us = worker_.loop().clock().now_us() - call_.sent_us;
    call_.report_try(head.status < 500);
    status_ = head.status;
    head_done_ = true;
    call_.keep_alive = head.keep_alive;
    call_.response_in = head.body;
    call_.response_remaining = head.content_length;
    if (head.body == http::BodyKind::kContentLength && head.content_length == 0) {
      call_.response_in = http::BodyKind::kNone;
    }
  }
  bool done = false;
  switch (call_.response_in) {
    case http::BodyKind::kNone:
      done = true;
      break;
    case http::BodyKind::kContentLength: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(call_.response_remaining, in.size()));
      in.consume(n);
      call_.response_remaining -= n;
      progressed = progressed || n > 0;
      done = call_.response_remaining == 0;
      break;
    }
    case http::BodyKind::kChunked:
      while (!in.empty() && !done) {
        size_t used = 0;
        std::string_view data;
        const http::ChunkedDecoder::Status st =
            call_.response_chunked.decode(in.view(), &used, &data);
        if (st == http::ChunkedDecoder::Status::kError) return fail(UpstreamFailure::kProtocol);
        in.consume(used);
        progressed = progressed || used > 0;
        done = st == http::ChunkedDecoder::Status::kDone;
        if (st == http::ChunkedDecoder::Status::kNeedMore) break;
      }
      break;
    case http::BodyKind::kUntilClose:
      progressed = progressed || !in.empty();
      in.consume(in.size());
      if (up->eof() && up->aborted() != nullptr) return fail(UpstreamFailure::kReset);
      done = up->eof();
      break;
  }
  if (done) {
    call_.release(true);
    finish(Result::kAnswered, status_);
    return true;
  }
  if (up->eof() && in.empty()) return fail(UpstreamFailure::kReset);
  if (progressed) up->arm_response_timer();
  return false;
}

void Mirror::finish(Result result, int status) {
  call_.settle(status);
  switch (result) {
    case Result::kAnswered:
      metrics_->mirror_answered.fetch_add(1, std::memory_order_relaxed);
      break;
    case Result::kFailed:
      metrics_->mirror_failed.fetch_add(1, std::memory_order_relaxed);
      break;
    case Result::kDropped:
      metrics_->mirror_dropped.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  metrics_->mirror_in_flight.fetch_sub(1, std::memory_order_relaxed);
  call_.reset();
  snapshot_.reset();
  route_ = nullptr;
  metrics_ = nullptr;
  body_bytes_ = 0;
  status_ = 0;
  head_done_ = false;
  in_pump_ = false;
  again_ = false;
  open_ = false;
  worker_.mirror_finished(this);
}

}  // namespace sluice::proxy
