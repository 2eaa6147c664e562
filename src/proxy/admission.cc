// Admission of a routed request: the route's filter chain (IP rules, CORS, auth, RBAC, rate
// limits, a respond or mock answer, edits), a whole body for body filters, then the route's
// upstream: admission (breaker, limits), a target, the head.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "auth/cidr.h"
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

auth::IpAddress ClientConnection::client_address(const http::RequestHead& head) const {
  auth::IpAddress ip = auth::IpAddress::from_sockaddr(peer_);
  const auth::CidrSet& trusted = exchange_->snapshot->trusted_proxies;
  if (!trusted.empty() && trusted.contains(ip)) {
    std::string_view values[8];
    size_t n = 0;
    for (const http::Header& h : head.headers) {
      if (n < std::size(values) && http::iequals(h.name, "x-forwarded-for")) values[n++] = h.value;
    }
    ip = auth::resolve_client_ip(ip, std::span<const std::string_view>(values, n), trusted);
  }
  return ip;
}

filter::Status ClientConnection::step_chain(filter::Phase phase) {
  Exchange& x = *exchange_;
  if (!x.chain_resumed) {
    x.cursor.start(phase);
    return filter::run_phase(*x.chain, x.ctx, x.cursor);
  }
  x.chain_resumed = false;
  if (x.chain_timed_out) {
    x.chain_timed_out = false;
    return filter::time_out(*x.chain, x.ctx, x.cursor);
  }
  return filter::run_phase(*x.chain, x.ctx, x.cursor);
}

void ClientConnection::wait_for_filter(core::Timer& stopped) {
  Exchange& x = *exchange_;
  x.chain_waiting = true;
  // The timer of what the exchange waited for before (the client's head, the upstream's
  // answer) no longer applies; the paused filter's own timeout does.
  worker_.loop().timers().cancel(stopped);
  const filter::Entry* e = x.cursor.paused(*x.chain);
  if (e != nullptr && e->timeout_ms != 0) {
    worker_.loop().timers().schedule(chain_timeout_, worker_.loop().now_ms() + e->timeout_ms);
  }
}

bool ClientConnection::run_request_filters(filter::Phase phase, bool* keep) {
  switch (step_chain(phase)) {
    case filter::Status::kContinue:
      return true;
    case filter::Status::kPause:
      wait_for_filter(*this);
      *keep = true;
      return false;
    case filter::Status::kRespond:
      send_chain_answer();
      *keep = exchange_ != nullptr;
      return false;
  }
  return true;
}

namespace {

observe::AuthFailure auth_failure(filter::Refusal r) {
  using filter::Refusal;
  using observe::AuthFailure;
  switch (r) {
    case Refusal::kAddress:
      return AuthFailure::kAddress;
    case Refusal::kForbidden:
      return AuthFailure::kForbidden;
    case Refusal::kMissing:
      return AuthFailure::kMissing;
    case Refusal::kExpired:
      return AuthFailure::kExpired;
    case Refusal::kUnknownKey:
      return AuthFailure::kUnknownKey;
    case Refusal::kInvalidApiKey:
      return AuthFailure::kInvalidApiKey;
    case Refusal::kInvalidSignature:
      return AuthFailure::kInvalidSignature;
    case Refusal::kStale:
      return AuthFailure::kStale;
    case Refusal::kReplayed:
      return AuthFailure::kReplayed;
    case Refusal::kNone:
    case Refusal::kInvalid:
      break;
  }
  return AuthFailure::kInvalidToken;
}

}  // namespace

void ClientConnection::send_chain_answer() {
  Exchange& x = *exchange_;
  const filter::Context& c = x.ctx;
  if (c.refusal() != filter::Refusal::kNone) {
    worker_.metrics().route(x.route->metric_slot).auth_failure(auth_failure(c.refusal()));
  }
  x.discard_body = true;
  worker_.loop().timers().cancel(chain_delay_);
  worker_.loop().timers().cancel(chain_timeout_);
  if (c.answer_body().empty() && c.answer_reason() != nullptr) {
    x.response_extra.append(c.answer_lines());  // a challenge, say
    send_error(c.answer_status(), c.answer_reason(), false);
  } else {
    x.final_status = c.answer_status();
    std::string& head = worker_.path_scratch();
    head.assign("HTTP/1.1 ");
    head.append(std::to_string(c.answer_status()));
    head.push_back(' ');
    head.append(http::reason_phrase(c.answer_status()));
    head.append("\r\n");
    head.append(c.answer_lines());
    if (c.answer_status() != 204 && c.answer_status() != 304) {
      head.append("content-length: ");
      head.append(std::to_string(c.answer_body().size()));
      head.append("\r\n");
    }
    send_local(head, x.method == http::Method::kHead ? "" : std::string_view(c.answer_body()),
               false);
  }
  arm_body_timer();
}

