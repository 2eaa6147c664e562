// See rbac_filter.h.
#include "filters/rbac/rbac_filter.h"

#include <algorithm>
#include <utility>

#include "filter/context.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

class RbacFilter final : public filter::Filter {
 public:
  explicit RbacFilter(RbacPolicy policy) : policy_(std::move(policy)) {}
  uint8_t phases() const override { return filter::phase_bit(Phase::kRequestHeaders); }
  // A token's roles are read from its claims.
  bool reads_claims() const override { return true; }

  Status on_request_headers(Context& ctx) const override {
    const std::vector<std::string>& by_method =
        policy_.method_roles[static_cast<size_t>(ctx.head().method)];
    const std::vector<std::string>& needed = by_method.empty() ? policy_.roles : by_method;
    if (needed.empty()) return Status::kContinue;
    for (const std::string& r : ctx.roles()) {
      if (std::find(needed.begin(), needed.end(), r) != needed.end()) return Status::kContinue;
    }
    if (!ctx.identified()) {  // optional auth and no credential: say how to authenticate
      ctx.refuse(401, "missing credentials", filter::Refusal::kForbidden);
      ctx.add_answer_header("WWW-Authenticate", "Bearer realm=\"sluice\"");
    } else {
      ctx.refuse(403, "forbidden", filter::Refusal::kForbidden);
    }
    return Status::kRespond;
  }

 private:
  RbacPolicy policy_;
};

}  // namespace

bool RbacPolicy::empty() const {
  return roles.empty() && std::all_of(method_roles.begin(), method_roles.end(),
                                      [](const auto& r) { return r.empty(); });
}

std::unique_ptr<filter::Filter> make_rbac_filter(RbacPolicy policy) {
  return std::make_unique<RbacFilter>(std::move(policy));
}

}  // namespace sluice::filters
