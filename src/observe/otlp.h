// OTLP/HTTP protobuf encoding of finished spans: builds the bytes of an
// opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest (one ResourceSpans, one
// ScopeSpans "sluice") with HTTP semantic-convention attributes, ready to POST to a collector's
// /v1/traces. Hand-written because the wire format is small and a generated-code dependency
// would cost more than it saves; `out` is reused between batches so encoding allocates only
// while it grows.
// Example:
//   OtlpResource res{.service_name = "edge", .service_version = "0.1.0", .host_name = "gw-1"};
//   std::string body;  encode_export_trace_request(res, batch.data(), batch.size(), body);
#pragma once

#include <cstddef>
#include <string>

#include "observe/span.h"

namespace sluice::observe {

struct OtlpResource {
  std::string service_name = "sluice";
  std::string service_version;  // also the instrumentation scope's version
  std::string host_name;
};

// Replaces `out` with the encoded request (its capacity is kept).
void encode_export_trace_request(const OtlpResource& resource, const Span* spans, size_t n,
                                 std::string& out);

}  // namespace sluice::observe
