// rbac: the principal needs one of the method's roles, else one of the route's; an identity
// without one is a 403, no identity a 401 with a Bearer challenge; a token's roles count only
// when its claims were kept (the filter says it reads them).
#include "filters/rbac/rbac_filter.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../../fake_services.h"
#include "auth/jwt.h"
#include "filter/context.h"

namespace sluice::filters {
namespace {

using filter::Phase;
using filter::Refusal;
using filter::Status;
using testing::FakeServices;
using testing::FilterRequest;

class RbacFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RbacPolicy p;
    p.roles = {"reader", "writer"};
    p.method_roles[static_cast<size_t>(http::Method::kDelete)] = {"admin"};
    EXPECT_FALSE(p.empty());
    filter_ = make_rbac_filter(std::move(p));
  }
  void begin(const std::string& method) {
    req_.begin(method + " /docs HTTP/1.1\r\nHost: x\r\n\r\n", &svc_, filter_->state_size());
  }
  Status run() { return filter_->on_request_headers(req_.ctx); }
  filter::Context& ctx() { return req_.ctx; }

  FakeServices svc_;
  std::unique_ptr<filter::Filter> filter_;
  FilterRequest req_;
  const std::vector<std::string> reader_{"reader"};
  const std::vector<std::string> admin_{"admin"};
  const std::vector<std::string> none_{};
};

TEST_F(RbacFilterTest, Shape) {
  EXPECT_EQ(filter_->phases(), filter::phase_bit(Phase::kRequestHeaders));
  EXPECT_TRUE(filter_->reads_claims());
  EXPECT_TRUE(RbacPolicy{}.empty());
  RbacPolicy only_method;
  only_method.method_roles[static_cast<size_t>(http::Method::kPost)] = {"w"};
  EXPECT_FALSE(only_method.empty());
}

TEST_F(RbacFilterTest, RoleMatches) {
  begin("GET");
  ctx().set_consumer("alice", reader_);
  EXPECT_EQ(run(), Status::kContinue);
  EXPECT_EQ(ctx().answer_status(), 0);
  EXPECT_EQ(ctx().refusal(), Refusal::kNone);
}

TEST_F(RbacFilterTest, MethodRolesOverrideRouteRoles) {
  // DELETE needs admin: the route's reader is not enough.
  begin("DELETE");
  ctx().set_consumer("alice", reader_);
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 403);
  EXPECT_STREQ(ctx().answer_reason(), "forbidden");
  EXPECT_EQ(ctx().refusal(), Refusal::kForbidden);

  begin("DELETE");
  ctx().set_consumer("root", admin_);
  EXPECT_EQ(run(), Status::kContinue);

  // Other methods need the route's roles, which admin does not have.
  begin("GET");
  ctx().set_consumer("root", admin_);
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 403);
}

TEST_F(RbacFilterTest, IdentifiedWithoutRole) {
  begin("POST");
  ctx().set_consumer("nobody", none_);
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 403);
  EXPECT_STREQ(ctx().answer_reason(), "forbidden");
  EXPECT_EQ(ctx().refusal(), Refusal::kForbidden);
  EXPECT_EQ(ctx().answer_lines(), "");  // no challenge: authenticating again would not help
}

TEST_F(RbacFilterTest, NotIdentified) {
  begin("GET");
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
  EXPECT_STREQ(ctx().answer_reason(), "missing credentials");
  EXPECT_EQ(ctx().answer_lines(), "WWW-Authenticate: Bearer realm=\"sluice\"\r\n");
}

TEST_F(RbacFilterTest, TokenRoles) {
  auth::JwtClaims claims;
  claims.sub = "u1";
  claims.roles = {"viewer", "writer"};
  // Kept claims: the token's roles count.
  begin("PUT");
  ctx().set_keep_claims(true);
  ctx().set_token(claims);
  EXPECT_EQ(run(), Status::kContinue);
  // Not kept: the token identifies but brings no roles.
  begin("PUT");
  ctx().set_token(claims);
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 403);
}

TEST_F(RbacFilterTest, NoRolesNeeded) {
  RbacPolicy p;
  p.method_roles[static_cast<size_t>(http::Method::kDelete)] = {"admin"};
  filter_ = make_rbac_filter(std::move(p));
  begin("GET");  // no route roles: anyone, identified or not
  EXPECT_EQ(run(), Status::kContinue);
  begin("DELETE");
  ASSERT_EQ(run(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
}

}  // namespace
}  // namespace sluice::filters
