#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "config/config.h"
#include "config/scalars.h"

namespace sluice::config {
namespace {

TEST(Duration, Units) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250u);
  EXPECT_EQ(parse_duration_ms("10s"), 10000u);
  EXPECT_EQ(parse_duration_ms("5m"), 300000u);
  EXPECT_EQ(parse_duration_ms("1h"), 3600000u);
  EXPECT_EQ(parse_duration_ms("365d"), 31536000000u);
  EXPECT_EQ(parse_duration_ms("1500"), 1500u);  // plain number = milliseconds
  EXPECT_EQ(parse_duration_ms("0"), 0u);        // syntax is fine; the loader rejects 0
  EXPECT_EQ(parse_duration_ms("007s"), 7000u);
}

TEST(Duration, Invalid) {
  for (const char* bad : {"", "abc", "s", "10 s", " 10s", "10s ", "-5s", "+5s", "1.5s", "10S",
                          "10sec", "10D", "10ms5", "0x10", "1_000", "1e3", "ms"}) {
    EXPECT_EQ(parse_duration_ms(bad), std::nullopt) << bad;
  }
}

TEST(Duration, Overflow) {
  EXPECT_EQ(parse_duration_ms("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_duration_ms("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_duration_ms("99999999999999999999999"), std::nullopt);
  // fits as a number, overflows once multiplied by the unit
  EXPECT_EQ(parse_duration_ms("18446744073709551s"), uint64_t{18446744073709551000u});
  EXPECT_EQ(parse_duration_ms("18446744073709552s"), std::nullopt);
  EXPECT_EQ(parse_duration_ms("5124095576030431h"), std::nullopt);
  EXPECT_EQ(parse_duration_ms("5124095576030h"), uint64_t{5124095576030} * 3600000);
}

TEST(Size, Units) {
  EXPECT_EQ(parse_size_bytes("123"), 123u);
  EXPECT_EQ(parse_size_bytes("0"), 0u);
  EXPECT_EQ(parse_size_bytes("64KiB"), 64u * 1024);
  EXPECT_EQ(parse_size_bytes("1MiB"), 1024u * 1024);
  EXPECT_EQ(parse_size_bytes("1GiB"), uint64_t{1} << 30);
  EXPECT_EQ(parse_size_bytes("512KB"), 512000u);
  EXPECT_EQ(parse_size_bytes("1MB"), 1000000u);
  EXPECT_EQ(parse_size_bytes("1GB"), 1000000000u);
  EXPECT_EQ(parse_size_bytes("16MiB"), 16u << 20);
}

TEST(Size, Invalid) {
  for (const char* bad : {"", "abc", "KiB", "64 KiB", "64kib", "64K", "64kb", "1TiB", "1.5MiB",
                          "-1", "+1", "64KiBs", "0x40", " 1"}) {
    EXPECT_EQ(parse_size_bytes(bad), std::nullopt) << bad;
  }
}

TEST(Size, Overflow) {
  EXPECT_EQ(parse_size_bytes("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_size_bytes("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_size_bytes("17179869184GiB"), std::nullopt);  // 2^34 GiB = 2^64
  EXPECT_EQ(parse_size_bytes("17179869183GiB"), uint64_t{17179869183} << 30);
  EXPECT_EQ(parse_size_bytes("18446744073709552KB"), std::nullopt);
}

TEST(Address, Ipv4) {
  std::optional<Address> a = parse_address("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->text, "127.0.0.1:8080");
}

TEST(Address, Ipv6) {
  std::optional<Address> a = parse_address("[::1]:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->text, "[::1]:8080");
  a = parse_address("[2001:db8::7]:443");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "2001:db8::7");
  EXPECT_EQ(a->port, 443);
  a = parse_address("[::]:1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::");
  EXPECT_EQ(a->port, 1);
  a = parse_address("[::ffff:10.0.0.1]:65535");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::ffff:10.0.0.1");
  EXPECT_EQ(a->port, 65535);
}

TEST(Address, NamesAndAny) {
  std::optional<Address> a = parse_address("localhost:80");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 80);
  a = parse_address(":8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "");
  EXPECT_EQ(a->port, 8080);
  a = parse_address("*:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "");  // "*" and "" both mean any address
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->text, "*:8080");
  a = parse_address("Users.Internal-1.example:9001");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "users.internal-1.example");  // host names are case-insensitive
}

TEST(Address, Invalid) {
  for (const char* bad : {"",
                          "127.0.0.1",
                          "localhost",
                          "127.0.0.1:",
                          "127.0.0.1:0",
                          "127.0.0.1:65536",
                          "127.0.0.1:99999999",
                          "127.0.0.1:-1",
                          "127.0.0.1:http",
                          "127.0.0.1:80x",
                          "::1:8080",
                          "[::1]",
                          "[::1]8080",
                          "[::1:8080",
                          "[]:80",
                          "[not-v6]:80",
                          "[127.0.0.1]:80",
                          "999.1.1.1:80",
                          "1.2.3:80",
                          "bad host:80",
                          "-x.example:80",
                          "a..b:80",
                          "host.:80",
                          "**:80",
                          "a/b:80",
                          ":",
                          "[::1]:",
                          "127.0.0.1: 80"}) {
    EXPECT_EQ(parse_address(bad), std::nullopt) << bad;
  }
}

TEST(Address, Reasons) {
  std::string why;
  EXPECT_FALSE(parse_address_why("127.0.0.1", &why));
  EXPECT_EQ(why, "missing port (expected host:port)");
  EXPECT_FALSE(parse_address_why("::1:80", &why));
  EXPECT_EQ(why, "an IPv6 address needs brackets, like [::1]:8080");
  EXPECT_FALSE(parse_address_why("h:0", &why));
  EXPECT_EQ(why, "port must be a number from 1 to 65535");
  EXPECT_FALSE(parse_address_why("[zz]:80", &why));
  EXPECT_EQ(why, "invalid IPv6 address 'zz'");
}

TEST(Scalars, Tokens) {
  EXPECT_TRUE(is_token("GET"));
  EXPECT_TRUE(is_token("x-tenant"));
  EXPECT_TRUE(is_token("M-SEARCH"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("GE T"));
  EXPECT_FALSE(is_token("a:b"));
  EXPECT_FALSE(is_token("caf\xc3\xa9"));
}

TEST(Scalars, HostNames) {
  EXPECT_TRUE(is_host_name("api.example.com"));
  EXPECT_TRUE(is_host_name("10.0.0.1"));
  EXPECT_TRUE(is_host_name("a"));
  EXPECT_FALSE(is_host_name(""));
  EXPECT_FALSE(is_host_name("-a.com"));
  EXPECT_FALSE(is_host_name("a-.com"));
  EXPECT_FALSE(is_host_name(std::string(64, 'a') + ".com"));
  EXPECT_TRUE(is_host_name(std::string(63, 'a') + ".com"));
  EXPECT_FALSE(is_host_name("1.2.3.256"));
  EXPECT_TRUE(is_ip_literal("::1"));
  EXPECT_TRUE(is_ip_literal("10.1.2.3"));
  EXPECT_FALSE(is_ip_literal("localhost"));
}

TEST(Address, TargetHostNames) {
  // Upstream targets may name hosts that DNS resolves at run time.
  for (const char* text : {"users-1.internal:8080", "svc_a.ns.svc.cluster.local:80", "db:5432",
                           "UPPER.Example.COM:443"}) {
    const std::optional<Address> a = parse_address(text);
    ASSERT_TRUE(a.has_value()) << text;
  }
  EXPECT_EQ(parse_address("UPPER.Example.COM:443")->host, "upper.example.com");
  EXPECT_EQ(parse_address("-bad.internal:80"), std::nullopt);
  EXPECT_EQ(parse_address("a..b:80"), std::nullopt);
}

TEST(StatusRange, Syntax) {
  EXPECT_EQ(parse_status_range("304"), (std::pair<int, int>(304, 304)));
  EXPECT_EQ(parse_status_range("200-299"), (std::pair<int, int>(200, 299)));
  EXPECT_EQ(parse_status_range("299-200"), (std::pair<int, int>(299, 200)));  // caller checks
  EXPECT_EQ(parse_status_range("99"), (std::pair<int, int>(99, 99)));         // caller checks
  for (const char* bad : {"", "-", "200-", "-299", "200-299-300", "2000", "200 - 299", "20x",
                          "+200", "200..299", "0x1f"}) {
    EXPECT_EQ(parse_status_range(bad), std::nullopt) << bad;
  }
}

TEST(Percent, Syntax) {
  EXPECT_EQ(parse_percent("50%"), 50u);
  EXPECT_EQ(parse_percent("50"), 50u);
  EXPECT_EQ(parse_percent("0"), 0u);
  EXPECT_EQ(parse_percent("100%"), 100u);
  EXPECT_EQ(parse_percent("1000"), 1000u);  // caller checks the range
  for (const char* bad : {"", "%", "50%%", "5 0", "-5", "+5", "50.5", "%50", "1234567890"}) {
    EXPECT_EQ(parse_percent(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace sluice::config
