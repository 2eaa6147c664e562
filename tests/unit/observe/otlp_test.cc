#include "observe/otlp.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "observe/trace_context.h"

namespace sluice::observe {
namespace {

// A minimal protobuf reader for the test: a message is a list of fields; length-delimited
// values stay raw so that the test decides which ones are nested messages.
struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t num = 0;      // varint / fixed64
  std::string_view raw;  // length-delimited
};

bool read_varint(std::string_view& in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    auto b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    *v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

std::vector<Field> parse(std::string_view in) {
  std::vector<Field> out;
  while (!in.empty()) {
    uint64_t key;
    Field f;
    if (!read_varint(in, &key)) {
      ADD_FAILURE() << "bad key";
      return out;
    }
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = static_cast<uint32_t>(key & 7);
    if (f.wire == 0) {
      EXPECT_TRUE(read_varint(in, &f.num));
    } else if (f.wire == 1) {
      EXPECT_GE(in.size(), 8u);
      std::memcpy(&f.num, in.data(), 8);  // the test host is little-endian
      in.remove_prefix(8);
    } else if (f.wire == 2) {
      uint64_t len;
      EXPECT_TRUE(read_varint(in, &len));
      EXPECT_LE(len, in.size());
      f.raw = in.substr(0, len);
      in.remove_prefix(len);
    } else {
      ADD_FAILURE() << "unexpected wire type " << f.wire;
      return out;
    }
    out.push_back(f);
  }
  return out;
}

std::vector<Field> all(std::string_view msg, uint32_t number) {
  std::vector<Field> out;
  for (const Field& f : parse(msg)) {
    if (f.number == number) out.push_back(f);
  }
  return out;
}

const Field* one(const std::vector<Field>& fields, uint32_t number) {
  const Field* found = nullptr;
  for (const Field& f : fields) {
    if (f.number == number) {
      EXPECT_EQ(found, nullptr) << "field " << number << " twice";
      found = &f;
    }
  }
  return found;
}

using AttrValue = std::variant<std::string, int64_t>;

// repeated KeyValue (field `number` of msg) as a map; checks no key repeats.
std::map<std::string, AttrValue> attributes(std::string_view msg, uint32_t number) {
  std::map<std::string, AttrValue> out;
  for (const Field& kv : all(msg, number)) {
    auto fields = parse(kv.raw);
    const Field* key = one(fields, 1);
    const Field* value = one(fields, 2);
    if (key == nullptr || value == nullptr) {
      ADD_FAILURE() << "KeyValue without key or value";
      continue;
    }
    auto any = parse(value->raw);
    EXPECT_EQ(any.size(), 1u);
    AttrValue v;
    if (any[0].number == 1 && any[0].wire == 2) {
      v = std::string(any[0].raw);
    } else if (any[0].number == 3 && any[0].wire == 0) {
      v = static_cast<int64_t>(any[0].num);
    } else {
      ADD_FAILURE() << "unexpected AnyValue field " << any[0].number;
    }
    EXPECT_TRUE(out.emplace(std::string(key->raw), v).second) << key->raw;
  }
  return out;
}

std::string bytes_of(const uint8_t* p, size_t n) {
  return std::string(reinterpret_cast<const char*>(p), n);
}

Span server_span() {
  Span s;
  IdGenerator ids(1);
  ids.trace_id(s.trace_id);
  ids.span_id(s.span_id);
  s.kind = SpanKind::kServer;
  s.start_unix_ns = 1700000000123456789ULL;
  s.end_unix_ns = 1700000000223456789ULL;
  s.status_code = 200;
  s.method = http::Method::kGet;
  s.route = "users";
  s.path = "/users/7";
  s.query = "expand=1";
  s.host = "api.example.com";
  s.port = 8080;
  s.client_address = "10.0.0.9";
  s.user_agent = "curl/8.0";
  s.request_id = "req-1";
  return s;
}

Span client_span(const Span& parent) {
  Span s;
  std::memcpy(s.trace_id, parent.trace_id, 16);
  std::memcpy(s.parent_span_id, parent.span_id, 8);
  IdGenerator ids(2);
  ids.span_id(s.span_id);
  s.kind = SpanKind::kClient;
  s.start_unix_ns = parent.start_unix_ns + 1000;
  s.end_unix_ns = parent.end_unix_ns - 1000;
  s.error = true;
  s.status_code = 502;
  s.method = http::Method::kGet;
  s.path = "/users/7";
  s.host = "10.1.2.3";
  s.port = 9000;
  s.error_type = "502";
  s.resend_count = 2;
  return s;
}

struct Decoded {
  std::map<std::string, AttrValue> resource;
  std::string scope_name, scope_version;
  std::vector<std::vector<Field>> spans;
  std::vector<std::string> span_raw;
};

Decoded decode(std::string_view body) {
  Decoded d;
  auto rs = all(body, 1);
  EXPECT_EQ(rs.size(), 1u);
  if (rs.empty()) return d;
  auto rs_fields = parse(rs[0].raw);
  const Field* resource = one(rs_fields, 1);
  EXPECT_NE(resource, nullptr);
  if (resource != nullptr) d.resource = attributes(resource->raw, 1);
  auto ss = all(rs[0].raw, 2);
  EXPECT_EQ(ss.size(), 1u);
  if (ss.empty()) return d;
  auto ss_fields = parse(ss[0].raw);
  const Field* scope = one(ss_fields, 1);
  EXPECT_NE(scope, nullptr);
  if (scope != nullptr) {
    auto sf = parse(scope->raw);
    if (const Field* f = one(sf, 1)) d.scope_name = std::string(f->raw);
    if (const Field* f = one(sf, 2)) d.scope_version = std::string(f->raw);
  }
  for (const Field& f : ss_fields) {
    if (f.number == 2) {
      d.spans.push_back(parse(f.raw));
      d.span_raw.emplace_back(f.raw);
    }
  }
  return d;
}

std::string str(const std::vector<Field>& fields, uint32_t n) {
  const Field* f = one(fields, n);
  return f ? std::string(f->raw) : std::string("<missing>");
}

TEST(Otlp, EncodesResourceScopeAndServerSpan) {
  OtlpResource res{.service_name = "edge", .service_version = "1.2.3", .host_name = "gw-1"};
  Span s = server_span();
  std::string body;
  encode_export_trace_request(res, &s, 1, body);
  Decoded d = decode(body);

  EXPECT_EQ(std::get<std::string>(d.resource["service.name"]), "edge");
  EXPECT_EQ(std::get<std::string>(d.resource["service.version"]), "1.2.3");
  EXPECT_EQ(std::get<std::string>(d.resource["host.name"]), "gw-1");
  EXPECT_EQ(std::get<std::string>(d.resource["telemetry.sdk.name"]), "sluice");
  EXPECT_EQ(d.scope_name, "sluice");
  EXPECT_EQ(d.scope_version, "1.2.3");

  ASSERT_EQ(d.spans.size(), 1u);
  const auto& f = d.spans[0];
  EXPECT_EQ(str(f, 1), bytes_of(s.trace_id, 16));
  EXPECT_EQ(str(f, 2), bytes_of(s.span_id, 8));
  EXPECT_EQ(one(f, 4), nullptr) << "a root span has no parent_span_id";
  EXPECT_EQ(str(f, 5), "GET users");
  ASSERT_NE(one(f, 6), nullptr);
  EXPECT_EQ(one(f, 6)->num, 2u);
  ASSERT_NE(one(f, 7), nullptr);
  EXPECT_EQ(one(f, 7)->wire, 1u);
  EXPECT_EQ(one(f, 7)->num, s.start_unix_ns);
  EXPECT_EQ(one(f, 8)->num, s.end_unix_ns);
  EXPECT_EQ(one(f, 15), nullptr) << "no status when not an error";

  auto a = attributes(d.span_raw[0], 9);
  std::map<std::string, AttrValue> want = {
      {"http.request.method", std::string("GET")},
      {"url.path", std::string("/users/7")},
      {"url.query", std::string("expand=1")},
      {"url.scheme", std::string("http")},
      {"http.route", std::string("users")},
      {"http.response.status_code", int64_t{200}},
      {"server.address", std::string("api.example.com")},
      {"server.port", int64_t{8080}},
      {"client.address", std::string("10.0.0.9")},
      {"network.protocol.version", std::string("1.1")},
      {"user_agent.original", std::string("curl/8.0")},
      {"sluice.request_id", std::string("req-1")},
  };
  EXPECT_EQ(a, want);
}

TEST(Otlp, EncodesClientSpanWithErrorStatus) {
  Span parent = server_span();
  Span s = client_span(parent);
  std::string body;
  encode_export_trace_request(OtlpResource{}, &s, 1, body);
  Decoded d = decode(body);
  EXPECT_EQ(std::get<std::string>(d.resource["service.name"]), "sluice");
  EXPECT_EQ(d.resource.count("service.version"), 0u);
  ASSERT_EQ(d.spans.size(), 1u);
  const auto& f = d.spans[0];
  EXPECT_EQ(str(f, 4), bytes_of(parent.span_id, 8));
  EXPECT_EQ(str(f, 5), "GET");
  EXPECT_EQ(one(f, 6)->num, 3u);
  const Field* status = one(f, 15);
  ASSERT_NE(status, nullptr);
  auto sf = parse(status->raw);
  EXPECT_EQ(str(sf, 2), "502");
  ASSERT_NE(one(sf, 3), nullptr);
  EXPECT_EQ(one(sf, 3)->num, 2u);

  auto a = attributes(d.span_raw[0], 9);
  std::map<std::string, AttrValue> want = {
      {"http.request.method", std::string("GET")},
      {"server.address", std::string("10.1.2.3")},
      {"server.port", int64_t{9000}},
      {"url.full", std::string("http://10.1.2.3:9000/users/7")},
      {"http.response.status_code", int64_t{502}},
      {"http.request.resend_count", int64_t{2}},
      {"error.type", std::string("502")},
  };
  EXPECT_EQ(a, want);
}

TEST(Otlp, OptionalAttributesAndOtherMethod) {
  Span s = server_span();
  s.route.clear();
  s.query.clear();
  s.status_code = 0;
  s.port = 0;
  s.user_agent.clear();
  s.request_id.clear();
  s.method = http::Method::kOther;
  s.error = true;
  s.error_type = "timeout";
  std::string body;
  encode_export_trace_request(OtlpResource{}, &s, 1, body);
  Decoded d = decode(body);
  ASSERT_EQ(d.spans.size(), 1u);
  EXPECT_EQ(str(d.spans[0], 5), "HTTP");
  auto a = attributes(d.span_raw[0], 9);
  EXPECT_EQ(std::get<std::string>(a["http.request.method"]), "_OTHER");
  EXPECT_EQ(std::get<std::string>(a["error.type"]), "timeout");
  for (const char* k : {"url.query", "http.route", "http.response.status_code", "server.port",
                        "user_agent.original", "sluice.request_id"}) {
    EXPECT_EQ(a.count(k), 0u) << k;
  }
}

// Lengths that need more bytes than the encoder guesses (long strings, many spans) and fewer
// (an empty batch) must still produce exact, minimal lengths.
TEST(Otlp, LengthsOfEverySize) {
  for (size_t len : {0u, 1u, 100u, 127u, 128u, 200u, 16383u, 16384u, 70000u}) {
    Span s = server_span();
    s.path = "/" + std::string(len, 'p');
    s.route = std::string(len, 'r');
    std::string body;
    encode_export_trace_request(OtlpResource{}, &s, 1, body);
    Decoded d = decode(body);
    ASSERT_EQ(d.spans.size(), 1u) << len;
    auto a = attributes(d.span_raw[0], 9);
    EXPECT_EQ(std::get<std::string>(a["url.path"]).size(), len + 1);
    EXPECT_EQ(str(d.spans[0], 5).size(), len == 0 ? 3 : 4 + len);  // "GET" without a route
  }
  std::string body;
  encode_export_trace_request(OtlpResource{}, nullptr, 0, body);
  Decoded d = decode(body);
  EXPECT_TRUE(d.spans.empty());

  std::vector<Span> many(3000, server_span());
  for (size_t i = 0; i < many.size(); ++i) many[i].start_unix_ns = i;
  encode_export_trace_request(OtlpResource{}, many.data(), many.size(), body);
  d = decode(body);
  ASSERT_EQ(d.spans.size(), many.size());
  EXPECT_EQ(one(d.spans[2999], 7)->num, 2999u);
}

// Writes an encoded request (a server span and its client child) to $SLUICE_OTLP_DUMP, for the
// integration test that decodes it with the OpenTelemetry JS definitions
// (tests/integration/test_31_otlp_receiver.py). A no-op without the variable.
TEST(Otlp, DumpForIntegrationTest) {
  const char* path = std::getenv("SLUICE_OTLP_DUMP");
  if (path == nullptr || *path == '\0') GTEST_SKIP() << "SLUICE_OTLP_DUMP not set";
  Span spans[2] = {server_span(), {}};
  spans[1] = client_span(spans[0]);
  OtlpResource res{.service_name = "sluice-test", .service_version = "0.1.0", .host_name = "h1"};
  std::string body;
  encode_export_trace_request(res, spans, 2, body);
  std::ofstream out(path, std::ios::binary);
  out.write(body.data(), static_cast<std::streamsize>(body.size()));
  ASSERT_TRUE(out.good());
}

}  // namespace
}  // namespace sluice::observe
