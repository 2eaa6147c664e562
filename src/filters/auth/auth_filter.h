// auth: who the client is. In the order tried: an HMAC request signature (SLUICE-HMAC-SHA256),
// a JWT of one of the route's providers (each looks in its own places; the first token found is
// verified by every provider that found one until one accepts it), an API key, a verified TLS
// client certificate whose subject names a consumer. The identity (consumer name and roles, or
// the token's sub and claims) goes into the context for RBAC, rate-limit keys and templates;
// `x-consumer` and the providers' forwarded claims go upstream. A bad credential is refused
// (401 with a WWW-Authenticate challenge; 403 for an unknown client certificate); no credential
// is refused unless the policy is optional. A signed request's body is read whole (up to
// hmac_max_body) and checked against the signed digest before any byte goes upstream.
// Priority 300: after ip_rules and CORS, before RBAC and rate limits. `security.auth` (top
// level or per route) and `filters.auth` build it.
// Example:
//   security:
//     auth: { jwt: [corp], api_key: true, optional: false }
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "auth/credentials.h"
#include "config/config.h"
#include "filter/filter.h"

namespace sluice::filters {

struct AuthPolicy {
  std::vector<const auth::JwtProvider*> jwt;
  bool api_key = false;
  config::TokenSource api_key_from;
  bool hmac = false;
  bool client_cert = false;
  uint64_t hmac_window_s = 300;
  uint64_t hmac_max_body_bytes = 1 << 20;
  bool optional = false;  // requests without any credential pass (a bad one is still refused)
};

// credentials: the snapshot's consumers, keys and providers (the policy's pointers are theirs).
std::unique_ptr<filter::Filter> make_auth_filter(AuthPolicy policy,
                                                 std::shared_ptr<const auth::Credentials> creds);

}  // namespace sluice::filters
