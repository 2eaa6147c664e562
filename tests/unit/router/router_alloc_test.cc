// match() must not allocate: count every operator new while it runs.
#include <gtest/gtest.h>

#include "../alloc_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "router/path.h"
#include "router/router.h"

namespace sluice::router {
namespace {

TEST(RouterAlloc, MatchDoesNotAllocate) {
  std::vector<RouteSpec> specs;
  for (int i = 0; i < 200; ++i) {
    const std::string s = std::to_string(i);
    specs.push_back({"items" + s, "/api/v1/svc" + s + "/items/{id}/parts", 0, "", {}, 0});
    specs.push_back({"files" + s, "/static/svc" + s + "/{*rest}", 0, "*.example.com", {}, 0});
    specs.push_back({"get" + s,
                     "/api/v1/svc" + s + "/health",
                     http::method_bit(http::Method::kGet),
                     "api.example.com",
                     {{"x-canary", "1"}},
                     0});
  }
  std::vector<RouterError> errors;
  auto router = Router::build(std::move(specs), &errors);
  ASSERT_NE(router, nullptr);
  const std::vector<http::Header> headers = {{"Host", "api.example.com"}, {"X-Canary", "1"}};
  const std::string long_path = "/static/svc7/" + std::string(1000, 'x') + "/a/b/c";
  struct Case {
    std::string_view host;
    http::Method method;
    std::string_view path;
    MatchStatus want;
  };
  const Case cases[] = {
      {"api.example.com", http::Method::kGet, "/api/v1/svc17/items/42/parts", MatchStatus::kFound},
      {"API.EXAMPLE.COM:443", http::Method::kGet, "/api/v1/svc17/health", MatchStatus::kFound},
      {"api.example.com", http::Method::kPost, "/api/v1/svc17/health",
       MatchStatus::kMethodNotAllowed},
      {"cdn.example.com", http::Method::kGet, long_path, MatchStatus::kFound},
      {"", http::Method::kGet, "/nope", MatchStatus::kNotFound},
  };
  for (const Case& c : cases) {
    const long before = sluice::testing::allocations();
    const MatchResult m = router->match(c.host, c.method, c.path, headers);
    const long after = sluice::testing::allocations();
    EXPECT_EQ(after, before) << c.path;
    EXPECT_EQ(m.status, c.want) << c.path;
  }
}

TEST(RouterAlloc, NormalizeFastPathAndWarmScratchDoNotAllocate) {
  std::string scratch;
  scratch.reserve(256);
  bool ok = false;
  const long before = sluice::testing::allocations();
  EXPECT_EQ(normalize_path("/api/v1/items/42", scratch, &ok), "/api/v1/items/42");
  EXPECT_EQ(normalize_path("/api/%7Ev1/./items/../42", scratch, &ok), "/api/~v1/42");
  EXPECT_EQ(sluice::testing::allocations(), before);
}

}  // namespace
}  // namespace sluice::router
