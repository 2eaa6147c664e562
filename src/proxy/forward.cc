// Forwarding: upstream tries (target selection, retries, outlier reports), the request body to
// the upstream and the response back to the client, and settling the exchange.
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
#include "proxy/mirror.h"
#include "router/path.h"

namespace sluice::proxy {

void ClientConnection::arm_body_timer() {
  if (!exchange_) return;  // answered and closing
  if (!exchange_->request_done) {
    arm(TimerMode::kBody, exchange_->snapshot->config.timeouts.client_body_ms);
  } else {
    worker_.loop().timers().cancel(*this);
  }
}

bool ClientConnection::try_upstream() {
  Exchange& x = *exchange_;
  switch (x.call.connect()) {
    case UpstreamCall::Connect::kOk:
      break;
    case UpstreamCall::Connect::kNoTarget:
      send_error(503, "no upstream target available", !x.request_done);
      return false;
    case UpstreamCall::Connect::kLimited:
      send_error(503, "upstream connection limit reached", !x.request_done);
      return false;
    case UpstreamCall::Connect::kFailed:
      send_error(502, "cannot connect to upstream", !x.request_done);
      return false;
  }
  x.response_buffering = false;
  x.ctx.response_body().clear();
  if (x.trace.on) begin_try_span();
  x.call.send();
  return exchange_ != nullptr;
}

void ClientConnection::on_call_retry(UpstreamCall& /*call*/) {
  if (closed_ || !exchange_) return;
  if (try_upstream()) drive();
}

void ClientConnection::settle_exchange() {
  Exchange& x = *exchange_;
  // on_log
  if (x.final_status != 0 && x.snapshot->config.metrics.enabled) {
    worker_.metrics()
        .route(x.route != nullptr ? x.route->metric_slot : 0)
        .record(x.method, x.final_status, worker_.loop().clock().now_us() - x.start_us,
                x.call.response_us);
  }
  cancel_quota_wait();
  if (x.chain != nullptr) {
    worker_.loop().timers().cancel(chain_delay_);
    worker_.loop().timers().cancel(chain_timeout_);
    if (x.chain_waiting) {
      // The client left while a filter waited: it drops what it waits for.
      if (const filter::Entry* e = x.cursor.paused(*x.chain)) {
        x.ctx.enter(e->state_offset);
        e->filter->on_cancel(x.ctx);
      }
      x.chain_waiting = false;
    }
    x.ctx.set_response(x.final_status, {}, x.call.target != nullptr ? x.call.target->key : "");
    filter::run_log(*x.chain, x.ctx);
  }
  if (x.trace.on) finish_trace();
  if (!x.snapshot->sinks.access_logs.empty()) write_access_log();
  x.call.settle(x.final_status);
  if (x.mirror != nullptr) {
    x.mirror->drop();  // the request never came whole
    x.mirror = nullptr;
  }
}

bool ClientConnection::forward_request_body() {
  Exchange& x = *exchange_;
  UpstreamConnection* up = x.discard_body ? nullptr : x.call.conn;
  if (up == nullptr && !x.discard_body) return false;
  if (up != nullptr && up->reset_reason() != nullptr) return false;  // it takes no more
  if (up == nullptr && x.mirror != nullptr) {
    x.mirror->drop();  // answered without the body: no copy either
    x.mirror = nullptr;
  }
  bool progressed = false;
  core::BufferPool& pool = worker_.pool();
  if (x.request_body == http::BodyKind::kContentLength) {
    while (x.request_remaining > 0 && !in_.empty()) {
      if (up != nullptr && up->out().size() >= kHighWater) break;
      size_t n = static_cast<size_t>(std::min<uint64_t>(x.request_remaining, in_.size()));
      if (up != nullptr) {
        n = std::min(n, kHighWater);
        up->out().append(pool, std::string_view(in_.data(), n));
        if (x.mirror != nullptr && !x.mirror->add_body(std::string_view(in_.data(), n))) {
          x.mirror = nullptr;  // longer than the mirror's max_body: dropped
        }
      }
      in_.consume(n);
      x.request_remaining -= n;
      x.request_body_bytes += n;
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
        if (x.mirror != nullptr && !x.mirror->add_chunk(data)) x.mirror = nullptr;
      } else if (st == http::ChunkedDecoder::Status::kDone) {
        if (up != nullptr) up->out().append(pool, "0\r\n\r\n");
        if (x.mirror != nullptr) x.mirror->end_chunks();
        x.request_done = true;
      }
      in_.consume(used);
      progressed = progressed || used > 0;
      if (st == http::ChunkedDecoder::Status::kNeedMore) break;
    }
  }
  if (x.request_done && x.mirror != nullptr) dispatch_mirror();
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

void ClientConnection::send_response_head(const http::ResponseHead& head) {
  Exchange& x = *exchange_;
  ResponseFraming framing = ResponseFraming::kAsIs;
  bool close = !x.client_keep_alive || worker_.draining() || !x.request_done;
  switch (head.body) {
    case http::BodyKind::kNone:
      break;
    case http::BodyKind::kContentLength:
      framing = ResponseFraming::kContentLength;
      x.call.response_remaining = head.content_length;
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
  std::string_view extra = gateway_response_headers();
  ResponseEdits edits;
  const ResponseEdits* with = nullptr;
  if (x.chain != nullptr && !x.chain->phase(filter::Phase::kResponseHeaders).empty()) {
    std::string& extra_headers = worker_.path_scratch();  // holds `extra` already
    extra_headers.append(x.ctx.response_lines());
    extra = extra_headers;
    edits.dropped = x.ctx.dropped_response_headers();
    edits.dropped_prefix = x.ctx.dropped_response_prefix();
    with = &edits;
  }
  render_client_response(head, std::string_view(x.request_id, x.request_id_len), framing, close,
                         x.client_http10 && !close, extra, rendered, with);
  out_.append(worker_.pool(), rendered);
  x.response_bytes += rendered.size();
  x.response_started = true;
  if (head.body == http::BodyKind::kNone ||
      (head.body == http::BodyKind::kContentLength && head.content_length == 0)) {
    x.response_done = true;
  }
}

std::string_view ClientConnection::gateway_response_headers() {
  const Exchange& x = *exchange_;
  std::string& out = worker_.path_scratch();
  out.clear();
  if (x.call.upstream->sticky.enabled && x.call.sticky_index != x.call.target_index) {
    const config::StickyConfig& sc = x.call.upstream->sticky;
    out += "Set-Cookie: " + sc.cookie + "=" + balance::sign_sticky(x.call.target->key, sc.secret) +
           "; Path=/; HttpOnly";
    if (sc.max_age_s != 0) out += "; Max-Age=" + std::to_string(sc.max_age_s);
    out += "\r\n";
  }
  out.append(x.response_extra);
  return out;
}

bool ClientConnection::retry_call(UpstreamFailure kind, int status) {
  const Exchange& x = *exchange_;
  if (x.response_started) return false;
  const bool replayable = http::is_idempotent(x.method) && !x.has_body;
  return exchange_->call.may_retry(kind, status, replayable,
                                   static_cast<uint64_t>(x.request_id[0]));
}

bool ClientConnection::pump_response() {
  Exchange& x = *exchange_;
  UpstreamConnection* up = x.call.conn;
  if (up == nullptr || x.response_done) return false;
  core::BufferPool& pool = worker_.pool();
  // Response bytes queued for the client, for the access log.
  auto emit = [&](std::string_view data) {
    out_.append(pool, data);
    x.response_bytes += data.size();
  };
  auto emit_chunk = [&](std::string_view data) {
    x.response_bytes += append_chunk(out_, pool, data);
  };
  bool progressed = false;
  if (x.response_buffering) return buffer_response_body(up);
  if (x.response_paused) {
    // A response_headers filter paused; go on once it resumed (or its timeout passed).
    if (!x.chain_resumed) return false;
    const filter::Status st = step_chain(filter::Phase::kResponseHeaders);
    if (st == filter::Status::kPause) {
      wait_for_filter(*up);
      return true;
    }
    x.response_paused = false;
    up->arm_response_timer();
    if (st == filter::Status::kRespond) {
      abort_upstream();
      send_chain_answer();
      return true;
    }
    send_response_head(x.response_head);
    progressed = true;
  }
  while (!x.response_started) {
    if (up->in().empty()) {
      if (up->eof()) {
        on_call_failed(x.call, UpstreamFailure::kReset,
                       up->reset_reason() != nullptr
                           ? up->reset_reason()
                           : "upstream closed the connection before responding");
        return true;
      }
      return progressed;
    }
    http::ResponseHead& head = worker_.response_head();
    http::ParseStatus st = x.call.parser.parse(up->in().view(), x.method, head);
    if (st == http::ParseStatus::kIncomplete) {
      if (up->eof()) {
        on_call_failed(x.call, UpstreamFailure::kReset,
                       "upstream closed the connection mid-response");
        return true;
      }
      if (up->in().size() >= kHighWater) {
        on_call_failed(x.call, UpstreamFailure::kProtocol, "upstream response head too large");
        return true;
      }
      return progressed;
    }
    if (st == http::ParseStatus::kError) {
      on_call_failed(x.call, UpstreamFailure::kProtocol, "invalid response from upstream");
      return true;
    }
    size_t head_len = x.call.parser.head_length();
    if (head.status < 200) {
      // Interim responses (103 Early Hints, a stray 100) are dropped: the client gets the final
      // one.
      if (head.status == 101) {
        on_call_failed(x.call, UpstreamFailure::kProtocol, "upstream switched protocols");
        return true;
      }
      up->in().consume(head_len);
      x.call.parser.reset();
      progressed = true;
      continue;
    }
    // on_response_headers: the try's verdict, and a retry for the statuses the route lists.
    x.call.response_us = worker_.loop().clock().now_us() - x.call.sent_us;
    x.call.connect_us = up->connected_at_us() > x.call.sent_us
                            ? static_cast<int64_t>(up->connected_at_us() - x.call.sent_us)
                            : 0;
    if (x.trace.on) end_try_span(head.status, nullptr);
    x.call.report_try(head.status < 500);
    if (retry_call(UpstreamFailure::kProtocol, head.status)) {
      abort_upstream();
      return true;
    }
    x.call.keep_alive = head.keep_alive;
    x.call.response_in = head.body;
    if (head.body != http::BodyKind::kNone && x.chain != nullptr &&
        !(head.body == http::BodyKind::kContentLength && head.content_length == 0) &&
        wants_body(filter::Phase::kResponseBody)) {
      // on_response_body of a body filter: the head waits for the whole body (owned copy: the
      // worker's parsed head is reused by other connections meanwhile).
      if (head.body == http::BodyKind::kContentLength &&
          head.content_length > x.chain->response_body_limit()) {
        x.call.failed = true;
        abort_upstream();
        send_error(502, "upstream response body too large for its body filter", !x.request_done);
        return true;
      }
      http::copy_response_head(head, up->in().view().substr(0, head_len), x.response_head_bytes,
                               x.response_head);
      up->in().consume(head_len);
      x.call.response_remaining = head.content_length;
      x.response_buffering = true;
      x.ctx.response_body().clear();
      return buffer_response_body(up) || true;
    }
    x.final_status = head.status;
    if (x.chain != nullptr && !x.chain->phase(filter::Phase::kResponseHeaders).empty()) {
      // on_response_headers of the route's filters.
      x.ctx.set_response(head.status, head.headers, x.call.target->key);
      const filter::Status st = step_chain(filter::Phase::kResponseHeaders);
      if (st == filter::Status::kPause) {
        // The head waits in an owned copy (the worker's parsed head is reused meanwhile); the
        // body stays in the upstream's buffer, which stops reading when full.
        http::copy_response_head(head, up->in().view().substr(0, head_len), x.response_head_bytes,
                                 x.response_head);
        up->in().consume(head_len);
        x.ctx.set_response(x.response_head.status, x.response_head.headers, x.call.target->key);
        x.response_paused = true;
        wait_for_filter(*up);
        return true;
      }
      if (st == filter::Status::kRespond) {
        abort_upstream();
        send_chain_answer();
        return true;
      }
    }
    send_response_head(head);
    up->in().consume(head_len);
    progressed = true;
  }
  // on_response_body
  while (!x.response_done) {
    if (out_.size() >= kHighWater) break;
    core::Buffer& src = up->in();
    if (x.call.response_in == http::BodyKind::kContentLength) {
      if (src.empty()) break;
      size_t n = static_cast<size_t>(std::min<uint64_t>(x.call.response_remaining, src.size()));
      n = std::min(n, kHighWater);
      emit(std::string_view(src.data(), n));
      src.consume(n);
      x.call.response_remaining -= n;
      progressed = true;
      if (x.call.response_remaining == 0) x.response_done = true;
    } else if (x.call.response_in == http::BodyKind::kChunked) {
      if (src.empty()) break;
      size_t used = 0;
      std::string_view data;
      http::ChunkedDecoder::Status st = x.call.response_chunked.decode(src.view(), &used, &data);
      if (st == http::ChunkedDecoder::Status::kError) {
        on_call_failed(x.call, UpstreamFailure::kProtocol, "invalid chunked body from upstream");
        return true;
      }
      if (st == http::ChunkedDecoder::Status::kData) {
        if (x.response_out == Exchange::Out::kChunked) {
          emit_chunk(data);
        } else {
          emit(data);
        }
      } else if (st == http::ChunkedDecoder::Status::kDone) {
        if (x.response_out == Exchange::Out::kChunked) emit("0\r\n\r\n");
        x.response_done = true;
      }
      src.consume(used);
      progressed = true;
      if (st == http::ChunkedDecoder::Status::kNeedMore) break;
    } else {  // until close
      if (!src.empty()) {
        size_t n = std::min(src.size(), kHighWater);
        if (x.response_out == Exchange::Out::kChunked) {
          emit_chunk(std::string_view(src.data(), n));
        } else {
          emit(std::string_view(src.data(), n));
        }
        src.consume(n);
        progressed = true;
        continue;
      }
      if (up->eof()) {
        if (const char* why = up->aborted()) {
          // A close ends such a body, a reset aborts it: the client sees it cut.
          on_call_failed(x.call, UpstreamFailure::kReset, why);
          return true;
        }
        if (x.response_out == Exchange::Out::kChunked) emit("0\r\n\r\n");
        x.response_done = true;
        progressed = true;
      }
      break;
    }
  }
  if (!x.response_done && up->eof() && up->in().empty() &&
      x.call.response_in != http::BodyKind::kUntilClose) {
    on_call_failed(x.call, UpstreamFailure::kReset, "upstream closed the connection mid-body");
    return true;
  }
  if (x.response_done) {
    x.call.release(x.request_done);
  } else if (progressed) {
    up->arm_response_timer();
  }
  if (progressed) up->resume_reading();
  return progressed;
}

}  // namespace sluice::proxy

namespace sluice::proxy {

bool ClientConnection::wants_body(filter::Phase p) {
  Exchange& x = *exchange_;
  for (uint16_t i : x.chain->phase(p)) {
    const filter::Entry& e = x.chain->entry(i);
    if (e.when && !e.when->matches(x.ctx)) continue;
    if (p != filter::Phase::kRequestBody) return true;
    x.ctx.enter(e.state_offset);
    if (e.filter->wants_request_body(x.ctx)) return true;
  }
  return false;
}

ClientConnection::BodyRead ClientConnection::buffer_request_body() {
  Exchange& x = *exchange_;
  std::string& body = x.ctx.request_body();
  const uint64_t limit = x.chain->request_body_limit();
  if (x.request_body == http::BodyKind::kContentLength) {
    if (x.request_remaining > limit - std::min<uint64_t>(limit, body.size())) {
      send_error(413, "request body too large for its body filter", true);
      return BodyRead::kFailed;
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(x.request_remaining, in_.size()));
    body.append(in_.data(), n);
    in_.consume(n);
    x.request_remaining -= n;
    x.request_body_bytes += n;
    if (x.request_remaining == 0) x.request_done = true;
  } else {
    while (!in_.empty() && !x.request_done) {
      size_t used = 0;
      std::string_view data;
      http::ChunkedDecoder::Status st = x.request_chunked.decode(in_.view(), &used, &data);
      if (st == http::ChunkedDecoder::Status::kError) {
        in_.consume(used);
        send_error(400, x.request_chunked.error_reason(), true);
        return BodyRead::kFailed;
      }
      if (st == http::ChunkedDecoder::Status::kData) {
        x.request_body_bytes += data.size();
        if (x.request_body_bytes > limit) {
          send_error(413, "request body too large for its body filter", true);
          return BodyRead::kFailed;
        }
        body.append(data);
      } else if (st == http::ChunkedDecoder::Status::kDone) {
        x.request_done = true;
      }
      in_.consume(used);
      if (st == http::ChunkedDecoder::Status::kNeedMore) break;
    }
  }
  if (x.request_done) return BodyRead::kDone;
  if (peer_eof_ && in_.empty()) {
    close_now();  // the client went away in the middle of its body
    return BodyRead::kFailed;
  }
  arm(TimerMode::kBody, x.snapshot->config.timeouts.client_body_ms);
  return BodyRead::kNeedMore;
}

bool ClientConnection::buffer_response_body(UpstreamConnection* up) {
  Exchange& x = *exchange_;
  std::string& body = x.ctx.response_body();
  const uint64_t limit = x.chain->response_body_limit();
  core::Buffer& src = up->in();
  bool progressed = false;
  bool done = false;
  auto too_large = [&] {
    x.call.failed = true;
    abort_upstream();
    send_error(502, "upstream response body too large for its body filter", !x.request_done);
    return true;
  };
  if (x.call.response_in == http::BodyKind::kContentLength) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(x.call.response_remaining, src.size()));
    body.append(src.data(), n);
    src.consume(n);
    x.call.response_remaining -= n;
    progressed = n > 0;
    done = x.call.response_remaining == 0;
  } else if (x.call.response_in == http::BodyKind::kChunked) {
    while (!src.empty() && !done) {
      size_t used = 0;
      std::string_view data;
      http::ChunkedDecoder::Status st = x.call.response_chunked.decode(src.view(), &used, &data);
      if (st == http::ChunkedDecoder::Status::kError) {
        on_call_failed(x.call, UpstreamFailure::kProtocol, "invalid chunked body from upstream");
        return true;
      }
      if (st == http::ChunkedDecoder::Status::kData) {
        if (body.size() + data.size() > limit) return too_large();
        body.append(data);
      }
      if (st == http::ChunkedDecoder::Status::kDone) done = true;
      src.consume(used);
      progressed = true;
      if (st == http::ChunkedDecoder::Status::kNeedMore) break;
    }
  } else {  // until close
    if (body.size() + src.size() > limit) return too_large();
    body.append(src.data(), src.size());
    progressed = !src.empty();
    src.consume(src.size());
    if (const char* why = up->eof() ? up->aborted() : nullptr) {
      on_call_failed(x.call, UpstreamFailure::kReset, why);  // aborted, not whole
      return true;
    }
    done = up->eof();
  }
  if (!done) {
    if (up->eof() && src.empty()) {
      on_call_failed(x.call, UpstreamFailure::kReset, "upstream closed the connection mid-body");
      return true;
    }
    if (progressed) up->arm_response_timer();
    up->resume_reading();
    return progressed;
  }
  finish_buffered_response();
  return true;
}

