// One finished span as a worker records it for export: a plain value type holding just what
// the OTLP encoder (otlp.h) turns into a span with HTTP semantic-convention attributes. Workers
// fill one per sampled exchange and push it into their SpanRing, which copy-assigns it into a
// pre-built slot, so the strings' capacity is reused and steady-state pushes do not allocate.
// Example:
//   Span s;  std::memcpy(s.trace_id, ctx.trace_id, 16);  ids.span_id(s.span_id);
//   s.kind = SpanKind::kServer;  s.start_unix_ns = t0;  s.end_unix_ns = t1;
//   s.method = http::Method::kGet;  s.route = "users";  s.path = "/users/7";  s.status_code = 200;
//   ring.try_push(s);
#pragma once

#include <cstdint>
#include <string>

#include "http/method.h"

namespace sluice::observe {

// Values as in OTLP's Span.SpanKind, so the encoder writes them as they are.
enum class SpanKind : uint8_t { kServer = 2, kClient = 3 };

struct Span {
  uint8_t trace_id[16] = {};
  uint8_t span_id[8] = {};
  uint8_t parent_span_id[8] = {};  // all zero: a root span
  SpanKind kind = SpanKind::kServer;
  uint64_t start_unix_ns = 0;
  uint64_t end_unix_ns = 0;
  bool error = false;
  int status_code = 0;  // HTTP status; 0 = none (no response)
  http::Method method = http::Method::kGet;
  std::string route;           // http.route: the route's name or pattern
  std::string path;            // url.path, without the query
  std::string query;           // url.query, without '?'; may be empty
  std::string host;            // server: request Host without port; client: the target host
  uint16_t port = 0;           // server.port
  std::string client_address;  // client.address
  std::string user_agent;
  std::string error_type;     // "timeout", "connect_failure", "502", …; empty = none
  uint32_t resend_count = 0;  // client spans: retries before this attempt
  std::string request_id;
};

}  // namespace sluice::observe
