// W3C Trace Context (level 1) for the gateway: parsing and validating the incoming
// `traceparent` / `tracestate` headers, writing the outgoing `traceparent`, and generating
// trace and span ids. Everything here runs on the data path: no allocation, no exceptions.
// Example:
//   TraceContext ctx;  IdGenerator& ids = worker_ids;  uint8_t span[8];
//   if (!parse_traceparent(header_value, &ctx)) ids.trace_id(ctx.trace_id);  // start a trace
//   ids.span_id(span);
//   char tp[kTraceparentSize];  format_traceparent(ctx.trace_id, span, true, tp);
//   forward_tracestate = valid_tracestate(tracestate_value);
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::observe {

// Length of a version-00 traceparent value ("00-<32 hex>-<16 hex>-<2 hex>").
inline constexpr size_t kTraceparentSize = 55;
// The only trace flag level 1 defines.
inline constexpr uint8_t kTraceFlagSampled = 0x01;

struct TraceContext {
  uint8_t trace_id[16];
  uint8_t parent_id[8];
  uint8_t flags;
};

// True and *out filled when `value` is a valid traceparent. Version 00 must be exactly 55
// characters; a higher version (not ff) is read by its first four fields when it is at least
// 55 characters and character 55, if any, is '-' (forward compatibility). Lowercase hex only;
// all-zero ids are invalid. Leading and trailing spaces and tabs are ignored.
bool parse_traceparent(std::string_view value, TraceContext* out);

// Whether a tracestate value may be forwarded: at most 512 characters and 32 list members,
// each `key=value` with the W3C key grammar (simple-key or tenant@system) and value grammar,
// no key twice. Empty members (",,") and spaces around commas are allowed; a value with no
// member at all is not worth forwarding and returns false.
bool valid_tracestate(std::string_view value);

// Writes "00-<trace id>-<span id>-01" (or "-00" when not sampled) into out; no terminator.
void format_traceparent(const uint8_t trace_id[16], const uint8_t span_id[8], bool sampled,
                        char out[kTraceparentSize]);

// Lowercase hex of n bytes into out[0, 2n); no terminator.
void to_hex(const uint8_t* bytes, size_t n, char* out);
// Decodes 2n lowercase hex characters into n bytes; false (out unspecified) on any other byte.
bool from_hex(const char* hex, size_t n, uint8_t* out);

// Random ids and sampling draws for one thread (not thread-safe: one per worker). xoshiro256**
// seeded from getrandom(): fast and well distributed, not meant to be unpredictable.
class IdGenerator {
 public:
  IdGenerator();                        // seeded from getrandom()
  explicit IdGenerator(uint64_t seed);  // reproducible, for tests and benchmarks

  void trace_id(uint8_t out[16]);  // never all zero
  void span_id(uint8_t out[8]);    // never all zero
  double uniform();                // in [0, 1), for sampling decisions
  uint64_t next();

 private:
  void seed_from(uint64_t seed);
  uint64_t s_[4];
};

}  // namespace sluice::observe
