#include "auth/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace sluice::auth {

namespace {

constexpr uint64_t kMappedPrefix = 0x0000ffffULL;  // bits 32..63 of lo for ::ffff:0:0/96

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

uint64_t load_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void store_be64(uint64_t v, uint8_t* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

// inet_pton needs a NUL-terminated string; the longest valid text form is INET6_ADDRSTRLEN - 1.
bool parse_raw(std::string_view text, bool* is_v4, uint8_t bytes[16]) {
  char buf[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof(buf)) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (text.find(':') == std::string_view::npos) {
    *is_v4 = true;
    return inet_pton(AF_INET, buf, bytes) == 1;
  }
  *is_v4 = false;
  return inet_pton(AF_INET6, buf, bytes) == 1;
}

bool parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v <= 65535;
}

uint32_t succ(uint32_t v) {
  return v + 1;
}

template <class U>
U succ(U v) {
  ++v.lo;
  if (v.lo == 0) ++v.hi;
  return v;
}

// True when a range ending at a_hi overlaps or touches one starting at b_lo. When a_hi is the
// maximum value its successor wraps, but then a_hi >= b_lo already decided.
template <class V>
bool touches(V a_hi, V b_lo) {
  return !(a_hi < b_lo) || succ(a_hi) == b_lo;
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  bool v4 = false;
  uint8_t b[16];
  if (!parse_raw(text, &v4, b)) return std::nullopt;
  if (v4) return IpAddress::v4(static_cast<uint32_t>(load_be64(b) >> 32));
  return IpAddress::v6(load_be64(b), load_be64(b + 8));
}

std::optional<IpAddress> IpAddress::parse_forwarded(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !parse_port(rest.substr(1)))) return std::nullopt;
    std::optional<IpAddress> ip = parse(text.substr(1, close - 1));
    if (ip && ip->is_v4() && text.substr(1, close - 1).find(':') == std::string_view::npos) {
      return std::nullopt;  // "[192.0.2.1]" is not a form anyone writes
    }
    return ip;
  }
  const size_t colon = text.find(':');
  if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
    // Exactly one colon: IPv4 with a port (an IPv6 address has at least two).
    if (!parse_port(text.substr(colon + 1))) return std::nullopt;
    std::optional<IpAddress> ip = parse(text.substr(0, colon));
    if (!ip || !ip->is_v4()) return std::nullopt;
    return ip;
  }
  return parse(text);
}

IpAddress IpAddress::from_sockaddr(const sockaddr_storage& sa) {
  if (sa.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    return IpAddress::v4(ntohl(in->sin_addr.s_addr));
  }
  if (sa.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    const auto* b = reinterpret_cast<const uint8_t*>(&in6->sin6_addr);
    return IpAddress::v6(load_be64(b), load_be64(b + 8));
  }
  return IpAddress();
}

IpAddress IpAddress::v6(uint64_t hi, uint64_t lo) {
  if (hi == 0 && (lo >> 32) == kMappedPrefix) return IpAddress::v4(static_cast<uint32_t>(lo));
  return IpAddress(false, hi, lo);
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  uint8_t b[16];
  if (v4_) {
    const uint32_t n = htonl(static_cast<uint32_t>(lo_));
    if (inet_ntop(AF_INET, &n, buf, sizeof(buf)) == nullptr) return {};
  } else {
    store_be64(hi_, b);
    store_be64(lo_, b + 8);
    if (inet_ntop(AF_INET6, b, buf, sizeof(buf)) == nullptr) return {};
  }
  return buf;
}

template <class R>
void CidrSet::insert_range(std::vector<R>& ranges, R r) {
  // First range starting after r.lo; the one before it may overlap r from the left.
  auto it = std::upper_bound(ranges.begin(), ranges.end(), r.lo,
                             [](const auto& lo, const R& x) { return lo < x.lo; });
  if (it != ranges.begin() && touches(std::prev(it)->hi, r.lo)) {
    --it;
    r.lo = it->lo;
    if (r.hi < it->hi) r.hi = it->hi;
  } else {
    it = ranges.insert(it, r);
  }
  // `it` now holds the merged range's slot; absorb the ranges it reaches on the right.
  auto next = std::next(it);
  auto last = next;
  while (last != ranges.end() && touches(r.hi, last->lo)) {
    if (r.hi < last->hi) r.hi = last->hi;
    ++last;
  }
  *it = r;
  ranges.erase(next, last);
}

