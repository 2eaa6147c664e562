// The compiled credentials of a snapshot: JWT providers (policy, inline keys, the JWKS fetcher
// the gateway runs for them) and the consumers that API keys, HMAC keys and client certificates
// name. Built on the control thread with the snapshot; the auth filter and the workers only
// read them.
// Example:
//   const Credentials& c = ...;
//   if (auto it = c.by_subject.find(subject); it != c.by_subject.end()) use(*it->second);
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/api_key.h"
#include "auth/jwk.h"
#include "auth/jwks_fetcher.h"
#include "auth/jwt.h"
#include "auth/nonce_cache.h"
#include "config/config.h"

namespace sluice::auth {

struct JwtProvider {
  std::string name;
  JwtPolicy policy;
  std::shared_ptr<const KeySet> inline_keys;  // null when the config has none
  JwksFetcher* jwks = nullptr;                // owned by the gateway; null without a URL
  std::vector<config::TokenSource> from;
  std::vector<std::pair<std::string, std::string>> forward_claims;  // header → claim
};

struct Consumer {
  std::string name;
  std::vector<std::string> roles;
};

struct Credentials {
  std::vector<std::unique_ptr<JwtProvider>> providers;
  std::vector<Consumer> consumers;
  ApiKeyTable api_keys;  // digest → consumer name
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
  ByName<const Consumer*> by_subject;  // client certificate subject →
  std::shared_ptr<NonceCache> nonces;  // shared across reloads and workers
};

}  // namespace sluice::auth
