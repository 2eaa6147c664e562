#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "auth/base64url.h"

namespace sluice::auth {

namespace {

using json = nlohmann::json;

enum class Family : uint8_t { kHmac, kRsa, kRsaPss, kEcdsa, kEdDSA };

struct AlgInfo {
  std::string_view name;
  Family family;
  const EVP_MD* (*md)();  // the digest, fetched once
  Curve curve;            // ECDSA: the curve the key must be on
  size_t coord_len;       // ECDSA: bytes of r and of s in the JOSE signature
};

// EVP_sha256() and friends make OpenSSL 3 look the implementation up again on every
// EVP_DigestVerifyInit (a locked provider-store search); a digest fetched once skips that.
// Fetched digests are kept for the life of the process.
const EVP_MD* sha256() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
const EVP_MD* sha384() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  return md;
}
const EVP_MD* sha512() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  return md;
}
const EVP_MD* no_md() {
  return nullptr;
}

constexpr AlgInfo kAlgs[] = {
    {"RS256", Family::kRsa, sha256, Curve::kNone, 0},
    {"RS384", Family::kRsa, sha384, Curve::kNone, 0},
    {"RS512", Family::kRsa, sha512, Curve::kNone, 0},
    {"PS256", Family::kRsaPss, sha256, Curve::kNone, 0},
    {"PS384", Family::kRsaPss, sha384, Curve::kNone, 0},
    {"PS512", Family::kRsaPss, sha512, Curve::kNone, 0},
    {"ES256", Family::kEcdsa, sha256, Curve::kP256, 32},
    {"ES384", Family::kEcdsa, sha384, Curve::kP384, 48},
    {"ES512", Family::kEcdsa, sha512, Curve::kP521, 66},
    {"EdDSA", Family::kEdDSA, no_md, Curve::kEd25519, 0},
    {"HS256", Family::kHmac, sha256, Curve::kNone, 0},
    {"HS384", Family::kHmac, sha384, Curve::kNone, 0},
    {"HS512", Family::kHmac, sha512, Curve::kNone, 0},
};

// Beyond 2^53 a JSON number is no longer an exact integer; no real token needs such times.
constexpr double kMaxTime = 9007199254740992.0;

constexpr std::string_view kReasonTooLarge = "token too large";
constexpr std::string_view kReasonMalformed = "malformed token";
constexpr std::string_view kReasonBadHeader = "malformed token header";
constexpr std::string_view kReasonBadPayload = "malformed token payload";
constexpr std::string_view kReasonBadClaim = "malformed registered claim";
constexpr std::string_view kReasonCrit = "unsupported critical header";
constexpr std::string_view kReasonAlgNone = "unsigned tokens are not accepted";
constexpr std::string_view kReasonUnsupportedAlg = "unsupported algorithm";
constexpr std::string_view kReasonAlgNotAllowed = "algorithm not allowed";
constexpr std::string_view kReasonKeyMismatch = "the key does not match the token's algorithm";
constexpr std::string_view kReasonUnknownKid = "unknown key id";
constexpr std::string_view kReasonNoKey = "no key for the token's algorithm";
constexpr std::string_view kReasonBadSignature = "invalid signature";
constexpr std::string_view kReasonExpired = "token expired";
constexpr std::string_view kReasonNotYetValid = "token not yet valid";
constexpr std::string_view kReasonIssuedInFuture = "token issued in the future";
constexpr std::string_view kReasonBadIssuer = "issuer not accepted";
constexpr std::string_view kReasonBadAudience = "audience not accepted";
constexpr std::string_view kReasonMissingExp = "token has no expiry";
constexpr std::string_view kReasonMissingClaim = "required claim missing";

const AlgInfo* find_alg(std::string_view name) {
  for (const AlgInfo& a : kAlgs) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}

bool alg_allowed(const AlgInfo& alg, const KeySet& keys, const JwtPolicy& policy) {
  if (!policy.algorithms.empty()) {
    return std::find(policy.algorithms.begin(), policy.algorithms.end(), alg.name) !=
           policy.algorithms.end();
  }
  return alg.family != Family::kHmac || keys.has_secret();
}

