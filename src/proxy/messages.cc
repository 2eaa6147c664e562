#include "proxy/messages.h"

#include <algorithm>
#include <charconv>

#include "http/chunked.h"
#include "http/header.h"
#include "http/status.h"
#include "observe/trace_context.h"

namespace sluice::proxy {
namespace {

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

void append_number(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

bool starts_with_prefix(std::string_view path, std::string_view prefix) {
  if (prefix.empty() || path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

// Fields removed from every forwarded message, besides those the Connection header names.
bool dropped_on_forward(std::string_view name) {
  switch (name.size()) {
    case 2:
      return http::iequals(name, "te");
    case 6:
      return http::iequals(name, "expect");
    case 7:
      return http::iequals(name, "upgrade") || http::iequals(name, "trailer");
    case 10:
      return http::iequals(name, "connection") || http::iequals(name, "keep-alive");
    case 12:
      return http::iequals(name, "x-request-id");
    case 14:
      return http::iequals(name, "content-length");
    case 15:
      return http::iequals(name, "x-forwarded-for");
    case 16:
      return http::iequals(name, "proxy-connection") || http::iequals(name, "x-forwarded-host");
    case 17:
      return http::iequals(name, "transfer-encoding") || http::iequals(name, "x-forwarded-proto");
    case 18:
      return http::iequals(name, "proxy-authenticate");
    case 19:
      return http::iequals(name, "proxy-authorization");
    default:
      return false;
  }
}

}  // namespace

bool is_hop_by_hop(std::string_view name) {
  return dropped_on_forward(name) && !http::iequals(name, "content-length") &&
         !http::iequals(name, "expect") && !http::iequals(name, "x-request-id") &&
         !http::iequals(name, "x-forwarded-for") && !http::iequals(name, "x-forwarded-host") &&
         !http::iequals(name, "x-forwarded-proto");
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void upstream_target(const http::RequestHead& head, const Route& route,
                     std::string_view normalized_path, std::string& out) {
  if (route.strip_prefix.empty() && route.rewrite_prefix.empty()) {
    out.append(head.path == "*" ? std::string_view("*") : head.path);
  } else {
    std::string_view rest = normalized_path;
    if (starts_with_prefix(rest, route.strip_prefix)) rest.remove_prefix(route.strip_prefix.size());
    std::string_view prefix = route.rewrite_prefix;
    if (!prefix.empty() && prefix.back() == '/' && !rest.empty() && rest.front() == '/') {
      prefix.remove_suffix(1);
    }
    out.append(prefix);
    if (rest.empty() || (rest.front() != '/' && (prefix.empty() || prefix.back() != '/'))) {
      out.push_back('/');
    }
    out.append(rest);
  }
  if (!head.query.empty()) {
    out.push_back('?');
    out.append(head.query);
  }
}

size_t render_upstream_request(const http::RequestHead& head, const Route& route,
                               std::string_view client_ip, std::string_view request_id,
                               std::string_view normalized_path, std::string_view upstream_host,
                               std::string& out, std::string_view traceparent, bool keep_tracestate,
                               bool https, std::span<const std::string> owned,
                               const UpstreamEdits* edits) {
  out.append(head.method_text);
  out.push_back(' ');
  if (edits != nullptr && (edits->path || edits->query)) {
    if (edits->path) {
      out.append(*edits->path);
    } else {
      std::string target;
      upstream_target(head, route, normalized_path, target);
      out.append(std::string_view(target).substr(0, target.find('?')));
    }
    std::string_view q = edits->query ? *edits->query : head.query;
    if (!q.empty()) {
      out.push_back('?');
      out.append(q);
    }
  } else {
    upstream_target(head, route, normalized_path, out);
  }
  out.append(" HTTP/1.1\r\n");
  // Host first: the authority of an absolute-form target replaces any Host field (RFC 9112
  // 3.2.2), and an HTTP/1.0 request without one gets the upstream target's. A filter's host
  // line replaces both.
  std::string_view host = head.host.empty() ? std::string_view(upstream_host) : head.host;
  std::string_view lines = edits != nullptr ? edits->lines : std::string_view();
  size_t host_line = std::string_view::npos;
  size_t host_end = 0;
  if (!lines.empty()) {
    for (size_t at = 0; at < lines.size();) {
      size_t end = lines.find("\r\n", at);
      end = end == std::string_view::npos ? lines.size() : end + 2;
      if (end - at > 5 && http::iequals(lines.substr(at, 5), "host:")) {
        host_line = at;
        host_end = end;
        std::string_view v = lines.substr(at + 5, end - at - 7);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        host = v;
        break;
      }
      at = end;
    }
  }
  out.append("Host: ");
  out.append(host);
  out.append("\r\n");
  std::span<const std::string> dropped =
      edits != nullptr ? edits->dropped : std::span<const std::string>();
  bool has_forwarded_for = false;
  for (const http::Header& h : head.headers) {
    if (dropped_on_forward(h.name)) {
      if (http::iequals(h.name, "x-forwarded-for")) has_forwarded_for = true;
      continue;
    }
    if (h.name.size() == 4 && http::iequals(h.name, "host")) continue;
    if (!traceparent.empty() && (h.name.size() == 11 || h.name.size() == 10)) {
      if (http::iequals(h.name, "traceparent")) continue;
      if (http::iequals(h.name, "tracestate") &&
          (!keep_tracestate || !observe::valid_tracestate(h.value))) {
        continue;
      }
    }
    if (head.has_connection_header && http::connection_has_token(head.headers, h.name)) continue;
    if (std::any_of(owned.begin(), owned.end(),
                    [&](const std::string& o) { return http::iequals(h.name, o); })) {
      continue;  // set by the gateway: a client cannot spoof it
    }
    if (!dropped.empty() && std::any_of(dropped.begin(), dropped.end(), [&](const std::string& o) {
          return http::iequals(h.name, o);
        })) {
      continue;  // removed or replaced by a filter
    }
    append_header(out, h.name, h.value);
  }
  if (host_line == std::string_view::npos) {
    out.append(lines);
  } else {
    out.append(lines.substr(0, host_line));
    out.append(lines.substr(host_end));
  }
  out.append("X-Forwarded-For: ");
  if (has_forwarded_for) {
    // Several X-Forwarded-For lines form one list; the client's address goes last.
    for (const http::Header& h : head.headers) {
      if (http::iequals(h.name, "x-forwarded-for") && !h.value.empty()) {
        out.append(h.value);
        out.append(", ");
      }
    }
  }
  out.append(client_ip);
  out.append("\r\n");
  out.append(https ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
  if (!head.host.empty()) append_header(out, "X-Forwarded-Host", head.host);
  append_header(out, "X-Request-Id", request_id);
  size_t traceparent_at = std::string::npos;
  if (!traceparent.empty()) {
    out.append("traceparent: ");
    traceparent_at = out.size();
    out.append(traceparent);
    out.append("\r\n");
  }
  if (edits != nullptr && edits->body_length) {
    out.append("Content-Length: ");
    append_number(out, *edits->body_length);
    out.append("\r\n");
  } else if (head.body == http::BodyKind::kContentLength) {
    out.append("Content-Length: ");
    append_number(out, head.content_length);
    out.append("\r\n");
  } else if (head.body == http::BodyKind::kChunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  out.append("\r\n");
  return traceparent_at;
}

void render_client_response(const http::ResponseHead& head, std::string_view request_id,
                            ResponseFraming framing, bool close, bool http10_keep_alive,
                            std::string_view extra_headers, std::string& out,
                            const ResponseEdits* edits) {
  std::span<const std::string> dropped =
      edits != nullptr ? edits->dropped : std::span<const std::string>();
  const bool new_body = edits != nullptr && edits->body_length.has_value();
  if (new_body) framing = ResponseFraming::kContentLength;
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<uint64_t>(head.status));
  out.push_back(' ');
  out.append(head.reason.empty() ? http::reason_phrase(head.status) : head.reason);
  out.append("\r\n");
  for (const http::Header& h : head.headers) {
    if (dropped_on_forward(h.name)) {
      // A response without a body (HEAD, 304) keeps the Content-Length the upstream declared;
      // a 204 (or 1xx) must not have one (RFC 9110 8.6).
      if (framing == ResponseFraming::kAsIs && head.status >= 200 && head.status != 204 &&
          http::iequals(h.name, "content-length")) {
        append_header(out, h.name, h.value);
      }
      continue;
    }
    if (head.has_connection_header && http::connection_has_token(head.headers, h.name)) continue;
    if (!dropped.empty() && std::any_of(dropped.begin(), dropped.end(), [&](const std::string& o) {
          return http::iequals(h.name, o);
        })) {
      continue;
    }
    if (edits != nullptr && !edits->dropped_prefix.empty() &&
        h.name.size() >= edits->dropped_prefix.size() &&
        http::iequals(h.name.substr(0, edits->dropped_prefix.size()), edits->dropped_prefix)) {
      continue;
    }
    append_header(out, h.name, h.value);
  }
  append_header(out, "X-Request-Id", request_id);
  out.append(extra_headers);
  if (framing == ResponseFraming::kContentLength) {
    out.append("Content-Length: ");
    append_number(out, new_body ? *edits->body_length : head.content_length);
    out.append("\r\n");
  } else if (framing == ResponseFraming::kChunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  if (close) {
    out.append("Connection: close\r\n");
  } else if (http10_keep_alive) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

std::string_view hash_source(const config::HashKeyConfig& key, const http::RequestHead& head,
                             std::string_view client_ip, std::string_view normalized_path) {
  switch (key.source) {
    case config::HashKeyConfig::Source::kClientIp:
      return client_ip;
    case config::HashKeyConfig::Source::kHeader: {
      const http::Header* h = http::find_header(head.headers, key.name);
      return h != nullptr ? h->value : std::string_view();
    }
    case config::HashKeyConfig::Source::kCookie:
      return http::cookie_value(head.headers, key.name);
    case config::HashKeyConfig::Source::kPath:
      return normalized_path;
    case config::HashKeyConfig::Source::kQuery:
      return http::query_param(head.query, key.name);
  }
  return client_ip;
}

std::string error_body(int status, std::string_view reason) {
  std::string body = "{\"status\":";
  append_number(body, static_cast<uint64_t>(status));
  body.append(",\"error\":\"");
  for (char c : reason) {
    if (c == '"' || c == '\\') body.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) body.push_back(c);
  }
  body.append("\"}\n");
  return body;
}

}  // namespace sluice::proxy
