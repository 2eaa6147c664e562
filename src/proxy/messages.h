// Rendering of the heads the gateway sends: the request head for an upstream (hop-by-hop headers
// removed, X-Forwarded-* and X-Request-Id set, framing re-declared) and the response head for a
// client, plus the gateway's own JSON error answers.
// Example:
//   render_upstream_request(head, route, "10.0.0.7", id, norm_path, out);
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/request_parser.h"
#include "http/response_parser.h"
#include "proxy/snapshot.h"

namespace sluice::proxy {

// Connection-level fields a proxy must not forward (RFC 9110 7.6.1), and the ones the gateway
// sets itself.
bool is_hop_by_hop(std::string_view name);

// 1..128 of [A-Za-z0-9._:-]
bool valid_request_id(std::string_view id);

// Path (and query) the upstream receives: the original target unless the route strips or
// rewrites a prefix, which then applies to the normalised path.
void upstream_target(const http::RequestHead& head, const Route& route,
                     std::string_view normalized_path, std::string& out);

// traceparent: empty when the gateway does not trace (the client's trace headers pass through);
// otherwise the gateway's own value replaces the client's, and the client's tracestate is kept
// only when keep_tracestate and valid. Returns the offset of the traceparent value in `out`, or
// npos.
// https: the client came over TLS (X-Forwarded-Proto).
// owned: header names (lower-case) the gateway sets itself (the auth filter's x-consumer and
// forwarded claims, added as the edits' lines): the client's copies are dropped.
// What the route's filters changed: a new path or query, dropped header names, added lines
// ("name: value\r\n"…; a "host" line becomes the Host field), and a replaced body's length.
struct UpstreamEdits {
  std::optional<std::string_view> path;   // replaces the route's strip/rewrite result
  std::optional<std::string_view> query;  // "" drops the query
  std::span<const std::string> dropped;
  std::string_view lines;
  std::optional<uint64_t> body_length;  // the body was replaced: Content-Length, not chunked
};

size_t render_upstream_request(const http::RequestHead& head, const Route& route,
                               std::string_view client_ip, std::string_view request_id,
                               std::string_view normalized_path, std::string_view upstream_host,
                               std::string& out, std::string_view traceparent = {},
                               bool keep_tracestate = false, bool https = false,
                               std::span<const std::string> owned = {},
                               const UpstreamEdits* edits = nullptr);

enum class ResponseFraming : uint8_t { kAsIs, kContentLength, kChunked, kClose };

// What the route's filters changed in a response (security headers, CORS and the route's
// response edits): dropped header names and a dropped prefix (their lines come with
// extra_headers), and a replaced body's length.
struct ResponseEdits {
  std::span<const std::string> dropped;
  std::string_view dropped_prefix;  // every field whose name starts with it (lower-case)
  std::optional<uint64_t> body_length;
};

// extra_headers: complete header lines ("Name: value\r\n") the gateway adds (Set-Cookie,
// RateLimit-*, the filters' lines).
void render_client_response(const http::ResponseHead& head, std::string_view request_id,
                            ResponseFraming framing, bool close, bool http10_keep_alive,
                            std::string_view extra_headers, std::string& out,
                            const ResponseEdits* edits = nullptr);

// The bytes consistent hashing keys on, per the upstream's hash_key.
std::string_view hash_source(const config::HashKeyConfig& key, const http::RequestHead& head,
                             std::string_view client_ip, std::string_view normalized_path);

// {"status":404,"error":"no route"}
std::string error_body(int status, std::string_view reason);

}  // namespace sluice::proxy
