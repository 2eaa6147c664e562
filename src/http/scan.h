// Vectorised byte scans used by the HTTP/1 parsers on their hot paths (SSE2 where available,
// a table loop elsewhere). Internal to src/http/.
// Example: const char* stop = find_field_value_stop(value, head_end);  // the CR, or a bad byte
#pragma once

#include "http/char_class.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::http {

// First byte in [p, end) that may not appear in a field value (CTL other than HTAB, or DEL),
// or `end`. On a well-formed field line this is the CR of its CRLF.
inline const char* find_field_value_stop(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i k1f = _mm_set1_epi8(0x1F);
  const __m128i k7f = _mm_set1_epi8(0x7F);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, k1f), v);  // v <= 0x1F (unsigned)
    const __m128i del = _mm_cmpeq_epi8(v, k7f);
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(ctl, del)));
    while (mask != 0) {
      const int i = __builtin_ctz(mask);
      if (p[i] != '\t') return p + i;
      mask &= mask - 1;
    }
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    if (!is_field_value_char(*p)) return p;
  }
  return end;
}

// First byte in [p, end) that may not appear in a request-target (outside 0x21-0x7E, or '#'),
// or `end`. On a well-formed request line this is the SP before the version.
inline const char* find_target_stop(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i k21 = _mm_set1_epi8(0x21);
  const __m128i k7f = _mm_set1_epi8(0x7F);
  const __m128i hash = _mm_set1_epi8('#');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: bytes >= 0x80 are negative, so they are caught as "< 0x21" too.
    const __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, k21),
                                     _mm_or_si128(_mm_cmpeq_epi8(v, k7f), _mm_cmpeq_epi8(v, hash)));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(bad));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    if (!is_target_char(*p)) return p;
  }
  return end;
}

// First '\n' in [p, end), or `end`. Inline because head lines are short: a call to memchr
// costs more than the scan.
inline const char* find_lf(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i lf = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf)));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    if (*p == '\n') return p;
  }
  return end;
}

}  // namespace sluice::http
