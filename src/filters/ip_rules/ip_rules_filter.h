// ip_rules: allow and deny lists of CIDR blocks for the client address (after
// client_ip.trusted_proxies); deny wins, a non-empty allow list admits only its blocks. A refused
// request gets 403 "address not allowed". The first filter of the chain (priority 100), before
// CORS and auth. `security.ip_rules` (top level or per route) builds the same filter.
// Example:
//   filters:
//     ip_rules: { allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.0.0.13/32] }
#pragma once

#include <memory>

#include "auth/cidr.h"
#include "filter/chain.h"

namespace sluice::filters {

extern const filter::Factory kIpRulesFactory;

// The filter for rules compiled elsewhere (the `security.ip_rules` alias).
std::unique_ptr<filter::Filter> make_ip_rules_filter(auth::IpRules rules);

}  // namespace sluice::filters