// The heart of the algorithm-confusion defence: an HMAC alg only ever meets a secret, an RSA
// alg only an RSA key, and so on; a key that names its alg accepts only that one.
bool key_fits(const Jwk& key, const AlgInfo& alg) {
  if (!key.alg().empty() && key.alg() != alg.name) return false;
  switch (alg.family) {
    case Family::kHmac:
      return key.kty() == KeyType::kOct;
    case Family::kRsa:
    case Family::kRsaPss:
      return key.kty() == KeyType::kRsa;
    case Family::kEcdsa:
      return key.kty() == KeyType::kEc && key.curve() == alg.curve;
    case Family::kEdDSA:
      return key.kty() == KeyType::kOkp && key.curve() == Curve::kEd25519;
  }
  return false;
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// One context per thread, reset between uses, saves an allocation per verification.
EVP_MD_CTX* thread_md_ctx() {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (ctx) EVP_MD_CTX_reset(ctx.get());
  return ctx.get();
}

// JOSE's ECDSA signature is r||s, each left-padded to the curve size; OpenSSL wants DER.
bool ecdsa_raw_to_der(std::string_view raw, size_t coord_len, std::string* der) {
  if (raw.size() != 2 * coord_len) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (sig == nullptr) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(p, static_cast<int>(coord_len), nullptr);
  BIGNUM* s = BN_bin2bn(p + coord_len, static_cast<int>(coord_len), nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  int len = i2d_ECDSA_SIG(sig, nullptr);
  bool ok = false;
  if (len > 0) {
    der->resize(static_cast<size_t>(len));
    auto* out = reinterpret_cast<unsigned char*>(der->data());
    ok = i2d_ECDSA_SIG(sig, &out) == len;
  }
  ECDSA_SIG_free(sig);
  return ok;
}

// HMAC() would fetch the MAC and the digest by name on every call; the MAC is fetched once.
bool hmac(const AlgInfo& alg, const std::string& secret, std::string_view input, unsigned char* out,
          size_t* out_len) {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return false;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  if (ctx == nullptr) return false;
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                               const_cast<char*>(EVP_MD_get0_name(alg.md())), 0);
  params[1] = OSSL_PARAM_construct_end();
  bool ok = EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                         params) == 1 &&
            EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1 &&
            EVP_MAC_final(ctx, out, out_len, EVP_MAX_MD_SIZE) == 1;
  EVP_MAC_CTX_free(ctx);
  return ok;
}

bool verify_signature(const Jwk& key, const AlgInfo& alg, std::string_view input,
                      std::string_view sig) {
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (alg.family == Family::kHmac) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    if (!hmac(alg, key.secret(), input, mac, &mac_len)) return false;
    // The length is public (it follows from alg); the bytes are compared in constant time.
    return sig.size() == mac_len && CRYPTO_memcmp(mac, sig.data(), mac_len) == 0;
  }
  std::string der;
  if (alg.family == Family::kEcdsa) {
    if (!ecdsa_raw_to_der(sig, alg.coord_len, &der)) return false;
    sig = der;
  } else if (alg.family == Family::kEdDSA && sig.size() != 64) {
    return false;
  }
  EVP_MD_CTX* ctx = thread_md_ctx();
  if (ctx == nullptr) return false;
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestVerifyInit(ctx, &pctx, alg.md(), nullptr, key.pkey()) != 1) return false;
  if (alg.family == Family::kRsaPss) {
    // RFC 7518 section 3.5: the salt is as long as the hash.
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0) {
      return false;
    }
  }
  return EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(), data,
                          input.size()) == 1;
}

// A NumericDate (RFC 7519 section 2): integer or fraction, non-negative, finite, not huge.
// Fractions round towards the stricter side (`round_up` for nbf and iat).
bool numeric_date(const json& v, bool round_up, uint64_t* out) {
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (static_cast<double>(u) > kMaxTime) return false;
    *out = u;
    return true;
  }
  if (v.is_number_integer()) {
    auto i = v.get<int64_t>();
    if (i < 0) return false;
    *out = static_cast<uint64_t>(i);
    return true;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || d > kMaxTime) return false;
    *out = static_cast<uint64_t>(round_up ? std::ceil(d) : std::floor(d));
    return true;
  }
  return false;
}

JwtResult fail(JwtResult r, JwtError e, std::string_view reason) {
  r.ok = false;
  r.error = e;
  r.reason = reason;
  r.claims = JwtClaims();
  return r;
}

