// See ip_rules_filter.h.
#include "filters/ip_rules/ip_rules_filter.h"

#include <string>
#include <utility>

#include "config/reader.h"
#include "filter/context.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

class IpRulesFilter final : public filter::Filter {
 public:
  explicit IpRulesFilter(auth::IpRules rules) : rules_(std::move(rules)) {}
  uint8_t phases() const override { return filter::phase_bit(Phase::kRequestHeaders); }
  Status on_request_headers(Context& ctx) const override {
    if (rules_.allows(ctx.client_address())) return Status::kContinue;
    ctx.refuse(403, "address not allowed", filter::Refusal::kAddress);
    return Status::kRespond;
  }

 private:
  auth::IpRules rules_;
};

std::unique_ptr<filter::Filter> build(config::Reader& r, const config::Item& item,
                                      const filter::BuildContext& /*bc*/) {
  std::optional<config::MapItem> m = filter::filter_map(r, item, {"allow", "deny"});
  if (!m) return nullptr;
  const size_t errors = r.errors().size();
  auth::IpRules rules;
  for (const char* key : {"allow", "deny"}) {
    const config::Item* it = m->get(key);
    if (it == nullptr) continue;
    for (const config::Item& e : r.list_or_one(*it)) {
      std::optional<std::string> cidr = r.string(e);
      if (!cidr) continue;
      std::string why;
      auth::CidrSet& set = std::string_view(key) == "allow" ? rules.allow : rules.deny;
      if (!set.add(*cidr, &why)) r.error(e.mark, e.path, why);
    }
  }
  if (m->get("allow") == nullptr && m->get("deny") == nullptr) {
    r.error(item.mark, item.path, "give 'allow', 'deny' or both");
  }
  if (r.errors().size() != errors) return nullptr;
  return make_ip_rules_filter(std::move(rules));
}

}  // namespace

std::unique_ptr<filter::Filter> make_ip_rules_filter(auth::IpRules rules) {
  return std::make_unique<IpRulesFilter>(std::move(rules));
}

const filter::Factory kIpRulesFactory{"ip_rules", filter::priority::kIpRules, &build};

}  // namespace sluice::filters
