#include "router/pattern.h"

#include <algorithm>

#include "router/path.h"
#include "router/router.h"

namespace sluice::router {
namespace {

bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

std::string quoted(std::string_view s) {
  std::string q = "\"";
  q.append(s);
  q.push_back('"');
  return q;
}

// Checks one "{name}" / "{*name}" segment; "" when fine.
std::string check_param_segment(std::string_view seg, bool last, PatternSegment* out) {
  if (seg.front() != '{' || seg.back() != '}' || seg.size() < 2) {
    if (seg.find('{') != std::string_view::npos && seg.find('}') == std::string_view::npos) {
      return "unclosed '{' in segment " + quoted(seg);
    }
    if (seg.find('}') != std::string_view::npos && seg.find('{') == std::string_view::npos) {
      return "'}' without '{' in segment " + quoted(seg);
    }
    return "a parameter must be a whole segment, \"{name}\" or \"{*name}\": " + quoted(seg);
  }
  std::string_view inner = seg.substr(1, seg.size() - 2);
  if (inner.find_first_of("{}") != std::string_view::npos) {
    return "unexpected brace inside parameter " + quoted(seg);
  }
  const bool catch_all = !inner.empty() && inner.front() == '*';
  if (catch_all) inner.remove_prefix(1);
  if (inner.empty()) return "empty parameter name in " + quoted(seg);
  if (!is_name_start(inner.front()) || !std::all_of(inner.begin(), inner.end(), is_name_char)) {
    return "invalid parameter name " + quoted(inner) + " (names are [A-Za-z_][A-Za-z0-9_]*)";
  }
  if (catch_all && !last) return "catch-all " + quoted(seg) + " must be the last segment";
  out->kind = catch_all ? PatternSegment::Kind::kCatchAll : PatternSegment::Kind::kParam;
  out->text.assign(inner);
  return {};
}

// Checks and normalises one static segment; "" when fine.
std::string check_static_segment(std::string_view seg, PatternSegment* out) {
  for (char c : seg) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return "control character or space in segment " + quoted(seg);
    if (c == '?' || c == '#') {
      return std::string("'") + c + "' in segment " + quoted(seg) +
             " (patterns match the path only)";
    }
  }
  out->kind = PatternSegment::Kind::kStatic;
  out->text.clear();
  if (!append_normalized_segment(seg, &out->text)) {
    return "malformed percent-escape in segment " + quoted(seg);
  }
  if (out->text == "." || out->text == "..") {
    return "dot segment " + quoted(seg) + " never matches a normalised path";
  }
  return {};
}

}  // namespace

std::string parse_pattern(std::string_view pattern, ParsedPattern* out) {
  out->segments.clear();
  out->param_names.clear();
  out->canonical.clear();
  if (pattern.empty()) return "pattern is empty";
  if (pattern.front() != '/') return "pattern must start with '/'";
  size_t i = 0;  // index of the '/' before the next segment
  while (i < pattern.size()) {
    const size_t end = std::min(pattern.find('/', i + 1), pattern.size());
    const std::string_view seg = pattern.substr(i + 1, end - i - 1);
    const bool last = end == pattern.size();
    PatternSegment s;
    std::string err = seg.find_first_of("{}") == std::string_view::npos
                          ? check_static_segment(seg, &s)
                          : check_param_segment(seg, last, &s);
    if (!err.empty()) return err;
    out->canonical.push_back('/');
    if (s.kind == PatternSegment::Kind::kStatic) {
      out->canonical.append(s.text);
    } else {
      if (std::find(out->param_names.begin(), out->param_names.end(), s.text) !=
          out->param_names.end()) {
        return "duplicate parameter name " + quoted(s.text);
      }
      if (out->param_names.size() == kMaxPatternParams) {
        return "too many parameters (at most " + std::to_string(kMaxPatternParams) + ")";
      }
      out->param_names.push_back(s.text);
      out->canonical.append(s.kind == PatternSegment::Kind::kParam ? "{}" : "{*}");
    }
    out->segments.push_back(std::move(s));
    i = end;
  }
  return {};
}

std::string check_pattern(std::string_view pattern) {
  ParsedPattern parsed;
  return parse_pattern(pattern, &parsed);
}

}  // namespace sluice::router
