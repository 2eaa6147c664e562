// The log phase's observers: trace spans of the exchange and its tries, and access-log lines
// (also for requests refused before their head parsed).
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
namespace {

std::string_view header_value(const http::RequestHead& head, std::string_view name) {
  const http::Header* h = http::find_header(head.headers, name);
  return h != nullptr ? h->value : std::string_view();
}

// Path and query as the client sent them ("/a?b=1"), a view into the exchange's head; only a
// target whose two parts are not adjacent there is assembled.
std::string_view logged_target(Exchange& x) {
  const http::RequestHead& h = x.head;
  if (h.query.empty()) return h.path;
  if (h.query.data() == h.path.data() + h.path.size() + 1) {
    return {h.path.data(), h.path.size() + 1 + h.query.size()};
  }
  x.logged_target.assign(h.path);
  x.logged_target.push_back('?');
  x.logged_target.append(h.query);
  return x.logged_target;
}

}  // namespace

void ClientConnection::start_trace(const http::RequestHead& head) {
  Exchange::Trace& t = exchange_->trace;
  const config::TracingConfig& tc = exchange_->snapshot->config.tracing;
  observe::IdGenerator& ids = worker_.ids();
  t.on = true;
  observe::TraceContext ctx{};
  const http::Header* tp = http::find_header(head.headers, "traceparent");
  if (tp != nullptr && observe::parse_traceparent(tp->value, &ctx)) {
    // Continue the caller's trace; its sampling decision stands unless told otherwise.
    std::memcpy(t.trace_id, ctx.trace_id, sizeof(t.trace_id));
    std::memcpy(t.parent_id, ctx.parent_id, sizeof(t.parent_id));
    t.has_parent = true;
    t.sampled = tc.respect_parent ? (ctx.flags & observe::kTraceFlagSampled) != 0
                                  : ids.uniform() < tc.sample_ratio;
  } else {
    ids.trace_id(t.trace_id);
    t.sampled = tc.sample_ratio > 0 && ids.uniform() < tc.sample_ratio;
  }
  ids.span_id(t.span_id);
}

void ClientConnection::begin_try_span() {
  Exchange& x = *exchange_;
  Exchange::Trace& t = x.trace;
  uint8_t span_id[8];
  worker_.ids().span_id(span_id);
  if (t.try_count < Exchange::Trace::kMaxTries) {
    Exchange::Trace::Try& tr = t.tries[t.try_count++];
    std::memcpy(tr.span_id, span_id, sizeof(span_id));
    tr.start_us = worker_.loop().clock().now_us();
    tr.end_us = 0;
    tr.target = x.call.target;
    tr.status = 0;
    tr.error_type = nullptr;
  }
  // The upstream's parent is this try's client span: rewrite the span-id field of the
  // traceparent value ("00-<32 hex>-<16 hex>-01") in the head, and in a replayed copy of it.
  constexpr size_t kSpanAt = 36;
  if (t.header_at == std::string::npos) return;
  observe::to_hex(span_id, sizeof(span_id), x.call.request.data() + t.header_at + kSpanAt);
  if (x.call.carried.size() >= t.header_at + observe::kTraceparentSize) {
    observe::to_hex(span_id, sizeof(span_id), x.call.carried.data() + t.header_at + kSpanAt);
  }
}

void ClientConnection::end_try_span(int status, const char* error_type) {
  Exchange::Trace& t = exchange_->trace;
  if (t.try_count == 0) return;
  Exchange::Trace::Try& tr = t.tries[t.try_count - 1];
  if (tr.end_us != 0) return;
  tr.end_us = worker_.loop().clock().now_us();
  tr.status = status;
  tr.error_type = error_type;
}

