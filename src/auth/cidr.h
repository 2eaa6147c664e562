// IP allow/deny rules: IPv4 and IPv6 CIDR sets with fast membership, and finding the real client
// address behind trusted proxies from X-Forwarded-For.
//   - "10.0.0.0/8", "2001:db8::/32"; a bare address is /32 or /128.
//   - Host bits below the prefix are accepted and cleared ("10.1.2.3/8" is 10.0.0.0/8): configs
//     often name a network by one of its hosts, and refusing them helps nobody.
//   - IPv4 and IPv6 are separate families. An IPv4-mapped client (::ffff:a.b.c.d, what a dual-stack
//     socket reports for an IPv4 peer) is treated as the IPv4 address a.b.c.d, and a rule written
//     inside ::ffff:0:0/96 becomes the IPv4 rule it denotes; so "::/0" means every IPv6 client but
//     no IPv4 one.
// Example:
//   IpRules rules;
//   std::string err;
//   if (!rules.allow.add("10.0.0.0/8", &err)) throw ConfigError(err);
//   rules.deny.add("10.6.6.6", &err);
//   if (!rules.allows(IpAddress::from_sockaddr(peer))) return respond(403);
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::auth {

// "a.b.c.d" of an IPv4 address (host byte order) into out (at least 16 bytes), NUL-terminated;
// returns its length. On the request path instead of inet_ntop, whose sprintf costs about a
// thousand instructions.
inline size_t format_ipv4(uint32_t v, char* out) {
  char* p = out;
  for (int shift = 24; shift >= 0; shift -= 8) {
    unsigned b = (v >> shift) & 0xffU;
    if (b >= 100) {
      *p++ = static_cast<char>('0' + b / 100);
      b %= 100;
      *p++ = static_cast<char>('0' + b / 10);
    } else if (b >= 10) {
      *p++ = static_cast<char>('0' + b / 10);
    }
    *p++ = static_cast<char>('0' + b % 10);
    if (shift != 0) *p++ = '.';
  }
  *p = '\0';
  return static_cast<size_t>(p - out);
}

// An IPv4 or IPv6 address; IPv4-mapped IPv6 addresses are stored as IPv4.
class IpAddress {
 public:
  IpAddress() = default;

  // A plain address ("192.0.2.1", "2001:db8::1"); no brackets, port, prefix or zone.
  static std::optional<IpAddress> parse(std::string_view text);
  // As found in X-Forwarded-For: also "[2001:db8::1]", "[2001:db8::1]:443", "192.0.2.1:443".
  static std::optional<IpAddress> parse_forwarded(std::string_view text);
  // AF_INET or AF_INET6; any other family gives the unspecified IPv6 address "::".
  static IpAddress from_sockaddr(const sockaddr_storage& sa);
  static IpAddress v4(uint32_t host_order) { return IpAddress(true, 0, host_order); }
  static IpAddress v6(uint64_t hi, uint64_t lo);  // maps ::ffff:0:0/96 to IPv4

  bool is_v4() const { return v4_; }
  uint32_t v4_value() const { return static_cast<uint32_t>(lo_); }  // host order
  uint64_t v6_hi() const { return hi_; }
  uint64_t v6_lo() const { return lo_; }
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  IpAddress(bool v4, uint64_t hi, uint64_t lo) : v4_(v4), hi_(hi), lo_(lo) {}
  bool v4_ = false;
  uint64_t hi_ = 0;
  uint64_t lo_ = 0;
};

// A set of CIDR blocks kept as sorted, merged, disjoint ranges per family: contains() is one
// binary search (about 10 steps for 1k rules) with no allocation. Built at config time, then
// read-only and safe to share between workers.
class CidrSet {
 public:
  // Adds one CIDR or bare address. False with *error set (if error is not null) on a malformed
  // one. Ranges are merged as they come: O(log n) for rules given in ascending order, O(n) for
  // one out of order, so even an unsorted list of 100k rules builds in well under a second.
  bool add(std::string_view cidr, std::string* error);

  bool contains(const IpAddress& ip) const;
  bool contains(const sockaddr_storage& sa) const { return contains(IpAddress::from_sockaddr(sa)); }
  // False for text that is not an address.
  bool contains(std::string_view ip_text) const;

  bool empty() const { return v4_.empty() && v6_.empty(); }
  size_t range_count() const { return v4_.size() + v6_.size(); }  // after merging

 private:
  struct Range4 {
    uint32_t lo, hi;
  };
  struct U128 {
    uint64_t hi, lo;
    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
    friend auto operator<=>(const U128&, const U128&) = default;
  };
  struct Range6 {
    U128 lo, hi;
  };
  template <class R>
  static void insert_range(std::vector<R>& ranges, R r);
  template <class R, class V>
  static bool find(const std::vector<R>& ranges, V v);

  std::vector<Range4> v4_;
  std::vector<Range6> v6_;
};

// Per-route IP rules: deny wins; if allow is non-empty, the address must be in it.
struct IpRules {
  CidrSet allow;
  CidrSet deny;

  bool allows(const IpAddress& ip) const {
    if (deny.contains(ip)) return false;
    return allow.empty() || allow.contains(ip);
  }
};

// Finds the client in X-Forwarded-For values (each header line of the request, in order; each
// a comma-separated list) by walking right to left: an entry in `trusted` is one of our proxies
// and is skipped; the first untrusted entry is the client. If every entry is trusted, the
// leftmost is the client. An entry that is not an address ("unknown", garbage, an obfuscated
// identifier) stops the walk, and the last valid entry seen is the client: anything left of an
// unparseable hop was written by someone we cannot vouch for. False (and *client untouched) when
// the rightmost entry is already invalid or there are no entries.
// The caller must only do this when the direct peer is itself trusted; otherwise the whole header
// is attacker-controlled and the client is the peer (resolve_client_ip does both).
bool client_ip_from_forwarded_for(std::span<const std::string_view> xff_values,
                                  const CidrSet& trusted, IpAddress* client);

// The peer if it is not a trusted proxy or X-Forwarded-For yields nothing; otherwise the client
// that client_ip_from_forwarded_for finds.
IpAddress resolve_client_ip(const IpAddress& peer, std::span<const std::string_view> xff_values,
                            const CidrSet& trusted);

}  // namespace sluice::auth
