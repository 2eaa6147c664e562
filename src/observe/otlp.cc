#include "observe/otlp.h"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "http/method.h"

namespace sluice::observe {

namespace {

// Field numbers from opentelemetry-proto (collector/trace/v1/trace_service.proto,
// trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto).
namespace field {
constexpr uint32_t kRequestResourceSpans = 1;
constexpr uint32_t kResourceSpansResource = 1;
constexpr uint32_t kResourceSpansScopeSpans = 2;
constexpr uint32_t kResourceAttributes = 1;
constexpr uint32_t kScopeSpansScope = 1;
constexpr uint32_t kScopeSpansSpans = 2;
constexpr uint32_t kScopeName = 1;
constexpr uint32_t kScopeVersion = 2;
constexpr uint32_t kSpanTraceId = 1;
constexpr uint32_t kSpanSpanId = 2;
constexpr uint32_t kSpanParentSpanId = 4;
constexpr uint32_t kSpanName = 5;
constexpr uint32_t kSpanKind = 6;
constexpr uint32_t kSpanStartTime = 7;
constexpr uint32_t kSpanEndTime = 8;
constexpr uint32_t kSpanAttributes = 9;
constexpr uint32_t kSpanStatus = 15;
constexpr uint32_t kStatusMessage = 2;
constexpr uint32_t kStatusCode = 3;
constexpr uint32_t kKeyValueKey = 1;
constexpr uint32_t kKeyValueValue = 2;
constexpr uint32_t kAnyValueString = 1;
constexpr uint32_t kAnyValueInt = 3;
}  // namespace field

constexpr uint32_t kWireVarint = 0;
constexpr uint32_t kWireFixed64 = 1;
constexpr uint32_t kWireLengthDelimited = 2;
constexpr uint64_t kStatusCodeError = 2;

constexpr std::string_view kScopeName = "sluice";

size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Appends protobuf wire data to a string. Nested messages are written in place: open() writes
// the tag and reserves a guessed number of bytes for the length, close() writes the length and,
// when the guess was wrong, shifts the message (rare: the guesses fit typical sizes).
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void varint(uint64_t v) {
    char buf[10];
    size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    out_.append(buf, n);
  }
  void tag(uint32_t field, uint32_t wire) { varint((uint64_t{field} << 3) | wire); }

  void bytes_field(uint32_t f, const void* data, size_t n) {
    tag(f, kWireLengthDelimited);
    varint(n);
    out_.append(static_cast<const char*>(data), n);
  }
  void string_field(uint32_t f, std::string_view s) { bytes_field(f, s.data(), s.size()); }
  void varint_field(uint32_t f, uint64_t v) {
    tag(f, kWireVarint);
    varint(v);
  }
  void fixed64_field(uint32_t f, uint64_t v) {
    tag(f, kWireFixed64);
    char buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));  // little-endian
    out_.append(buf, 8);
  }

  struct Open {
    size_t length_at;
    size_t reserved;
  };
  Open open(uint32_t f, size_t guess_bytes) {
    tag(f, kWireLengthDelimited);
    Open o{out_.size(), guess_bytes};
    out_.append(guess_bytes, '\0');
    return o;
  }
  void close(Open o) {
    size_t body_at = o.length_at + o.reserved;
    size_t len = out_.size() - body_at;
    size_t need = varint_size(len);
    if (need > o.reserved) {
      out_.resize(out_.size() + (need - o.reserved));
      std::memmove(out_.data() + o.length_at + need, out_.data() + body_at, len);
    } else if (need < o.reserved) {
      std::memmove(out_.data() + o.length_at + need, out_.data() + body_at, len);
      out_.resize(out_.size() - (o.reserved - need));
    }
    char* p = out_.data() + o.length_at;
    while (len >= 0x80) {
      *p++ = static_cast<char>((len & 0x7f) | 0x80);
      len >>= 7;
    }
    *p = static_cast<char>(len);
  }

  // KeyValue{key, AnyValue{string_value}}; both lengths are guessed to fit one byte.
  void attr(uint32_t f, std::string_view key, std::string_view value) {
    Open kv = open(f, 1);
    string_field(field::kKeyValueKey, key);
    Open any = open(field::kKeyValueValue, 1);
    string_field(field::kAnyValueString, value);
    close(any);
    close(kv);
  }
  void attr(uint32_t f, std::string_view key, int64_t value) {
    Open kv = open(f, 1);
    string_field(field::kKeyValueKey, key);
    Open any = open(field::kKeyValueValue, 1);
    varint_field(field::kAnyValueInt, static_cast<uint64_t>(value));  // int64: two's complement
    close(any);
    close(kv);
  }

  std::string& out() { return out_; }

 private:
  std::string& out_;
};

// Semantic conventions: a method the instrumentation does not know is reported as "_OTHER"
// (attribute) and "HTTP" (span name).
std::string_view method_attr(http::Method m) {
  return m == http::Method::kOther ? std::string_view("_OTHER") : http::method_name(m);
}
std::string_view method_for_name(http::Method m) {
  return m == http::Method::kOther ? std::string_view("HTTP") : http::method_name(m);
}

