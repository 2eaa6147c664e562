// Fuzz target for CIDR rules and client-address parsing. The input is split into lines; each line
// is offered to CidrSet::add, then to IpAddress::parse / parse_forwarded and contains(), and the
// whole input is walked as an X-Forwarded-For value. No crash, no out-of-bounds access, and:
//   - every accepted rule contains the address it was written with (host bits only widen it);
//   - an address that parses formats back to text that parses to the same address;
//   - contains() agrees with a brute-force check against the accepted rules.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/cidr.h"

using namespace sluice::auth;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

// The network (first) and last address of an accepted rule, by a second, independent route.
struct Rule {
  bool v4;
  uint64_t hi, lo;  // lo holds the IPv4 address for v4
  int prefix;
};

bool in_rule(const IpAddress& ip, const Rule& r) {
  if (ip.is_v4() != r.v4) return false;
  if (ip.is_v4()) {
    const uint32_t mask = r.prefix == 0 ? 0 : ~uint32_t{0} << (32 - r.prefix);
    return (ip.v4_value() & mask) == (static_cast<uint32_t>(r.lo) & mask);
  }
  const int p = r.prefix;
  const uint64_t hi_mask = p == 0 ? 0 : p >= 64 ? ~0ULL : ~0ULL << (64 - p);
  const uint64_t lo_mask = p <= 64 ? 0 : ~0ULL << (128 - p);
  return (ip.v6_hi() & hi_mask) == (r.hi & hi_mask) && (ip.v6_lo() & lo_mask) == (r.lo & lo_mask);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  CidrSet set;
  std::vector<Rule> rules;
  std::vector<IpAddress> probes;
  std::vector<IpAddress> anchors;  // the address each rule was written with
  size_t pos = 0;
  while (pos <= in.size() && rules.size() < 64) {
    size_t eol = in.find('\n', pos);
    if (eol == std::string_view::npos) eol = in.size();
    const std::string_view line = in.substr(pos, eol - pos);
    pos = eol + 1;

    std::string err;
    if (set.add(line, &err)) {
      const size_t slash = line.find('/');
      std::optional<IpAddress> a = IpAddress::parse(line.substr(0, slash));
      check(a.has_value());
      const bool v6_text = line.substr(0, slash).find(':') != std::string_view::npos;
      int prefix = v6_text ? 128 : 32;
      if (slash != std::string_view::npos) {
        prefix = std::atoi(std::string(line.substr(slash + 1)).c_str());
      }
      if (!v6_text) {
        rules.push_back(Rule{true, 0, a->v4_value(), prefix});
        anchors.push_back(*a);
      } else if (a->is_v4() && prefix >= 96) {
        // A rule inside ::ffff:0:0/96 written in IPv6 form is the IPv4 rule it denotes.
        rules.push_back(Rule{true, 0, a->v4_value(), prefix - 96});
        anchors.push_back(*a);
      } else if (a->is_v4()) {
        // A shorter prefix over the mapped range stays an IPv6 rule, which no (mapped, hence
        // IPv4) client can match.
        rules.push_back(Rule{false, 0, (uint64_t{0xffff} << 32) | a->v4_value(), prefix});
      } else {
        rules.push_back(Rule{false, a->v6_hi(), a->v6_lo(), prefix});
        anchors.push_back(*a);
      }
      probes.push_back(*a);
    } else {
      check(!err.empty());
    }
    for (auto parsed : {IpAddress::parse(line), IpAddress::parse_forwarded(line)}) {
      if (!parsed) continue;
      std::optional<IpAddress> again = IpAddress::parse(parsed->to_string());
      check(again.has_value() && *again == *parsed);
      probes.push_back(*parsed);
    }
  }
  for (const IpAddress& p : probes) {
    bool expect = false;
    for (const Rule& r : rules) expect = expect || in_rule(p, r);
    check(set.contains(p) == expect);
  }
  for (const IpAddress& a : anchors) check(set.contains(a));

  const std::string_view xff[] = {in};
  IpAddress client;
  if (client_ip_from_forwarded_for(std::span<const std::string_view>(xff), set, &client)) {
    check(!client.to_string().empty());
  }
  return 0;
}