void ClientConnection::finish_buffered_response() {
  Exchange& x = *exchange_;
  x.response_buffering = false;
  x.call.release(x.request_done);
  const http::ResponseHead& head = x.response_head;
  x.ctx.set_response(head.status, head.headers, x.call.target->key);
  // on_response_headers, then on_response_body, of the route's filters.
  x.cursor.start(filter::Phase::kResponseHeaders);
  filter::Status st = filter::run_phase(*x.chain, x.ctx, x.cursor);
  if (st != filter::Status::kRespond) {
    x.cursor.start(filter::Phase::kResponseBody);
    st = filter::run_phase(*x.chain, x.ctx, x.cursor);
  }
  if (st == filter::Status::kRespond) {
    if (x.ctx.answer_status() >= 500) {
      std::fprintf(stderr, "route %.*s: %s\n", static_cast<int>(x.route->name.size()),
                   x.route->name.data(),
                   x.ctx.answer_reason() != nullptr ? x.ctx.answer_reason() : "answered");
    }
    send_chain_answer();
    return;
  }
  const bool close = !x.client_keep_alive || worker_.draining() || !x.request_done;
  if (close) x.client_keep_alive = false;
  gateway_response_headers();
  std::string& extra = worker_.path_scratch();  // what gateway_response_headers() wrote
  extra.append(x.ctx.response_lines());
  ResponseEdits edits;
  edits.dropped = x.ctx.dropped_response_headers();
  edits.dropped_prefix = x.ctx.dropped_response_prefix();
  edits.body_length = x.ctx.response_body().size();
  std::string& rendered = worker_.head_scratch();
  rendered.clear();
  x.final_status = head.status;
  render_client_response(head, std::string_view(x.request_id, x.request_id_len),
                         ResponseFraming::kContentLength, close, x.client_http10 && !close, extra,
                         rendered, &edits);
  out_.append(worker_.pool(), rendered);
  out_.append(worker_.pool(), x.ctx.response_body());
  x.response_bytes += rendered.size() + x.ctx.response_body().size();
  x.response_started = true;
  x.response_done = true;
}

}  // namespace sluice::proxy