template <class R, class V>
bool CidrSet::find(const std::vector<R>& ranges, V v) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), v,
                             [](const V& x, const R& range) { return x < range.lo; });
  if (it == ranges.begin()) return false;
  return !(std::prev(it)->hi < v);
}

bool CidrSet::add(std::string_view cidr, std::string* error) {
  auto fail = [&](const char* why) {
    if (error != nullptr) *error = std::string(why) + ": \"" + std::string(cidr) + "\"";
    return false;
  };
  std::string_view addr = cidr;
  int prefix = -1;
  const size_t slash = cidr.find('/');
  if (slash != std::string_view::npos) {
    addr = cidr.substr(0, slash);
    const std::string_view p = cidr.substr(slash + 1);
    if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) {
      return fail("invalid prefix length");
    }
    prefix = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return fail("invalid prefix length");
      prefix = prefix * 10 + (c - '0');
    }
  }
  bool v4 = false;
  uint8_t b[16];
  if (!parse_raw(addr, &v4, b)) return fail("invalid IP address");
  uint64_t hi = load_be64(b);
  uint64_t lo = load_be64(b + 8);
  if (v4) {
    if (prefix > 32) return fail("prefix length over 32 for an IPv4 address");
    if (prefix < 0) prefix = 32;
    lo = hi >> 32;
    hi = 0;
  } else {
    if (prefix > 128) return fail("prefix length over 128 for an IPv6 address");
    if (prefix < 0) prefix = 128;
    if (prefix >= 96 && hi == 0 && (lo >> 32) == kMappedPrefix) {
      v4 = true;  // ::ffff:a.b.c.d/n is the IPv4 rule a.b.c.d/(n-96)
      prefix -= 96;
      lo &= 0xffffffffULL;
    }
  }
  if (v4) {
    const uint32_t a = static_cast<uint32_t>(lo);
    const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
    insert_range(v4_, Range4{a & mask, (a & mask) | ~mask});
    return true;
  }
  const uint64_t hi_mask = prefix == 0 ? 0 : prefix >= 64 ? ~0ULL : ~0ULL << (64 - prefix);
  const uint64_t lo_mask = prefix <= 64 ? 0 : ~0ULL << (128 - prefix);
  insert_range(v6_, Range6{U128{hi & hi_mask, lo & lo_mask},
                           U128{(hi & hi_mask) | ~hi_mask, (lo & lo_mask) | ~lo_mask}});
  return true;
}

bool CidrSet::contains(const IpAddress& ip) const {
  if (ip.is_v4()) return find(v4_, ip.v4_value());
  return find(v6_, U128{ip.v6_hi(), ip.v6_lo()});
}

bool CidrSet::contains(std::string_view ip_text) const {
  std::optional<IpAddress> ip = IpAddress::parse(ip_text);
  return ip && contains(*ip);
}

bool client_ip_from_forwarded_for(std::span<const std::string_view> xff_values,
                                  const CidrSet& trusted, IpAddress* client) {
  std::optional<IpAddress> last_valid;
  for (size_t v = xff_values.size(); v-- > 0;) {
    const std::string_view list = xff_values[v];
    size_t end = list.size();
    while (true) {
      const size_t comma = end == 0 ? std::string_view::npos : list.rfind(',', end - 1);
      const size_t begin = comma == std::string_view::npos ? 0 : comma + 1;
      const std::string_view entry = trim(list.substr(begin, end - begin));
      if (!entry.empty()) {  // empty list elements are allowed by RFC 9110 and mean nothing
        std::optional<IpAddress> ip = IpAddress::parse_forwarded(entry);
        if (!ip) {
          if (last_valid) *client = *last_valid;
          return last_valid.has_value();
        }
        if (!trusted.contains(*ip)) {
          *client = *ip;
          return true;
        }
        last_valid = ip;
      }
      if (comma == std::string_view::npos) break;
      end = comma;
    }
  }
  if (last_valid) *client = *last_valid;
  return last_valid.has_value();
}

IpAddress resolve_client_ip(const IpAddress& peer, std::span<const std::string_view> xff_values,
                            const CidrSet& trusted) {
  if (!trusted.contains(peer)) return peer;
  IpAddress client = peer;
  client_ip_from_forwarded_for(xff_values, trusted, &client);
  return client;
}

}  // namespace sluice::auth
