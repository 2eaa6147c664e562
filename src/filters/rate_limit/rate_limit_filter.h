// rate_limit: the route's rate-limit policies, in order. Each counts a key (client IP, a header,
// a query parameter, the route, the consumer, a JWT claim; a request without the key is not
// limited by that policy) on this instance (local, exact across workers) or across the cluster
// (Redis leases; a request may pause until its worker's lease arrives). The first policy that
// denies answers 429 with Retry-After; a cluster policy whose store is unavailable answers 503
// unless redis.fail_open. Every answer of a limited request, the gateway's own included, carries
// RateLimit-Limit/-Remaining/-Reset/-Policy of the tightest policy. Priority 500: after auth and
// RBAC (keys may name the consumer), before transforms. A route's `rate_limits:` builds it.
// Example:
//   rate_limits:
//     - { name: per-ip, key: client_ip, limit: 100, period: 1s }
#pragma once

#include <memory>
#include <vector>

#include "filter/filter.h"
#include "limits/rate_policy.h"

namespace sluice::filters {

// policies: the route's, shared with its proxy::Route (a chain may outlive the snapshot it was
// built for: a reload that does not change the route takes it as it is).
// fail_open: a cluster policy whose store is unavailable lets the request through.
std::unique_ptr<filter::Filter> make_rate_limit_filter(
    std::shared_ptr<const std::vector<limits::RatePolicy>> policies, bool fail_open);

}  // namespace sluice::filters
