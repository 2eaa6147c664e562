// The edge-security filters of a snapshot, compiled from config: JWT providers (policy, inline
// keys, the JWKS fetcher the gateway runs for them), the consumers that API keys and HMAC keys
// name, and per route the IP rules, CORS policy, security headers, auth and RBAC policies. Built
// on the control thread with the snapshot; workers only read it.
// Example:
//   std::vector<config::ConfigError> errors;
//   auto sec = compile_security(cfg, registry, &errors);   // null when errors is not empty
//   const RouteSecurity& rs = sec->routes[route_index];
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/api_key.h"
#include "auth/cidr.h"
#include "auth/cors.h"
#include "auth/credentials.h"
#include "auth/jwk.h"
#include "auth/jwks_fetcher.h"
#include "auth/jwt.h"
#include "auth/nonce_cache.h"
#include "auth/security_headers.h"
#include "config/config.h"
#include "filters/auth/auth_filter.h"
#include "filters/rbac/rbac_filter.h"
#include "http/method.h"

namespace sluice::proxy {

class RuntimeRegistry;

using JwtProvider = auth::JwtProvider;
using Consumer = auth::Consumer;

struct RouteSecurity {
  // Compiled here, then moved by build_snapshot into the route's chain as the ip_rules, cors,
  // security_headers, auth and rbac filters: empty in a published snapshot.
  std::optional<auth::IpRules> ip_rules;
  std::optional<auth::CorsPolicy> cors;
  std::optional<auth::SecurityHeaders> headers;
  std::optional<filters::AuthPolicy> auth;
  filters::RbacPolicy rbac;
  bool rbac_from_default = false;  // the roles came from the top-level defaults
};

struct SecurityTables : auth::Credentials {
  // By route index while the snapshot is built (null for a route compiled already); released
  // once moved into the chains.
  std::vector<std::unique_ptr<RouteSecurity>> routes;
  std::optional<auth::SecurityHeaders> default_headers;  // `security.headers`: also on 404/405
  // Request headers the gateway sets upstream (x-consumer, forwarded claims of any provider):
  // removed from the client's request on every route.
  std::vector<std::string> owned_headers;
};

// Resolves a JWKS fetcher for a URL and its refresh settings (the gateway's; kept across
// reloads so keys and caches survive).
using JwksLookup =
    std::function<auth::JwksFetcher*(const config::JwtProviderConfig& p, std::string* error)>;

// Mutable until published: the snapshot moves the IP rules into the routes' chains.
std::shared_ptr<SecurityTables> compile_security(const config::Config& cfg,
                                                 std::shared_ptr<auth::NonceCache> nonces,
                                                 const JwksLookup& jwks,
                                                 std::vector<config::ConfigError>* errors);

}  // namespace sluice::proxy
