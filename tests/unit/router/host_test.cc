#include "router/host.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::router {
namespace {

TEST(HostName, StripsPortAndTrailingDot) {
  EXPECT_EQ(host_name("example.com"), "example.com");
  EXPECT_EQ(host_name("Example.COM:8080"), "Example.COM");
  EXPECT_EQ(host_name("example.com."), "example.com");
  EXPECT_EQ(host_name("example.com.:80"), "example.com");
  EXPECT_EQ(host_name("[::1]:80"), "[::1]");
  EXPECT_EQ(host_name("[2001:db8::1]"), "[2001:db8::1]");
  EXPECT_EQ(host_name("[::1"), "[::1");  // malformed: left alone, matches nothing configured
  EXPECT_EQ(host_name(""), "");
  EXPECT_EQ(host_name(":80"), "");
  EXPECT_EQ(host_name("a-long-host-name.example.com:8443"), "a-long-host-name.example.com");
}

TEST(HostMap, FindsCaseInsensitively) {
  HostMap m;
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.find("x"), HostMap::kNone);
  m.insert("api.example.com", 1);
  m.insert("a", 2);
  m.insert("a-very-long-host-name.with.many.labels.example.org", 3);
  m.insert("api.example.com", 9);  // first value stays
  EXPECT_FALSE(m.empty());
  EXPECT_EQ(m.find("api.example.com"), 1u);
  EXPECT_EQ(m.find("API.EXAMPLE.COM"), 1u);
  EXPECT_EQ(m.find("A"), 2u);
  EXPECT_EQ(m.find("A-Very-Long-Host-Name.With.Many.Labels.Example.ORG"), 3u);
  EXPECT_EQ(m.find("api.example.co"), HostMap::kNone);
  EXPECT_EQ(m.find("api.example.coM2"), HostMap::kNone);
  m.insert("a`b", 4);
  EXPECT_EQ(m.find("a`b"), 4u);
  EXPECT_EQ(m.find("a@b"), HostMap::kNone);  // '@' | 0x20 == '`': same hash, but not equal
  EXPECT_EQ(m.find(""), HostMap::kNone);
  EXPECT_EQ(m.lengths(), (std::vector<uint32_t>{50, 15, 3, 1}));
}

TEST(HostMap, GrowsWithManyNames) {
  HostMap m;
  for (uint32_t i = 0; i < 5000; ++i) m.insert("h" + std::to_string(i) + ".example.com", i);
  for (uint32_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(m.find("H" + std::to_string(i) + ".Example.com"), i);
  }
  EXPECT_EQ(m.find("h5000.example.com"), HostMap::kNone);
  std::string long_name(300, 'x');
  m.insert(long_name, 7);
  EXPECT_EQ(m.find(long_name), 7u);
  EXPECT_EQ(m.find(std::string(301, 'x')), HostMap::kNone);
}

}  // namespace
}  // namespace sluice::router
