// Small inline byte-string helpers for the matching hot path: path segments and host names are
// short, and calls to memchr/memcmp/memcpy cost more than word-sized loads.
// Example: size_t end = find_byte(path.data() + begin, path.size() - begin, '/');
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::router {

inline uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline uint32_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Index of the first `c` in p[0, n), or n.
inline size_t find_byte(const char* p, size_t n, char c) {
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    const uint64_t pattern = kOnes * static_cast<unsigned char>(c);
    // Flags the bytes of v equal to c. The lowest flag is exact: borrows only disturb the bytes
    // above a match.
    const auto matches = [&](uint64_t v) {
      v ^= pattern;
      return (v - kOnes) & ~v & (kOnes * 0x80);
    };
    if (n >= 8) {
      size_t i = 0;
      for (; i + 8 <= n; i += 8) {
        if (const uint64_t m = matches(load64(p + i))) {
          return i + static_cast<size_t>(std::countr_zero(m) / 8);
        }
      }
      if (i == n) return n;
      // The last, overlapping word: its first 8 - (n - i) bytes are known not to match.
      const uint64_t m = matches(load64(p + n - 8)) >> (8 * (8 - (n - i)));
      return m ? i + static_cast<size_t>(std::countr_zero(m) / 8) : n;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == c) return i;
  }
  return n;
}

inline bool bytes_equal(const char* a, const char* b, size_t n) {
  if (n >= 8) {
    if (n > 16) return std::memcmp(a, b, n) == 0;
    return load64(a) == load64(b) && load64(a + n - 8) == load64(b + n - 8);
  }
  if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

}  // namespace sluice::router
