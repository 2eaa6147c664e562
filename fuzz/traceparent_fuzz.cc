// Fuzz target for W3C trace context parsing: parse_traceparent and valid_tracestate on any
// bytes. No crash, no out-of-bounds access, and:
//   - a parsed version-00 value formats back to exactly the (trimmed) input when its flags are
//     00 or 01 (the only flags format_traceparent writes);
//   - a parsed value never has an all-zero trace id or parent id;
//   - an accepted tracestate is at most 512 bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "observe/trace_context.h"

using namespace sluice::observe;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  TraceContext ctx;
  if (parse_traceparent(in, &ctx)) {
    check(!all_zero(ctx.trace_id, 16) && !all_zero(ctx.parent_id, 8));
    std::string_view t = trim(in);
    if (t.substr(0, 2) == "00" && ctx.flags <= 1) {
      char out[kTraceparentSize];
      format_traceparent(ctx.trace_id, ctx.parent_id, ctx.flags == 1, out);
      check(t == std::string_view(out, sizeof(out)));
    }
  }
  if (valid_tracestate(in)) check(size <= 512);
  return 0;
}
