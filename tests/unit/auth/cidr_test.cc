#include "auth/cidr.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <random>

namespace sluice::auth {
namespace {

CidrSet make(std::initializer_list<const char*> cidrs) {
  CidrSet s;
  for (const char* c : cidrs) {
    std::string err;
    EXPECT_TRUE(s.add(c, &err)) << c << ": " << err;
  }
  return s;
}

TEST(IpAddress, ParseAndFormat) {
  EXPECT_EQ(IpAddress::parse("192.0.2.1")->to_string(), "192.0.2.1");
  EXPECT_EQ(IpAddress::parse("2001:DB8::1")->to_string(), "2001:db8::1");
  EXPECT_TRUE(IpAddress::parse("::ffff:192.0.2.1")->is_v4());
  EXPECT_EQ(IpAddress::parse("::ffff:192.0.2.1"), IpAddress::parse("192.0.2.1"));
  EXPECT_FALSE(IpAddress::parse("::1")->is_v4());
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.4/8",
                          "fe80::1%eth0", "[::1]", "::1::2", "unknown", " 1.2.3.4", "1.2.3.4:80"}) {
    EXPECT_FALSE(IpAddress::parse(bad)) << bad;
  }
}

TEST(IpAddress, ParseForwardedForms) {
  EXPECT_EQ(IpAddress::parse_forwarded("[2001:db8::1]"), IpAddress::parse("2001:db8::1"));
  EXPECT_EQ(IpAddress::parse_forwarded("[2001:db8::1]:443"), IpAddress::parse("2001:db8::1"));
  EXPECT_EQ(IpAddress::parse_forwarded("192.0.2.1:8080"), IpAddress::parse("192.0.2.1"));
  EXPECT_EQ(IpAddress::parse_forwarded("2001:db8::1"), IpAddress::parse("2001:db8::1"));
  for (const char* bad : {"[2001:db8::1", "[2001:db8::1]:", "[2001:db8::1]:99999", "[1.2.3.4]",
                          "1.2.3.4:", "1.2.3.4:x", "_hidden", "unknown"}) {
    EXPECT_FALSE(IpAddress::parse_forwarded(bad)) << bad;
  }
}

TEST(IpAddress, FromSockaddr) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  inet_pton(AF_INET, "10.1.2.3", &in->sin_addr);
  EXPECT_EQ(IpAddress::from_sockaddr(ss).to_string(), "10.1.2.3");
  sockaddr_storage ss6{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss6);
  in6->sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6->sin6_addr);
  EXPECT_TRUE(IpAddress::from_sockaddr(ss6).is_v4());
  EXPECT_EQ(IpAddress::from_sockaddr(ss6), IpAddress::from_sockaddr(ss));
  EXPECT_TRUE(make({"10.0.0.0/8"}).contains(ss6));
  EXPECT_TRUE(make({"10.0.0.0/8"}).contains(ss));
}

TEST(CidrSet, Basics) {
  CidrSet s = make({"10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"});
  EXPECT_TRUE(s.contains("10.0.0.0"));
  EXPECT_TRUE(s.contains("10.255.255.255"));
  EXPECT_FALSE(s.contains("11.0.0.0"));
  EXPECT_FALSE(s.contains("9.255.255.255"));
  EXPECT_TRUE(s.contains("192.168.1.77"));
  EXPECT_FALSE(s.contains("192.168.2.1"));
  EXPECT_TRUE(s.contains("2001:db8:ffff::1"));
  EXPECT_FALSE(s.contains("2001:db9::1"));
  EXPECT_FALSE(s.contains("not-an-ip"));
  EXPECT_FALSE(s.contains(""));
}

TEST(CidrSet, BareAddressesAreHostRoutes) {
  CidrSet s = make({"192.0.2.7", "2001:db8::7"});
  EXPECT_TRUE(s.contains("192.0.2.7"));
  EXPECT_FALSE(s.contains("192.0.2.8"));
  EXPECT_FALSE(s.contains("192.0.2.6"));
  EXPECT_TRUE(s.contains("2001:db8::7"));
  EXPECT_FALSE(s.contains("2001:db8::8"));
  EXPECT_TRUE(make({"192.0.2.7/32"}).contains("192.0.2.7"));
  EXPECT_FALSE(make({"192.0.2.7/32"}).contains("192.0.2.6"));
  EXPECT_TRUE(make({"2001:db8::7/128"}).contains("2001:db8::7"));
  EXPECT_FALSE(make({"2001:db8::7/128"}).contains("2001:db8::6"));
}