// Reads the payload's claims into r.claims and applies the policy.
JwtResult check_claims(JwtResult r, const json& payload, const JwtPolicy& policy, uint64_t now) {
  JwtClaims& c = r.claims;
  bool has_exp = false;
  for (const auto& [name, value] : payload.items()) {
    if (const std::string* s = value.get_ptr<const std::string*>(); s != nullptr) {
      c.strings.emplace_back(name, *s);
    }
    if (name == "exp") {
      if (!numeric_date(value, false, &c.exp))
        return fail(std::move(r), JwtError::kMalformed, kReasonBadClaim);
      has_exp = true;
    } else if (name == "nbf") {
      if (!numeric_date(value, true, &c.nbf))
        return fail(std::move(r), JwtError::kMalformed, kReasonBadClaim);
    } else if (name == "iat") {
      if (!numeric_date(value, true, &c.iat))
        return fail(std::move(r), JwtError::kMalformed, kReasonBadClaim);
    } else if (name == "sub" || name == "iss") {
      const std::string* s = value.get_ptr<const std::string*>();
      if (s == nullptr) return fail(std::move(r), JwtError::kMalformed, kReasonBadClaim);
      (name == "sub" ? c.sub : c.iss) = *s;
    } else if (name == "aud") {
      if (const std::string* s = value.get_ptr<const std::string*>(); s != nullptr) {
        c.aud.push_back(*s);
      } else if (value.is_array()) {
        for (const json& e : value) {
          const std::string* es = e.get_ptr<const std::string*>();
          if (es == nullptr) return fail(std::move(r), JwtError::kMalformed, kReasonBadClaim);
          c.aud.push_back(*es);
        }
      } else {
        return fail(std::move(r), JwtError::kMalformed, kReasonBadClaim);
      }
    }
    if (!policy.roles_claim.empty() && name == policy.roles_claim) {
      if (const std::string* s = value.get_ptr<const std::string*>(); s != nullptr) {
        // A space-separated string, as OAuth's "scope" is.
        size_t pos = 0;
        while (pos < s->size()) {
          size_t end = s->find(' ', pos);
          if (end == std::string::npos) end = s->size();
          if (end > pos) c.roles.emplace_back(s->substr(pos, end - pos));
          pos = end + 1;
        }
      } else if (value.is_array()) {
        for (const json& e : value) {
          if (const std::string* es = e.get_ptr<const std::string*>(); es != nullptr) {
            c.roles.push_back(*es);
          }
        }
      }
    }
  }
  uint64_t skew = policy.clock_skew_s;
  if (!has_exp && policy.require_exp) {
    return fail(std::move(r), JwtError::kMissingClaim, kReasonMissingExp);
  }
  // Saturating: a skew near 2^64 in a config must not wrap around and reject everything.
  auto plus = [](uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; };
  if (has_exp && now >= plus(c.exp, skew))
    return fail(std::move(r), JwtError::kExpired, kReasonExpired);
  if (c.nbf != 0 && c.nbf > plus(now, skew)) {
    return fail(std::move(r), JwtError::kNotYetValid, kReasonNotYetValid);
  }
  if (c.iat != 0 && c.iat > plus(now, skew)) {
    return fail(std::move(r), JwtError::kNotYetValid, kReasonIssuedInFuture);
  }
  if (!policy.issuers.empty() &&
      std::find(policy.issuers.begin(), policy.issuers.end(), c.iss) == policy.issuers.end()) {
    return fail(std::move(r), JwtError::kBadIssuer, kReasonBadIssuer);
  }
  if (!policy.audiences.empty()) {
    bool found = false;
    for (const std::string& a : c.aud) {
      if (std::find(policy.audiences.begin(), policy.audiences.end(), a) !=
          policy.audiences.end()) {
        found = true;
        break;
      }
    }
    if (!found) return fail(std::move(r), JwtError::kBadAudience, kReasonBadAudience);
  }
  for (const std::string& name : policy.required_claims) {
    if (!payload.contains(name))
      return fail(std::move(r), JwtError::kMissingClaim, kReasonMissingClaim);
  }
  r.ok = true;
  r.error = JwtError::kNone;
  r.reason = {};
  return r;
}

}  // namespace

