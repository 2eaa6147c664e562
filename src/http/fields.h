// Field-line parsing shared by the request and response parsers: splits the field section of a
// complete head into Header views and collects the fields that decide framing and connection
// handling. Internal to src/http/.
// Example: FieldSummary s; if (const char* err = parse_field_lines(p, end, headers, s)) fail(err);
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "http/header.h"

namespace sluice::http {

struct FieldSummary {
  std::string_view host;  // value of the first Host field
  uint32_t host_count = 0;
  uint32_t content_length_count = 0;  // Content-Length fields (all with the same value)
  uint64_t content_length = 0;
  uint32_t transfer_encoding_count = 0;
  std::string_view transfer_encoding;  // value of the first Transfer-Encoding field
  bool has_connection = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool expect_continue = false;   // Expect: 100-continue
  uint32_t underscore_names = 0;  // field names with an '_'
};

// Parses the field lines that start at `p` and end with the empty line whose LF is end[-1].
// The caller has checked that every LF in [p, end) follows a CR and that the first empty line
// is the one at the end. Appends to `out`. Returns nullptr, or a static error reason.
const char* parse_field_lines(const char* p, const char* end, std::vector<Header>& out,
                              FieldSummary& summary);

// A Content-Length value: 1*DIGIT, or a list of such values that are all equal ("5, 5"), below
// 2^63. Returns false for anything else.
bool parse_content_length(std::string_view value, uint64_t* out);

// host [":" port] as in a Host field or an absolute-form target: reg-name / IPv4 / IP-literal,
// port of 1 to 5 digits; no userinfo, path, spaces, controls or commas.
bool is_valid_authority(std::string_view authority);

}  // namespace sluice::http
