// security_headers: the response headers of a security policy (HSTS, X-Content-Type-Options,
// X-Frame-Options, Referrer-Policy, Content-Security-Policy, Permissions-Policy, Server hidden
// or replaced) on every answer of the route, the gateway's own refusals included; the
// upstream's copies of those fields are dropped. Built from `security.headers` (top level or
// per route); priority 250, so a route's response_headers edits (800) come after it.
// Example:
//   security:
//     headers: { hsts: { max_age: 365d }, nosniff: true, frame_options: DENY, server: hide }
#pragma once

#include <memory>

#include "auth/security_headers.h"
#include "filter/chain.h"

namespace sluice::filters {

std::unique_ptr<filter::Filter> make_security_headers_filter(const auth::SecurityHeaders& policy);

}  // namespace sluice::filters
