// Small helpers shared by the files of ClientConnection (client_connection.cc, admission.cc,
// forward.cc, exchange_log.cc).
#pragma once

#include <charconv>
#include <span>
#include <string>
#include <string_view>

#include "core/buffer.h"
#include "http/chunked.h"
#include "proxy/connection.h"

namespace sluice::proxy {

// Returns the bytes appended.
inline size_t append_chunk(core::Buffer& out, core::BufferPool& pool, std::string_view data) {
  char head[24];
  size_t n = http::write_chunk_header(data.size(), head);
  out.append(pool, std::string_view(head, n));
  out.append(pool, data);
  out.append(pool, "\r\n");
  return n + data.size() + 2;
}

inline const char* failure_type(UpstreamFailure kind) {
  switch (kind) {
    case UpstreamFailure::kConnect:
      return "connect_failure";
    case UpstreamFailure::kConnectTimeout:
      return "connect_timeout";
    case UpstreamFailure::kReset:
      return "connection_reset";
    case UpstreamFailure::kTimeout:
      return "timeout";
    case UpstreamFailure::kProtocol:
      return "protocol_error";
  }
  return "error";
}

// "host:port" → host and port (0 when there is none); "[v6]:port" loses its brackets.
inline std::string_view split_host_port(std::string_view hp, uint16_t* port) {
  *port = 0;
  size_t colon = hp.rfind(':');
  if (colon != std::string_view::npos && hp.find(']', colon) == std::string_view::npos) {
    uint16_t p = 0;
    auto [end, ec] = std::from_chars(hp.data() + colon + 1, hp.data() + hp.size(), p);
    if (ec == std::errc() && end == hp.data() + hp.size()) *port = p;
    hp = hp.substr(0, colon);
  }
  if (hp.size() >= 2 && hp.front() == '[' && hp.back() == ']') hp = hp.substr(1, hp.size() - 2);
  return hp;
}

inline std::span<const std::string> owned_headers(const Exchange& x) {
  if (!x.snapshot->security) return {};
  return x.snapshot->security->owned_headers;
}

}  // namespace sluice::proxy
