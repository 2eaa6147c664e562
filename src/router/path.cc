#include "router/path.h"

#include <cstring>

namespace sluice::router {
namespace {

constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

constexpr char upper_hex(char c) {
  return (c >= 'a' && c <= 'f') ? static_cast<char>(c - 32) : c;
}

bool is_dot_segment(std::string_view seg) {
  return seg == "." || seg == "..";
}

// Appends s[begin, end) (no '/') with escapes normalised; false on a malformed escape.
bool append_segment(std::string_view s, size_t begin, size_t end, std::string* out) {
  size_t i = begin;
  while (i < end) {
    const char* pct = static_cast<const char*>(std::memchr(s.data() + i, '%', end - i));
    const size_t stop = pct ? static_cast<size_t>(pct - s.data()) : end;
    out->append(s.data() + i, stop - i);
    if (stop == end) break;
    if (stop + 2 >= end) return false;
    const int hi = hex_value(s[stop + 1]);
    const int lo = hex_value(s[stop + 2]);
    if (hi < 0 || lo < 0) return false;
    const auto byte = static_cast<unsigned char>(hi * 16 + lo);
    if (is_unreserved(byte)) {
      out->push_back(static_cast<char>(byte));
    } else {
      out->push_back('%');
      out->push_back(upper_hex(s[stop + 1]));
      out->push_back(upper_hex(s[stop + 2]));
    }
    i = stop + 3;
  }
  return true;
}

// True when `path` (valid start already checked) contains an escape that normalisation rewrites;
// sets *bad on a malformed escape. Stops at the first rewrite: the slow path validates the rest.
bool escapes_need_rewrite(std::string_view path, bool* bad) {
  const char* p = path.data();
  const size_t n = path.size();
  size_t i = 0;
  while (i < n) {
    const char* pct = static_cast<const char*>(std::memchr(p + i, '%', n - i));
    if (!pct) return false;
    i = static_cast<size_t>(pct - p);
    if (i + 2 >= n) {
      *bad = true;
      return false;
    }
    const int hi = hex_value(p[i + 1]);
    const int lo = hex_value(p[i + 2]);
    if (hi < 0 || lo < 0) {
      *bad = true;
      return false;
    }
    if ((p[i + 1] >= 'a' && p[i + 1] <= 'f') || (p[i + 2] >= 'a' && p[i + 2] <= 'f')) return true;
    if (is_unreserved(static_cast<unsigned char>(hi * 16 + lo))) return true;
    i += 3;
  }
  return false;
}

// True when a raw "." or ".." segment exists (encoded dots are caught by escapes_need_rewrite).
bool has_dot_segment(std::string_view path) {
  const char* p = path.data();
  const size_t n = path.size();
  size_t i = 0;
  while (i < n) {
    const char* dot = static_cast<const char*>(std::memchr(p + i, '.', n - i));
    if (!dot) return false;
    i = static_cast<size_t>(dot - p);
    if (p[i - 1] == '/') {  // i >= 1 because path[0] == '/'
      size_t j = i + 1;
      if (j < n && p[j] == '.') ++j;
      if (j == n || p[j] == '/') return true;
    }
    ++i;
  }
  return false;
}

}  // namespace

bool append_normalized_segment(std::string_view segment, std::string* out) {
  return append_segment(segment, 0, segment.size(), out);
}

std::string_view normalize_path(std::string_view path, std::string& scratch, bool* ok) {
  if (ok) *ok = false;
  if (path.empty() || path[0] != '/') return {};
  bool bad = false;
  const bool rewrite = escapes_need_rewrite(path, &bad);
  if (bad) return {};
  if (!rewrite && !has_dot_segment(path)) {
    if (ok) *ok = true;
    return path;
  }

  // Slow path: one segment at a time, so that dot segments are recognised after decoding.
  scratch.clear();
  scratch.reserve(path.size());
  const size_t n = path.size();
  size_t i = 0;  // index of the '/' before the next segment
  while (i < n) {
    const size_t start = scratch.size();
    scratch.push_back('/');
    const char* slash = static_cast<const char*>(std::memchr(path.data() + i + 1, '/', n - i - 1));
    const size_t end = slash ? static_cast<size_t>(slash - path.data()) : n;
    if (!append_segment(path, i + 1, end, &scratch)) return {};
    const std::string_view seg(scratch.data() + start + 1, scratch.size() - start - 1);
    if (is_dot_segment(seg)) {
      const bool up = seg.size() == 2;
      scratch.resize(start);
      if (up) {
        const size_t prev = scratch.rfind('/');
        scratch.resize(prev == std::string::npos ? 0 : prev);
      }
      if (end == n) scratch.push_back('/');
    }
    i = end;
  }
  if (ok) *ok = true;
  return scratch;
}

}  // namespace sluice::router
