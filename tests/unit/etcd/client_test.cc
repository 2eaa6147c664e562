// etcd's wire pieces: base64 both ways (every padding case), range ends of prefixes. The client
// and the source against a real etcd are exercised by tests/integration/test_75_etcd.py.
#include "etcd/client.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::etcd {
namespace {

TEST(EtcdBase64, RoundTripsEveryPadding) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    const std::string enc = base64_encode(s);
    EXPECT_EQ(enc.size() % 4, 0u) << enc;
    std::optional<std::string> dec = base64_decode(enc);
    ASSERT_TRUE(dec.has_value()) << enc;
    EXPECT_EQ(*dec, s);
  }
  EXPECT_EQ(base64_encode("/sluice/routes/a"), "L3NsdWljZS9yb3V0ZXMvYQ==");
  EXPECT_FALSE(base64_decode("abc").has_value());
  EXPECT_FALSE(base64_decode("a*c=").has_value());
}

TEST(EtcdPrefixEnd, IncrementsTheLastByteThatCan) {
  EXPECT_EQ(prefix_end("/sluice/"), "/sluice0");
  EXPECT_EQ(prefix_end("a\xff"), "b");
  EXPECT_EQ(prefix_end(std::string("\xff\xff", 2)), std::string(1, '\0'));
}

TEST(EtcdClient, AnUnreachableEndpointFailsWithinTheTimeout) {
  EtcdClient c({{"127.0.0.1", 1}}, 500);
  std::string err;
  EXPECT_FALSE(c.range_prefix("/x/", &err).has_value());
  EXPECT_NE(err.find("127.0.0.1:1"), std::string::npos) << err;
}

}  // namespace
}  // namespace sluice::etcd