TEST(CidrSet, SlashZeroCoversItsFamilyOnly) {
  CidrSet v4 = make({"0.0.0.0/0"});
  EXPECT_TRUE(v4.contains("0.0.0.0"));
  EXPECT_TRUE(v4.contains("255.255.255.255"));
  EXPECT_TRUE(v4.contains("::ffff:1.2.3.4"));
  EXPECT_FALSE(v4.contains("::1"));
  CidrSet v6 = make({"::/0"});
  EXPECT_TRUE(v6.contains("::"));
  EXPECT_TRUE(v6.contains("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  EXPECT_FALSE(v6.contains("1.2.3.4"));
  EXPECT_FALSE(v6.contains("::ffff:1.2.3.4"));  // a mapped client is an IPv4 client
}

TEST(CidrSet, MappedRulesBecomeIpv4Rules) {
  CidrSet s = make({"::ffff:10.0.0.0/104"});
  EXPECT_TRUE(s.contains("10.9.9.9"));
  EXPECT_TRUE(s.contains("::ffff:10.9.9.9"));
  EXPECT_FALSE(s.contains("11.0.0.1"));
}

TEST(CidrSet, HostBitsAreCleared) {
  CidrSet s = make({"10.1.2.3/8", "2001:db8:1:2::5/32"});
  EXPECT_TRUE(s.contains("10.200.0.1"));
  EXPECT_TRUE(s.contains("2001:db8:ffff::"));
  EXPECT_EQ(s.range_count(), 2u);
}

TEST(CidrSet, PrefixBoundariesAcrossThe64BitHalf) {
  CidrSet s = make({"2001:db8:0:1::/64", "2001:db8:0:2:8000::/65"});
  EXPECT_TRUE(s.contains("2001:db8:0:1:ffff:ffff:ffff:ffff"));
  EXPECT_FALSE(s.contains("2001:db8:0:0:ffff:ffff:ffff:ffff"));
  EXPECT_FALSE(s.contains("2001:db8:0:2::1"));
  EXPECT_FALSE(s.contains("2001:db8:0:2:7fff:ffff:ffff:ffff"));
  EXPECT_TRUE(s.contains("2001:db8:0:2:8000::"));
  EXPECT_TRUE(s.contains("2001:db8:0:2:ffff:ffff:ffff:ffff"));
  EXPECT_FALSE(s.contains("2001:db8:0:3::"));
  // /63 with a host bit in the last hextet of the prefix: normalised to 2001:db8:0:2::/63.
  CidrSet t = make({"2001:db8:0:3::/63"});
  EXPECT_TRUE(t.contains("2001:db8:0:2::1"));
  EXPECT_TRUE(t.contains("2001:db8:0:3::1"));
  EXPECT_FALSE(t.contains("2001:db8:0:4::"));
}

TEST(CidrSet, MergesOverlappingAndAdjacentRanges) {
  CidrSet s = make({"10.0.1.0/24", "10.0.0.0/24", "10.0.2.0/23", "10.0.0.0/16", "10.1.0.0/16"});
  EXPECT_EQ(s.range_count(), 1u);
  EXPECT_TRUE(s.contains("10.1.255.255"));
  EXPECT_FALSE(s.contains("10.2.0.0"));
  CidrSet t = make({"255.255.255.255", "0.0.0.0", "255.255.255.254"});
  EXPECT_EQ(t.range_count(), 2u);
  EXPECT_TRUE(t.contains("255.255.255.255"));
  EXPECT_TRUE(t.contains("0.0.0.0"));
  EXPECT_FALSE(t.contains("0.0.0.1"));
}

TEST(CidrSet, RejectsInvalid) {
  CidrSet s;
  std::string err;
  for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/08", "10.0.0.0/-1",
                          "10.0.0.0/8/8", "2001:db8::/129", "2001:db8::/1000", "10.0.0/8",
                          "10.0.0.0 /8", "host.example.com", "fe80::1%eth0/64", "1.2.3.4:80"}) {
    err.clear();
    EXPECT_FALSE(s.add(bad, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(s.add("x", nullptr));
}

TEST(CidrSet, MatchesBruteForceOnRandomRules) {
  std::mt19937_64 rng(42);
  CidrSet s;
  std::vector<std::pair<uint32_t, int>> rules;
  for (int i = 0; i < 300; ++i) {
    const uint32_t a = static_cast<uint32_t>(rng()) & 0xff00ffff;  // cluster to create overlaps
    const int p = 8 + static_cast<int>(rng() % 25);
    in_addr in{htonl(a)};
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &in, buf, sizeof(buf));
    ASSERT_TRUE(s.add(std::string(buf) + "/" + std::to_string(p), nullptr));
    rules.emplace_back(a, p);
  }
  for (int i = 0; i < 20000; ++i) {
    const uint32_t a = static_cast<uint32_t>(rng()) & 0xff00ffff;
    bool expect = false;
    for (auto [r, p] : rules) {
      const uint32_t mask = ~uint32_t{0} << (32 - p);
      expect = expect || (a & mask) == (r & mask);
    }
    ASSERT_EQ(s.contains(IpAddress::v4(a)), expect) << a;
  }
}

TEST(IpRules, DenyWinsAndAllowRestricts) {
  IpRules open;
  EXPECT_TRUE(open.allows(*IpAddress::parse("8.8.8.8")));
  IpRules r;
  ASSERT_TRUE(r.allow.add("10.0.0.0/8", nullptr));
  ASSERT_TRUE(r.deny.add("10.6.0.0/16", nullptr));
  EXPECT_TRUE(r.allows(*IpAddress::parse("10.1.1.1")));
  EXPECT_FALSE(r.allows(*IpAddress::parse("10.6.1.1")));
  EXPECT_FALSE(r.allows(*IpAddress::parse("8.8.8.8")));
  IpRules deny_only;
  ASSERT_TRUE(deny_only.deny.add("2001:db8::/32", nullptr));
  EXPECT_FALSE(deny_only.allows(*IpAddress::parse("2001:db8::1")));
  EXPECT_TRUE(deny_only.allows(*IpAddress::parse("2001:db9::1")));
}

class ForwardedFor : public ::testing::Test {
 protected:
  CidrSet trusted_ = make({"10.0.0.0/8", "2001:db8:ffff::/48"});
  std::string client(std::vector<std::string_view> values) {
    IpAddress ip = *IpAddress::parse("198.51.100.99");  // sentinel
    if (!client_ip_from_forwarded_for(values, trusted_, &ip)) return "none";
    return ip.to_string();
  }
};

TEST_F(ForwardedFor, FirstUntrustedFromTheRight) {
  EXPECT_EQ(client({"203.0.113.5"}), "203.0.113.5");
  EXPECT_EQ(client({"203.0.113.5, 10.0.0.2"}), "203.0.113.5");
  EXPECT_EQ(client({"203.0.113.5, 10.0.0.2, 10.0.0.3"}), "203.0.113.5");
  // Multiple header lines are one list in order.
  EXPECT_EQ(client({"203.0.113.5", "10.0.0.2,10.0.0.3"}), "203.0.113.5");
  EXPECT_EQ(client({"[2001:db8::1]:1234, [2001:db8:ffff::9]"}), "2001:db8::1");
}

TEST_F(ForwardedFor, SpoofedLeftEntriesAreIgnored) {
  // The client wrote "1.1.1.1" itself; our proxy appended the address it really saw.
  EXPECT_EQ(client({"1.1.1.1, 203.0.113.5, 10.0.0.2"}), "203.0.113.5");
  // Even a spoofed "trusted" address cannot get past an untrusted hop.
  EXPECT_EQ(client({"10.9.9.9, 203.0.113.5, 10.0.0.2"}), "203.0.113.5");
}

TEST_F(ForwardedFor, AllTrustedGivesLeftmost) {
  EXPECT_EQ(client({"10.0.0.1, 10.0.0.2, 10.0.0.3"}), "10.0.0.1");
}

TEST_F(ForwardedFor, InvalidEntryStopsTheWalk) {
  EXPECT_EQ(client({"203.0.113.5, garbage, 10.0.0.2"}), "10.0.0.2");
  EXPECT_EQ(client({"203.0.113.5, unknown"}), "none");
  EXPECT_EQ(client({"1.2.3.4, 10.0.0.1, 10.0.0.2 junk"}), "none");
  EXPECT_EQ(client({}), "none");
  EXPECT_EQ(client({"", " , "}), "none");
  EXPECT_EQ(client({"203.0.113.5,, 10.0.0.2"}), "203.0.113.5");  // empty elements skipped
}

TEST_F(ForwardedFor, ResolveTrustsXffOnlyFromTrustedPeers) {
  const std::vector<std::string_view> xff = {"203.0.113.5, 10.0.0.2"};
  EXPECT_EQ(resolve_client_ip(*IpAddress::parse("10.0.0.3"), xff, trusted_).to_string(),
            "203.0.113.5");
  EXPECT_EQ(resolve_client_ip(*IpAddress::parse("192.0.2.1"), xff, trusted_).to_string(),
            "192.0.2.1");
  EXPECT_EQ(resolve_client_ip(*IpAddress::parse("10.0.0.3"), {}, trusted_).to_string(), "10.0.0.3");
}

}  // namespace
}  // namespace sluice::auth

namespace sluice::auth {
namespace {

TEST(FormatIpv4, EveryWidthOfOctet) {
  char buf[16];
  for (uint32_t v : {0x00000000U, 0x7f000001U, 0x0a09630cU, 0xffffffffU, 0xc0a86464U}) {
    const size_t n = format_ipv4(v, buf);
    char want[16];
    const uint32_t net = htonl(v);
    ASSERT_NE(inet_ntop(AF_INET, &net, want, sizeof(want)), nullptr);
    EXPECT_STREQ(buf, want);
    EXPECT_EQ(n, std::strlen(want));
  }
  for (uint32_t v = 0; v < 256; ++v) {  // each octet value in each place
    for (int shift = 0; shift < 32; shift += 8) {
      const uint32_t a = v << shift;
      const uint32_t net = htonl(a);
      char want[16];
      inet_ntop(AF_INET, &net, want, sizeof(want));
      format_ipv4(a, buf);
      ASSERT_STREQ(buf, want);
    }
  }
}

}  // namespace
}  // namespace sluice::auth