std::string_view jwt_error_name(JwtError e) {
  switch (e) {
    case JwtError::kNone:
      return "none";
    case JwtError::kMalformed:
      return "malformed";
    case JwtError::kUnsupportedAlg:
      return "unsupported_alg";
    case JwtError::kAlgNone:
      return "alg_none";
    case JwtError::kAlgMismatch:
      return "alg_mismatch";
    case JwtError::kUnknownKid:
      return "unknown_kid";
    case JwtError::kBadSignature:
      return "bad_signature";
    case JwtError::kExpired:
      return "expired";
    case JwtError::kNotYetValid:
      return "not_yet_valid";
    case JwtError::kBadIssuer:
      return "bad_issuer";
    case JwtError::kBadAudience:
      return "bad_audience";
    case JwtError::kMissingClaim:
      return "missing_claim";
    case JwtError::kTooLarge:
      return "too_large";
  }
  return "unknown";
}

bool jwt_algorithm_supported(std::string_view alg) {
  return find_alg(alg) != nullptr;
}

bool validate_jwt_policy(const JwtPolicy& policy, std::string* error) {
  for (const std::string& a : policy.algorithms) {
    if (iequals(a, "none")) {
      *error = "the algorithm \"none\" (unsigned tokens) cannot be allowed";
      return false;
    }
    if (!jwt_algorithm_supported(a)) {
      *error = "unsupported JWT algorithm \"" + a +
               "\" (supported: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA)";
      return false;
    }
  }
  if (policy.max_token_bytes == 0) {
    *error = "max_token_bytes must be positive";
    return false;
  }
  return true;
}

std::optional<std::string> JwtResult::claim_string(std::string_view name) const {
  for (const auto& [n, v] : claims.strings) {
    if (n == name) return v;
  }
  return std::nullopt;
}

bool JwtResult::has_role(std::string_view role) const {
  return std::find(claims.roles.begin(), claims.roles.end(), role) != claims.roles.end();
}

JwtResult verify_jwt(std::string_view token, const KeySet& keys, const JwtPolicy& policy,
                     uint64_t now_unix_s) {
  JwtResult r;
  if (token.size() > policy.max_token_bytes)
    return fail(std::move(r), JwtError::kTooLarge, kReasonTooLarge);
  size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos)
    return fail(std::move(r), JwtError::kMalformed, kReasonMalformed);
  size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return fail(std::move(r), JwtError::kMalformed, kReasonMalformed);  // also JWE (5 parts)
  }
  std::string_view header_b64 = token.substr(0, dot1);
  std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view sig_b64 = token.substr(dot2 + 1);
  std::string header_text, sig;
  if (header_b64.empty() || payload_b64.empty() || !base64url_decode(header_b64, &header_text)) {
    return fail(std::move(r), JwtError::kMalformed, kReasonMalformed);
  }
  json header = json::parse(header_text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return fail(std::move(r), JwtError::kMalformed, kReasonBadHeader);
  }
  auto alg_it = header.find("alg");
  const std::string* alg_name =
      alg_it == header.end() ? nullptr : alg_it->get_ptr<const std::string*>();
  if (alg_name == nullptr) return fail(std::move(r), JwtError::kMalformed, kReasonBadHeader);
  if (auto kid_it = header.find("kid"); kid_it != header.end()) {
    const std::string* kid = kid_it->get_ptr<const std::string*>();
    if (kid == nullptr || kid->size() > kMaxKidBytes) {
      return fail(std::move(r), JwtError::kMalformed, kReasonBadHeader);
    }
    r.kid = *kid;
  }
  if (iequals(*alg_name, "none")) return fail(std::move(r), JwtError::kAlgNone, kReasonAlgNone);
  const AlgInfo* alg = find_alg(*alg_name);
  if (alg == nullptr) return fail(std::move(r), JwtError::kUnsupportedAlg, kReasonUnsupportedAlg);
  r.alg = *alg_name;
  // We implement no extension, so any "crit" must be refused (RFC 7515 section 4.1.11).
  // jku/x5u/jwk/x5c in the header are ignored: keys come only from the KeySet.
  if (header.contains("crit")) return fail(std::move(r), JwtError::kMalformed, kReasonCrit);
  if (!alg_allowed(*alg, keys, policy)) {
    // Outside the provider's list: the same refusal as an algorithm sluice does not know, so a
    // client learns nothing about which algorithms exist behind the list.
    return fail(std::move(r), JwtError::kUnsupportedAlg, kReasonAlgNotAllowed);
  }
  if (sig_b64.empty() || !base64url_decode(sig_b64, &sig)) {
    return fail(std::move(r), JwtError::kMalformed, kReasonMalformed);
  }
  std::string_view input = token.substr(0, dot2);

  bool has_kid = header.contains("kid");
  size_t tried = 0;
  size_t named = 0;
  bool verified = false;
  for (const Jwk& key : keys.keys()) {
    if (has_kid) {
      if (key.kid() != r.kid) continue;
      ++named;
    }
    if (!key_fits(key, *alg)) continue;
    if (tried++ == kMaxKeysTried) break;
    if (verify_signature(key, *alg, input, sig)) {
      verified = true;
      break;
    }
  }
  if (!verified) {
    if (tried > 0) return fail(std::move(r), JwtError::kBadSignature, kReasonBadSignature);
    if (has_kid && named == 0) return fail(std::move(r), JwtError::kUnknownKid, kReasonUnknownKid);
    if (has_kid) return fail(std::move(r), JwtError::kAlgMismatch, kReasonKeyMismatch);
    return fail(std::move(r), JwtError::kUnknownKid, kReasonNoKey);
  }

  // Only a signed payload is parsed: forged tokens never reach the claims parser.
  std::string payload_text;
  if (!base64url_decode(payload_b64, &payload_text)) {
    return fail(std::move(r), JwtError::kMalformed, kReasonMalformed);
  }
  json payload = json::parse(payload_text, nullptr, false);
  if (payload.is_discarded() || !payload.is_object()) {
    return fail(std::move(r), JwtError::kMalformed, kReasonBadPayload);
  }
  return check_claims(std::move(r), payload, policy, now_unix_s);
}

