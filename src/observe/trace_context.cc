#include "observe/trace_context.h"

#include <sys/random.h>

#include <chrono>
#include <cstring>

namespace sluice::observe {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr size_t kMaxTracestateBytes = 512;
constexpr size_t kMaxTracestateMembers = 32;
constexpr size_t kMaxValueBytes = 256;
constexpr size_t kMaxSimpleKeyBytes = 256;
constexpr size_t kMaxTenantBytes = 241;
constexpr size_t kMaxSystemBytes = 14;

// -1 for anything but 0-9 and a-f: the spec allows lowercase only.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool all_zero(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

inline bool is_lcalpha(char c) {
  return c >= 'a' && c <= 'z';
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_key_char(char c) {
  return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

// key = simple-key / tenant-id "@" system-id
bool valid_key(std::string_view key) {
  size_t at = key.find('@');
  if (at == std::string_view::npos) {
    if (key.empty() || key.size() > kMaxSimpleKeyBytes || !is_lcalpha(key[0])) return false;
    for (char c : key) {
      if (!is_key_char(c)) return false;
    }
    return true;
  }
  std::string_view tenant = key.substr(0, at);
  std::string_view system = key.substr(at + 1);
  if (tenant.empty() || tenant.size() > kMaxTenantBytes) return false;
  if (!is_lcalpha(tenant[0]) && !is_digit(tenant[0])) return false;
  for (char c : tenant) {
    if (!is_key_char(c)) return false;
  }
  if (system.empty() || system.size() > kMaxSystemBytes || !is_lcalpha(system[0])) return false;
  for (char c : system) {
    if (!is_key_char(c)) return false;  // a second '@' lands here too
  }
  return true;
}

// value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
bool valid_value(std::string_view v) {
  if (v.empty() || v.size() > kMaxValueBytes || v.back() == ' ') return false;
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || c == ',' || c == '=') return false;
  }
  return true;
}

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

inline void store64(uint8_t* out, uint64_t v) {
  std::memcpy(out, &v, sizeof(v));
}

}  // namespace

void to_hex(const uint8_t* bytes, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
}

bool from_hex(const char* hex, size_t n, uint8_t* out) {
  for (size_t i = 0; i < n; ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if ((hi | lo) < 0) return false;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return true;
}

bool parse_traceparent(std::string_view value, TraceContext* out) {
  std::string_view v = trim_ows(value);
  if (v.size() < kTraceparentSize) return false;
  uint8_t version;
  if (!from_hex(v.data(), 1, &version) || version == 0xff) return false;
  if (version == 0 ? v.size() != kTraceparentSize
                   : v.size() > kTraceparentSize && v[kTraceparentSize] != '-') {
    return false;
  }
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  TraceContext ctx;
  if (!from_hex(v.data() + 3, 16, ctx.trace_id) || !from_hex(v.data() + 36, 8, ctx.parent_id) ||
      !from_hex(v.data() + 53, 1, &ctx.flags)) {
    return false;
  }
  if (all_zero(ctx.trace_id, 16) || all_zero(ctx.parent_id, 8)) return false;
  *out = ctx;
  return true;
}

bool valid_tracestate(std::string_view value) {
  if (value.size() > kMaxTracestateBytes) return false;
  std::string_view keys[kMaxTracestateMembers];
  size_t members = 0;
  while (true) {
    size_t comma = value.find(',');
    std::string_view member = trim_ows(value.substr(0, comma));
    if (!member.empty()) {
      if (members == kMaxTracestateMembers) return false;
      size_t eq = member.find('=');
      if (eq == std::string_view::npos) return false;
      std::string_view key = member.substr(0, eq);
      if (!valid_key(key) || !valid_value(member.substr(eq + 1))) return false;
      // At most 32 members, so the quadratic duplicate check stays cheap.
      for (size_t i = 0; i < members; ++i) {
        if (keys[i] == key) return false;
      }
      keys[members++] = key;
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return members > 0;
}

void format_traceparent(const uint8_t trace_id[16], const uint8_t span_id[8], bool sampled,
                        char out[kTraceparentSize]) {
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  to_hex(trace_id, 16, out + 3);
  out[35] = '-';
  to_hex(span_id, 8, out + 36);
  out[52] = '-';
  out[53] = '0';
  out[54] = sampled ? '1' : '0';
}

IdGenerator::IdGenerator() {
  uint64_t seed[4] = {};
  size_t got = 0;
  auto* p = reinterpret_cast<uint8_t*>(seed);
  while (got < sizeof(seed)) {
    ssize_t n = getrandom(p + got, sizeof(seed) - got, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got < sizeof(seed)) {
    // No entropy source (very old kernel, seccomp): the ids need to be unique, not secret.
    seed_from(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
              reinterpret_cast<uintptr_t>(this));
    return;
  }
  std::memcpy(s_, seed, sizeof(s_));
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) seed_from(1);  // the one state xoshiro cannot leave
}

IdGenerator::IdGenerator(uint64_t seed) {
  seed_from(seed);
}

void IdGenerator::seed_from(uint64_t seed) {
  for (uint64_t& s : s_) s = splitmix64(seed);
}

uint64_t IdGenerator::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

void IdGenerator::trace_id(uint8_t out[16]) {
  uint64_t a, b;
  do {
    a = next();
    b = next();
  } while ((a | b) == 0);
  store64(out, a);
  store64(out + 8, b);
}

void IdGenerator::span_id(uint8_t out[8]) {
  uint64_t a;
  do {
    a = next();
  } while (a == 0);
  store64(out, a);
}

double IdGenerator::uniform() {
  // The top 53 bits fill a double's mantissa exactly, so the result is < 1.
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

}  // namespace sluice::observe
