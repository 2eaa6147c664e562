// cors: CORS for browsers. A preflight (OPTIONS with Origin and Access-Control-Request-Method)
// is answered here, before auth (browsers send no credentials with one): 204 with the allowed
// methods, headers and max age, or 403 for an origin, method or header the policy refuses. An
// allowed origin's actual requests get Access-Control-Allow-Origin (and -Credentials,
// -Expose-Headers) on every answer of the route; the upstream's own Access-Control-* fields are
// dropped. Built from `security.cors` (top level or per route); priority 200.
// Example:
//   security:
//     cors: { origins: ["https://app.example.com"], methods: [GET, POST], credentials: true }
#pragma once

#include <memory>

#include "auth/cors.h"
#include "filter/chain.h"

namespace sluice::filters {

std::unique_ptr<filter::Filter> make_cors_filter(auth::CorsPolicy policy);

}  // namespace sluice::filters