// ---- JwtCache ----

bool JwtCache::Digest::operator==(const Digest& o) const {
  return std::memcmp(bytes, o.bytes, sizeof(bytes)) == 0;
}

size_t JwtCache::DigestHash::operator()(const Digest& d) const {
  size_t h;
  std::memcpy(&h, d.bytes, sizeof(h));  // already uniformly distributed
  return h;
}

JwtCache::Digest JwtCache::digest_of(std::string_view token) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), d.bytes, &len, sha256(), nullptr);
  return d;
}

JwtCache::JwtCache(size_t capacity, uint64_t max_ttl_s)
    : capacity_(std::max<size_t>(capacity, 1)), max_ttl_s_(max_ttl_s) {
  map_.reserve(capacity_);
}

const JwtResult* JwtCache::find(std::string_view token, uint64_t generation, uint64_t now) {
  auto it = map_.find(digest_of(token));
  if (it == map_.end()) return nullptr;
  Entry& e = *it->second;
  if (e.generation != generation || now >= e.valid_until) {
    lru_.erase(it->second);
    map_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return &e.result;
}

void JwtCache::insert(std::string_view token, uint64_t generation, const JwtResult& result,
                      uint64_t now) {
  if (!result.ok) return;
  uint64_t until = now + max_ttl_s_;
  if (result.claims.exp != 0) until = std::min(until, result.claims.exp);
  if (until <= now) return;
  Digest d = digest_of(token);
  if (auto it = map_.find(d); it != map_.end()) {
    lru_.erase(it->second);
    map_.erase(it);
  }
  if (map_.size() >= capacity_) {
    map_.erase(lru_.back().digest);
    lru_.pop_back();
  }
  lru_.push_front(Entry{d, generation, until, result});
  map_.emplace(d, lru_.begin());
}

JwtResult JwtCache::verify(std::string_view token, const KeySet& keys, const JwtPolicy& policy,
                           uint64_t now) {
  if (token.size() <= policy.max_token_bytes) {
    if (const JwtResult* hit = find(token, keys.generation(), now); hit != nullptr) {
      ++hits_;
      return *hit;
    }
  }
  ++misses_;
  JwtResult r = verify_jwt(token, keys, policy, now);
  if (r.ok) insert(token, keys.generation(), r, now);
  return r;
}

void JwtCache::clear() {
  map_.clear();
  lru_.clear();
}

}  // namespace sluice::auth
