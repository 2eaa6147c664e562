// The edge-security filters of a snapshot, compiled from config: JWT providers (policy, inline
// keys, the JWKS fetcher the gateway runs for them), the consumers that API keys and HMAC keys
// name, and per route the IP rules, CORS policy, security headers and auth requirements. Built
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
#include "auth/jwk.h"
#include "auth/jwks_fetcher.h"
#include "auth/jwt.h"
#include "auth/nonce_cache.h"
#include "auth/security_headers.h"
#include "config/config.h"
#include "http/method.h"

namespace sluice::proxy {

class RuntimeRegistry;

struct JwtProvider {
  std::string name;
  auth::JwtPolicy policy;
  std::shared_ptr<const auth::KeySet> inline_keys;  // null when the config has none
  auth::JwksFetcher* jwks = nullptr;                // owned by the gateway; null without a URL
  std::vector<config::TokenSource> from;
  std::vector<std::pair<std::string, std::string>> forward_claims;  // header → claim
};

struct Consumer {
  std::string name;
  std::vector<std::string> roles;
};

struct RouteSecurity {
  // Compiled here, then moved by build_snapshot into the route's chain as the ip_rules, cors and
  // security_headers filters: empty in a published snapshot.
  std::optional<auth::IpRules> ip_rules;
  std::optional<auth::CorsPolicy> cors;
  std::optional<auth::SecurityHeaders> headers;
  // Auth.
  bool auth = false;
  std::vector<const JwtProvider*> jwt;
  bool api_key = false;
  config::TokenSource api_key_from;
  bool hmac = false;
  bool client_cert = false;
  uint64_t hmac_window_s = 300;
  uint64_t hmac_max_body_bytes = 1 << 20;
  bool optional = false;
  bool needs_claims = false;       // a rate limit of the route is keyed by a JWT claim
  std::vector<std::string> roles;  // any of them; empty = none needed
  std::array<std::vector<std::string>, http::kMethodCount> method_roles;  // overrides `roles`
  bool has_method_roles = false;
  // Request headers the gateway sets upstream (x-consumer, forwarded claims of any provider):
  // removed from the client's request on every route.
  std::vector<std::string> owned_headers;
};

struct SecurityTables {
  std::vector<std::unique_ptr<JwtProvider>> providers;
  std::vector<Consumer> consumers;
  auth::ApiKeyTable api_keys;  // digest → consumer name
  struct HmacKey {
    std::string secret;
    const Consumer* consumer;
  };
  // Looked up with the string_views of a request, without copying them.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using ByName = std::unordered_map<std::string, V, Hash, std::equal_to<>>;
  ByName<HmacKey> hmac_keys;  // key id →
  ByName<const Consumer*> by_name;
  ByName<const Consumer*> by_subject;                    // client certificate subject →
  std::vector<RouteSecurity> routes;                     // by route index
  std::optional<auth::SecurityHeaders> default_headers;  // `security.headers`: also on 404/405
  std::shared_ptr<auth::NonceCache> nonces;              // shared across reloads and workers
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