bool ClientConnection::admit() {
  Exchange& x = *exchange_;
  const http::RequestHead& head = x.head;
  using Stage = Exchange::Stage;
  bool keep = true;
  if (x.stage == Stage::kFilters && x.chain != nullptr) {
    if (!run_request_filters(filter::Phase::kRequestHeaders, &keep)) return keep;
  }
  if (x.stage == Stage::kFilters) {
    x.stage = x.chain != nullptr && x.has_body && wants_body(filter::Phase::kRequestBody)
                  ? Stage::kRequestBody
                  : Stage::kUpstream;
  }
  if (x.stage == Stage::kRequestBody) {
    // on_request_body: the whole body first (bounded by the filters' max_bytes).
    if (!x.body_buffering && head.expect_continue && !x.client_http10 && in_.empty()) {
      out_.append(worker_.pool(), "HTTP/1.1 100 Continue\r\n\r\n");
    }
    x.body_buffering = true;
    switch (buffer_request_body()) {
      case BodyRead::kNeedMore:
        return true;
      case BodyRead::kFailed:
        return exchange_ != nullptr;
      case BodyRead::kDone:
        break;
    }
    x.body_buffering = false;
    worker_.loop().timers().cancel(*this);
    x.body_replaced = true;
    x.stage = Stage::kBodyFilters;
  }
  if (x.stage == Stage::kBodyFilters) {
    if (!run_request_filters(filter::Phase::kRequestBody, &keep)) return keep;
    x.stage = Stage::kUpstream;
  }
  if (x.stage == Stage::kUpstream) {
    x.stage = Stage::kUpstreamRequest;
    if (!select_upstream()) return true;  // answered
  }
  // on_upstream_request: admitted; the last edits before the head is rendered.
  if (x.chain != nullptr && !x.chain->phase(filter::Phase::kUpstreamRequest).empty() &&
      !run_request_filters(filter::Phase::kUpstreamRequest, &keep)) {
    return keep;
  }
  return send_upstream_head();
}

bool ClientConnection::select_upstream() {
  Exchange& x = *exchange_;
  const http::RequestHead& head = x.head;
  const std::shared_ptr<const Snapshot>& snap = x.snapshot;
  if (x.route->upstream < 0) {
    // A route without an upstream whose chain did not answer this request (a mock whose
    // `when:` did not match).
    x.discard_body = true;
    send_error(404, "no mock answer for this request", false);
    arm_body_timer();
    return false;
  }

  // Admission (breaker, limits); the target is chosen for each try (try_upstream).
  const Route& r = *x.route;
  if (const char* refused =
          x.call.admit(*snap, r.upstream, r.retry, r.response_timeout_ms, r.total_timeout_ms)) {
    x.discard_body = true;
    send_error(503, refused, false);
    arm_body_timer();
    return false;
  }
  if (x.call.keys_request()) {
    char ip[64] = "";
    x.call.key_request(head, x.call.hashes_request() ? peer_ip(ip, sizeof(ip)) : "",
                       x.ctx.matched_path());
  }
  return true;
}

bool ClientConnection::send_upstream_head() {
  Exchange& x = *exchange_;
  const http::RequestHead& head = x.head;
  const Upstream& u = *x.call.upstream;
  x.call.request.clear();
  char ip[64];
  peer_ip(ip, sizeof(ip));
  char traceparent[observe::kTraceparentSize];
  std::string_view tp;
  if (x.trace.on) {
    // Each try rewrites the span id (begin_try_span) with its client span's.
    observe::format_traceparent(x.trace.trace_id, x.trace.span_id, x.trace.sampled, traceparent);
    tp = std::string_view(traceparent, sizeof(traceparent));
  }
  UpstreamEdits edits;
  const UpstreamEdits* with = nullptr;
  if (x.chain != nullptr) {
    if (x.ctx.path_changed()) edits.path = x.ctx.path();
    if (x.ctx.query_changed()) edits.query = x.ctx.query();
    edits.dropped = x.ctx.dropped_request_headers();
    edits.lines = x.ctx.upstream_lines();
    if (x.body_replaced) edits.body_length = x.ctx.request_body().size();
    with = &edits;
  }
  x.trace.header_at = render_upstream_request(
      head, *x.route, ip, std::string_view(x.request_id, x.request_id_len), x.ctx.matched_path(),
      u.targets.empty() ? std::string_view() : u.targets[0].key, x.call.request, tp,
      x.trace.has_parent, tls_ != nullptr, owned_headers(x), with);
  // A buffered body goes with the head (a replay after a connect failure sends both).
  if (x.body_replaced) x.call.request.append(x.ctx.request_body());
  if (x.route->mirror) start_mirror();
  if (head.expect_continue && !x.request_done && !x.client_http10 && in_.empty()) {
    out_.append(worker_.pool(), "HTTP/1.1 100 Continue\r\n\r\n");
  }
  if (!try_upstream()) return false;
  arm_body_timer();
  return true;
}

}  // namespace sluice::proxy

namespace sluice::proxy {

void ClientConnection::start_mirror() {
  Exchange& x = *exchange_;
  const MirrorRoute& mr = *x.route->mirror;
  if (mr.percent < 100 && worker_.ids().uniform() * 100 >= mr.percent) return;
  if (!x.body_replaced && x.request_body == http::BodyKind::kContentLength &&
      x.request_remaining > mr.max_body_bytes) {
    worker_.metrics()
        .route(x.route->metric_slot)
        .mirror_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Mirror* m = worker_.start_mirror(x.snapshot, *x.route);
  if (m == nullptr) return;  // max_in_flight copies in flight: dropped
  // The head as the primary gets it (with a body buffered for a body filter).
  m->begin(x.method, x.call.request);
  x.mirror = m;
  if (x.request_done) dispatch_mirror();
}

void ClientConnection::dispatch_mirror() {
  Exchange& x = *exchange_;
  char ip[64];
  Mirror* m = x.mirror;
  x.mirror = nullptr;
  // The shadow upstream is known only once the copy is admitted: the address is formatted for
  // it whether or not its balancer hashes.
  m->dispatch(x.head, peer_ip(ip, sizeof(ip)), x.ctx.matched_path());
}

}  // namespace sluice::proxy