void ClientConnection::finish_trace() {
  Exchange& x = *exchange_;
  Exchange::Trace& t = x.trace;
  const Snapshot& snap = *x.snapshot;
  const bool failed = x.final_status == 0 || x.final_status >= 500;
  if (!t.sampled && !(failed && snap.config.tracing.always_sample_errors)) return;
  observe::SpanRing* ring = snap.sinks.span_rings[static_cast<size_t>(worker_.index())];
  const uint64_t now_us = worker_.loop().clock().now_us();
  auto unix_ns = [&](uint64_t loop_us) { return worker_.to_unix_us(loop_us) * 1000; };
  const http::RequestHead& head = x.head;
  char code[8];

  // The server span: the whole exchange as the client saw it.
  observe::Span& s = worker_.span_scratch();
  std::memcpy(s.trace_id, t.trace_id, sizeof(s.trace_id));
  std::memcpy(s.span_id, t.span_id, sizeof(s.span_id));
  if (t.has_parent) {
    std::memcpy(s.parent_span_id, t.parent_id, sizeof(s.parent_span_id));
  } else {
    std::memset(s.parent_span_id, 0, sizeof(s.parent_span_id));
  }
  s.kind = observe::SpanKind::kServer;
  s.start_unix_ns = unix_ns(x.start_us);
  s.end_unix_ns = unix_ns(now_us);
  s.error = failed;
  s.status_code = x.final_status;
  s.method = x.method;
  s.route.assign(x.route != nullptr ? std::string_view(x.route->pattern) : std::string_view());
  s.path.assign(head.path);
  s.query.assign(head.query);
  s.host.assign(split_host_port(head.host, &s.port));
  char ip[64];
  s.client_address.assign(peer_ip(ip, sizeof(ip)));
  s.user_agent.assign(header_value(head, "user-agent"));
  if (x.final_status >= 500) {
    auto [end, ec] = std::to_chars(code, code + sizeof(code), x.final_status);
    s.error_type.assign(code, end);
  } else if (x.final_status == 0) {
    s.error_type.assign("incomplete");
  } else {
    s.error_type.clear();
  }
  s.resend_count = 0;
  s.request_id.assign(x.request_id, x.request_id_len);
  ring->try_push(s);

  // A client span per try, children of the server span.
  std::memcpy(s.parent_span_id, t.span_id, sizeof(s.parent_span_id));
  s.kind = observe::SpanKind::kClient;
  s.route.clear();
  s.client_address.clear();
  s.user_agent.clear();
  for (uint32_t i = 0; i < t.try_count; ++i) {
    const Exchange::Trace::Try& tr = t.tries[i];
    std::memcpy(s.span_id, tr.span_id, sizeof(s.span_id));
    s.start_unix_ns = unix_ns(tr.start_us);
    s.end_unix_ns = unix_ns(tr.end_us != 0 ? tr.end_us : now_us);
    s.status_code = tr.status;
    s.host.assign(split_host_port(tr.target->key, &s.port));
    if (tr.error_type != nullptr) {
      s.error_type.assign(tr.error_type);
    } else if (tr.end_us == 0) {
      s.error_type.assign("cancelled");
    } else if (tr.status >= 500) {
      auto [end, ec] = std::to_chars(code, code + sizeof(code), tr.status);
      s.error_type.assign(code, end);
    } else {
      s.error_type.clear();
    }
    s.error = !s.error_type.empty();
    s.resend_count = i;
    ring->try_push(s);
  }
}

void ClientConnection::write_access_log() {
  Exchange& x = *exchange_;
  const Snapshot& snap = *x.snapshot;
  observe::AccessLogRecord r;
  char trace_id[32];
  char ip[64];
  r.time_unix_us = worker_.to_unix_us(x.start_us);
  r.request_id = std::string_view(x.request_id, x.request_id_len);
  if (x.trace.on) {
    observe::to_hex(x.trace.trace_id, sizeof(x.trace.trace_id), trace_id);
    r.trace_id = std::string_view(trace_id, sizeof(trace_id));
  }
  r.client_address = peer_ip(ip, sizeof(ip));
  r.method = x.head.method_text;
  r.host = x.head.host;
  r.path = logged_target(x);
  if (x.route != nullptr) r.route = x.route->name;
  if (x.call.upstream != nullptr) r.upstream = x.call.upstream->name;
  if (x.call.target != nullptr) r.target = x.call.target->key;
  r.protocol = x.client_http10 ? "HTTP/1.0" : "HTTP/1.1";
  r.status = x.final_status;
  r.bytes_in = x.request_body_bytes;
  r.bytes_out = x.response_bytes;
  r.duration_us = worker_.loop().clock().now_us() - x.start_us;
  if (x.call.tries > 0) {
    r.upstream_connect_us = x.call.connect_us;
    if (x.call.response_us != 0) r.upstream_response_us = static_cast<int64_t>(x.call.response_us);
  }
  r.tries = x.call.tries;
  r.user_agent = header_value(x.head, "user-agent");
  r.referer = header_value(x.head, "referer");
  if (x.error != nullptr) r.error = x.error;
  std::string& line = worker_.log_scratch();
  line.clear();
  snap.access_log_format->format(r, line);
  snap.sinks.access_logs[static_cast<size_t>(worker_.index())]->append(line);
}

void ClientConnection::log_refusal(int status, const char* reason) {
  const Snapshot& snap = *worker_.snapshot();
  if (snap.sinks.access_logs.empty() || !snap.access_log_format) return;
  // The head did not parse (or never came): only what the connection knows is logged.
  observe::AccessLogRecord r;
  char ip[64];
  r.time_unix_us = worker_.to_unix_us(worker_.loop().clock().now_us());
  r.request_id = std::string_view(refusal_id_, sizeof(refusal_id_));
  r.client_address = peer_ip(ip, sizeof(ip));
  r.protocol = "HTTP/1.1";
  r.status = status;
  r.error = reason != nullptr ? reason : "";
  std::string& line = worker_.log_scratch();
  line.clear();
  snap.access_log_format->format(r, line);
  snap.sinks.access_logs[static_cast<size_t>(worker_.index())]->append(line);
}

}  // namespace sluice::proxy
