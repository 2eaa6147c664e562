// rbac: the roles a request's principal needs. The method's roles if it has any, else the
// route's; the consumer (or the token's roles claim) needs one of them. No identity (optional
// auth without a credential) gets 401 with a Bearer challenge; an identity without a needed
// role gets 403. Priority 400: after auth, before rate limits. `security.auth.roles` and
// `security.auth.method_roles` build it, and `filters.rbac: { roles, method_roles }`.
// Example:
//   security:
//     auth: { jwt: [corp], roles: [reader], method_roles: { DELETE: [admin] } }
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "filter/filter.h"
#include "http/method.h"

namespace sluice::filters {

struct RbacPolicy {
  std::vector<std::string> roles;                                         // any of them
  std::array<std::vector<std::string>, http::kMethodCount> method_roles;  // overrides `roles`
  bool empty() const;
};

std::unique_ptr<filter::Filter> make_rbac_filter(RbacPolicy policy);

}  // namespace sluice::filters