bool all_zero(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

void encode_span(Writer& w, const Span& s, std::string& scratch) {
  // Two bytes of length fit spans up to 16 KiB, which covers all but huge URLs.
  Writer::Open span = w.open(field::kScopeSpansSpans, 2);
  w.bytes_field(field::kSpanTraceId, s.trace_id, 16);
  w.bytes_field(field::kSpanSpanId, s.span_id, 8);
  if (!all_zero(s.parent_span_id, 8)) w.bytes_field(field::kSpanParentSpanId, s.parent_span_id, 8);

  std::string_view method = method_for_name(s.method);
  if (s.kind == SpanKind::kServer && !s.route.empty()) {
    Writer::Open name = w.open(field::kSpanName, 1);
    w.out().append(method);
    w.out().push_back(' ');
    w.out().append(s.route);
    w.close(name);
  } else {
    w.string_field(field::kSpanName, method);
  }
  w.varint_field(field::kSpanKind, static_cast<uint64_t>(s.kind));
  w.fixed64_field(field::kSpanStartTime, s.start_unix_ns);
  w.fixed64_field(field::kSpanEndTime, s.end_unix_ns);

  constexpr uint32_t a = field::kSpanAttributes;
  w.attr(a, "http.request.method", method_attr(s.method));
  if (s.kind == SpanKind::kServer) {
    w.attr(a, "url.path", s.path);
    if (!s.query.empty()) w.attr(a, "url.query", s.query);
    w.attr(a, "url.scheme", "http");
    if (!s.route.empty()) w.attr(a, "http.route", s.route);
    if (s.status_code != 0) w.attr(a, "http.response.status_code", int64_t{s.status_code});
    w.attr(a, "server.address", s.host);
    if (s.port != 0) w.attr(a, "server.port", int64_t{s.port});
    w.attr(a, "client.address", s.client_address);
    w.attr(a, "network.protocol.version", "1.1");
    if (!s.user_agent.empty()) w.attr(a, "user_agent.original", s.user_agent);
    if (!s.error_type.empty()) w.attr(a, "error.type", s.error_type);
    if (!s.request_id.empty()) w.attr(a, "sluice.request_id", s.request_id);
  } else {
    w.attr(a, "server.address", s.host);
    w.attr(a, "server.port", int64_t{s.port});
    scratch.assign("http://");
    bool ipv6 = s.host.find(':') != std::string::npos;
    if (ipv6) scratch.push_back('[');
    scratch.append(s.host);
    if (ipv6) scratch.push_back(']');
    scratch.push_back(':');
    char port[8];
    auto [end, ec] = std::to_chars(port, port + sizeof(port), s.port);
    (void)ec;  // a uint16_t always fits
    scratch.append(port, end);
    scratch.append(s.path);
    if (!s.query.empty()) {
      scratch.push_back('?');
      scratch.append(s.query);
    }
    w.attr(a, "url.full", scratch);
    if (s.status_code != 0) w.attr(a, "http.response.status_code", int64_t{s.status_code});
    if (s.resend_count > 0) w.attr(a, "http.request.resend_count", int64_t{s.resend_count});
    if (!s.error_type.empty()) w.attr(a, "error.type", s.error_type);
  }

  if (s.error) {
    Writer::Open status = w.open(field::kSpanStatus, 1);
    if (!s.error_type.empty()) w.string_field(field::kStatusMessage, s.error_type);
    w.varint_field(field::kStatusCode, kStatusCodeError);
    w.close(status);
  }
  w.close(span);
}

}  // namespace

void encode_export_trace_request(const OtlpResource& resource, const Span* spans, size_t n,
                                 std::string& out) {
  out.clear();
  Writer w(out);
  // Three bytes of length cover 2 MiB, a batch of ~500 typical spans with room to spare.
  Writer::Open rs = w.open(field::kRequestResourceSpans, 3);

  Writer::Open res = w.open(field::kResourceSpansResource, 1);
  constexpr uint32_t ra = field::kResourceAttributes;
  w.attr(ra, "service.name", resource.service_name);
  if (!resource.service_version.empty()) w.attr(ra, "service.version", resource.service_version);
  if (!resource.host_name.empty()) w.attr(ra, "host.name", resource.host_name);
  w.attr(ra, "telemetry.sdk.name", "sluice");
  w.attr(ra, "telemetry.sdk.language", "cpp");
  if (!resource.service_version.empty()) {
    w.attr(ra, "telemetry.sdk.version", resource.service_version);
  }
  w.close(res);

  Writer::Open ss = w.open(field::kResourceSpansScopeSpans, 3);
  Writer::Open scope = w.open(field::kScopeSpansScope, 1);
  w.string_field(field::kScopeName, kScopeName);
  if (!resource.service_version.empty()) {
    w.string_field(field::kScopeVersion, resource.service_version);
  }
  w.close(scope);
  std::string scratch;  // url.full of client spans; small enough for the SSO in most cases
  for (size_t i = 0; i < n; ++i) encode_span(w, spans[i], scratch);
  w.close(ss);
  w.close(rs);
}

}  // namespace sluice::observe
