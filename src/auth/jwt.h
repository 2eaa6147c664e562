// JWS-signed JWT verification (RFC 7515/7519/7518, compact serialization) against a KeySet,
// with the checks a gateway needs: an allow-list of algorithms, no "none", no algorithm
// confusion (the key's type and own "alg" must match the token's), kid selection, exp/nbf/iat
// with clock skew, iss and aud allow-lists, required claims. Nothing here throws or blocks.
// JwtCache remembers successful verifications per worker so a token that is presented again
// costs a SHA-256 instead of an RSA/ECDSA verification.
// Example:
//   JwtPolicy policy;  policy.issuers = {"https://idp"};  policy.audiences = {"api"};
//   JwtResult r = verify_jwt(bearer_token, *keys, policy, now_unix_s);
//   if (!r.ok) {
//     if (r.error == JwtError::kUnknownKid) fetcher.request_refresh();
//     return respond(401, r.reason);
//   }
//   use(r.claims.sub, r.claim_string("tenant"));
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/jwk.h"

namespace sluice::auth {

struct JwtPolicy {
  // Allowed "alg" values. Empty: every supported asymmetric algorithm, plus HS256/384/512 when
  // the KeySet holds a secret.
  std::vector<std::string> algorithms;
  std::vector<std::string> issuers;    // "iss" must be one of these (when non-empty)
  std::vector<std::string> audiences;  // one "aud" entry must be one of these (when non-empty)
  std::vector<std::string> required_claims;  // must be present, any type
  std::string roles_claim = "roles";         // a string (space-separated) or an array of strings
  uint64_t clock_skew_s = 60;
  uint64_t max_token_bytes = 8192;
  bool require_exp = true;
};

enum class JwtError : uint8_t {
  kNone,
  kMalformed,
  kUnsupportedAlg,
  kAlgNone,
  kAlgMismatch,
  kUnknownKid,
  kBadSignature,
  kExpired,
  kNotYetValid,
  kBadIssuer,
  kBadAudience,
  kMissingClaim,
  kTooLarge,
};

std::string_view jwt_error_name(JwtError e);

// True for the "alg" values verify_jwt implements (HS/RS/PS 256/384/512, ES256/384/512, EdDSA).
bool jwt_algorithm_supported(std::string_view alg);
// For config validation: every listed algorithm is supported (so "none" is refused), and the
// limits are usable. False with *error saying what is wrong.
bool validate_jwt_policy(const JwtPolicy& policy, std::string* error);

// What a verified token says, copied out of it (so it outlives the token's buffer and can be
// cached). Times are Unix seconds, 0 when absent.
struct JwtClaims {
  std::string sub;
  std::string iss;
  std::vector<std::string> aud;
  uint64_t exp = 0;
  uint64_t nbf = 0;
  uint64_t iat = 0;
  std::vector<std::string> roles;
  // Every top-level claim whose value is a string, sorted by name.
  std::vector<std::pair<std::string, std::string>> strings;
};

struct JwtResult {
  bool ok = false;
  JwtError error = JwtError::kNone;
  // A fixed text, safe to send to the client: never a secret, key material or token content.
  std::string_view reason;
  std::string kid;  // the token's kid (also on failure, e.g. kUnknownKid, to trigger a refresh)
  std::string alg;
  JwtClaims claims;  // filled only when ok

  std::optional<std::string> claim_string(std::string_view name) const;
  bool has_role(std::string_view role) const;
};

// The longest "kid" accepted; anything longer is malformed (it is echoed to logs and metrics).
inline constexpr size_t kMaxKidBytes = 256;
// Without a kid, at most this many keys of the matching type are tried, bounding the cost a
// forged token can cause.
inline constexpr size_t kMaxKeysTried = 8;

JwtResult verify_jwt(std::string_view token, const KeySet& keys, const JwtPolicy& policy,
                     uint64_t now_unix_s);

// A bounded LRU of successful verifications; one per worker and per policy (entries are not
// keyed by policy), not thread-safe.
// Why a hit is as good as a verification: the key is the SHA-256 of the whole token, signature
// included, so a hit means these exact bytes were verified before (changing any byte, the
// signature too, misses). The entry remembers the KeySet generation that verified it and is
// used only while that generation is current, so keys removed by rotation stop vouching for
// cached tokens at once. The time checks are redone: an entry is used only while now < exp and
// for at most max_ttl_s after it was stored. Failures are not cached (a forged token must not
// displace good ones, and an unknown kid must be retried after a refresh).
// Example:
//   JwtCache cache;  JwtResult r = cache.verify(token, *keys, policy, now_unix_s);
class JwtCache {
 public:
  explicit JwtCache(size_t capacity = 10000, uint64_t max_ttl_s = 300);

  // verify_jwt() with the cache in front.
  JwtResult verify(std::string_view token, const KeySet& keys, const JwtPolicy& policy,
                   uint64_t now_unix_s);
  // The cached result for token, or nullptr (also removes a stale entry).
  const JwtResult* find(std::string_view token, uint64_t generation, uint64_t now_unix_s);
  void insert(std::string_view token, uint64_t generation, const JwtResult& result,
              uint64_t now_unix_s);
  void clear();

  size_t size() const { return map_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Digest {
    unsigned char bytes[32];
    bool operator==(const Digest& o) const;
  };
  struct DigestHash {
    size_t operator()(const Digest& d) const;
  };
  struct Entry {
    Digest digest;
    uint64_t generation;
    uint64_t valid_until;  // exclusive, Unix seconds
    JwtResult result;
  };
  static Digest digest_of(std::string_view token);

  size_t capacity_;
  uint64_t max_ttl_s_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<Digest, std::list<Entry>::iterator, DigestHash> map_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace sluice::auth
