// Fuzz target for the access-log format compiler and formatter (src/observe/access_log.h).
// Input: the format spec, then NUL-separated record fields (request_id, trace_id, client,
// method, host, path, route, upstream, target, protocol, user_agent, referer, error), then the
// remaining bytes as the record's numbers. No crash, no sanitizer report, and:
//   - compile() gives a format or a non-empty error; "json" and "" are JSON formats;
//   - every line ends in exactly one '\n' and holds no other '\n' or '\r' (a client cannot split
//     a line), and formatting twice appends the same line twice;
//   - a template line holds as many '"' as the template's literal text (a value cannot close a
//     quoted field), and each string variable alone, unescaped (\xHH), gives back its value, or
//     "-" for an empty one;
//   - a JSON line is one JSON object with every field; each string field that is valid UTF-8
//     reads back as the value itself, and the numbers as the record's.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "observe/access_log.h"

using sluice::observe::AccessLogFormat;
using sluice::observe::AccessLogRecord;

namespace {

struct StringField {
  const char* name;
  std::string_view AccessLogRecord::*member;
};

constexpr StringField kStrings[] = {
    {"request_id", &AccessLogRecord::request_id},
    {"trace_id", &AccessLogRecord::trace_id},
    {"client", &AccessLogRecord::client_address},
    {"method", &AccessLogRecord::method},
    {"host", &AccessLogRecord::host},
    {"path", &AccessLogRecord::path},
    {"route", &AccessLogRecord::route},
    {"upstream", &AccessLogRecord::upstream},
    {"target", &AccessLogRecord::target},
    {"protocol", &AccessLogRecord::protocol},
    {"user_agent", &AccessLogRecord::user_agent},
    {"referer", &AccessLogRecord::referer},
    {"error", &AccessLogRecord::error},
};

uint64_t take_u64(std::string_view& rest) {
  uint64_t v = 0;
  const size_t n = std::min<size_t>(rest.size(), 8);
  if (n != 0) std::memcpy(&v, rest.data(), n);
  rest.remove_prefix(n);
  return v;
}

bool valid_utf8(std::string_view s) {
  try {
    (void)nlohmann::json(std::string(s)).dump();  // dump() throws on invalid UTF-8
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 2, 2)), nullptr, 16)));
      i += 3;
    } else {
      CHECK(s[i] != '\\' && s[i] != '"' && static_cast<unsigned char>(s[i]) >= 0x20 &&
            s[i] != 0x7f);
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string format_line(const AccessLogFormat& f, const AccessLogRecord& r) {
  std::string line;
  f.format(r, line);
  CHECK(!line.empty() && line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1 && line.find('\r') == std::string::npos);
  std::string twice = line;
  f.format(r, twice);
  CHECK(twice == line + line);
  return line;
}

void check_json(const std::string& line, const AccessLogRecord& r) {
  const nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
  CHECK(doc.is_object());
  for (const StringField& f : kStrings) {
    const std::string_view value = r.*f.member;
    if (!doc.contains(f.name)) {
      CHECK(value.empty());  // an absent field is an empty one
      continue;
    }
    const auto& v = doc[f.name];
    if (v.is_null()) {
      CHECK(value.empty());
      continue;
    }
    CHECK(v.is_string());
    if (valid_utf8(value)) CHECK(v.get<std::string>() == value);
  }
  CHECK(doc.contains("status") && doc["status"] == r.status);
  CHECK(doc.contains("bytes_in") && doc["bytes_in"] == r.bytes_in);
  CHECK(doc.contains("bytes_out") && doc["bytes_out"] == r.bytes_out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t end = in.find('\0');
  const std::string_view spec = in.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view() : in.substr(end + 1);

  AccessLogRecord r;
  for (const StringField& f : kStrings) {
    end = rest.find('\0');
    r.*f.member = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
  r.time_unix_us = take_u64(rest) % 253402300800000000ULL;  // before the year 10000
  r.bytes_in = take_u64(rest);
  r.bytes_out = take_u64(rest);
  r.duration_us = take_u64(rest);
  r.upstream_connect_us = static_cast<int64_t>(take_u64(rest));
  r.upstream_response_us = static_cast<int64_t>(take_u64(rest));
  r.status = static_cast<int>(take_u64(rest) % 1000);
  r.tries = static_cast<uint32_t>(take_u64(rest));

  std::string err;
  const std::optional<AccessLogFormat> f = AccessLogFormat::compile(spec, &err);
  if (!f) {
    CHECK(!err.empty());
  } else {
    const bool json = spec.empty() || spec == "json";
    CHECK(f->is_json() == json);
    const std::string line = format_line(*f, r);
    if (json) {
      check_json(line, r);
    } else {
      size_t quotes = 0;
      for (char c : spec) quotes += c == '"';
      size_t got = 0;
      for (char c : line) got += c == '"';
      CHECK(got == quotes);
    }
  }

  // Each string variable alone round-trips through the template escaping.
  for (const StringField& sf : kStrings) {
    const std::optional<AccessLogFormat> one =
        AccessLogFormat::compile(std::string("${") + sf.name + "}", &err);
    CHECK(one.has_value());
    std::string line = format_line(*one, r);
    line.pop_back();
    const std::string_view value = r.*sf.member;
    CHECK(value.empty() ? line == "-" : unescape(line) == value);
  }
  return 0;
}
