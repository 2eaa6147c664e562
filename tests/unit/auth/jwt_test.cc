#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "auth/base64url.h"
#include "auth/jwk.h"

namespace sluice::auth {
namespace {

constexpr uint64_t kNow = 1700000000;

EVP_PKEY* gen(const char* type, const char* param = nullptr) {
  if (std::string_view(type) == "RSA")
    return EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  if (param != nullptr) return EVP_PKEY_Q_keygen(nullptr, nullptr, type, param);
  return EVP_PKEY_Q_keygen(nullptr, nullptr, type);
}

// Keys are made once: RSA generation is slow.
struct Keys {
  EVP_PKEY* rsa = gen("RSA");
  EVP_PKEY* rsa2 = gen("RSA");
  EVP_PKEY* p256 = gen("EC", "P-256");
  EVP_PKEY* p384 = gen("EC", "P-384");
  EVP_PKEY* ed = gen("ED25519");
};
Keys& keys() {
  static Keys k;
  return k;
}

std::string public_pem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(len));
  BIO_free(bio);
  return s;
}

std::string private_pem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(len));
  BIO_free(bio);
  return s;
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// Signs like a JOSE library would; `raw_ecdsa` false leaves ECDSA signatures in DER.
std::string sign(std::string_view alg, EVP_PKEY* key, std::string_view secret,
                 std::string_view input, bool raw_ecdsa = true) {
  std::string a(alg);
  const EVP_MD* md = a.ends_with("256")   ? EVP_sha256()
                     : a.ends_with("384") ? EVP_sha384()
                     : a.ends_with("512") ? EVP_sha512()
                                          : nullptr;
  if (a.starts_with("HS")) return hmac(md, secret, input);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  EXPECT_EQ(EVP_DigestSignInit(ctx, &pctx, md, nullptr, key), 1);
  if (a.starts_with("PS")) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (a.starts_with("ES") && raw_ecdsa) {
    int n = a == "ES256" ? 32 : a == "ES384" ? 48 : 66;
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(2 * static_cast<size_t>(n), '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), n);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + n, n);
    ECDSA_SIG_free(es);
    return raw;
  }
  return sig;
}

std::string make_token(const std::string& header, const std::string& payload, std::string_view alg,
                       EVP_PKEY* key, std::string_view secret = "", bool raw_ecdsa = true) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(sign(alg, key, secret, input, raw_ecdsa));
}

std::string claims(uint64_t exp = kNow + 300, const std::string& extra = "") {
  return R"({"sub":"u1","iss":"https://idp","aud":"api","exp":)" + std::to_string(exp) + extra +
         "}";
}

std::string hdr(std::string_view alg, std::string_view kid = "") {
  std::string h = R"({"alg":")" + std::string(alg) + R"(","typ":"JWT")";
  if (!kid.empty()) h += R"(,"kid":")" + std::string(kid) + "\"";
  return h + "}";
}

constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef";

KeySet all_keys() {
  KeySet ks;
  std::string err;
  EXPECT_TRUE(ks.add_pem(public_pem(keys().rsa), "rsa", "", &err)) << err;
  EXPECT_TRUE(ks.add_pem(public_pem(keys().p256), "p256", "", &err)) << err;
  EXPECT_TRUE(ks.add_pem(public_pem(keys().p384), "p384", "", &err)) << err;
  EXPECT_TRUE(ks.add_pem(public_pem(keys().ed), "ed", "", &err)) << err;
  EXPECT_TRUE(ks.add_hmac_secret(kSecret, false, "hs", "", &err)) << err;
  return ks;
}

struct AlgCase {
  const char* alg;
  const char* kid;
  EVP_PKEY* Keys::*key;
};

TEST(Jwt, EveryAlgorithmVerifies) {
  KeySet ks = all_keys();
  JwtPolicy policy;
  const AlgCase cases[] = {
      {"RS256", "rsa", &Keys::rsa},   {"RS384", "rsa", &Keys::rsa},   {"RS512", "rsa", &Keys::rsa},
      {"PS256", "rsa", &Keys::rsa},   {"PS384", "rsa", &Keys::rsa},   {"PS512", "rsa", &Keys::rsa},
      {"ES256", "p256", &Keys::p256}, {"ES384", "p384", &Keys::p384}, {"EdDSA", "ed", &Keys::ed},
      {"HS256", "hs", nullptr},       {"HS384", "hs", nullptr},       {"HS512", "hs", nullptr},
  };
  for (const AlgCase& c : cases) {
    EVP_PKEY* key = c.key == nullptr ? nullptr : keys().*(c.key);
    // With the kid, and without (the key is then found by type).
    for (bool with_kid : {true, false}) {
      std::string t = make_token(hdr(c.alg, with_kid ? c.kid : ""), claims(), c.alg, key, kSecret);
      JwtResult r = verify_jwt(t, ks, policy, kNow);
      EXPECT_TRUE(r.ok) << c.alg << " " << r.reason;
      EXPECT_EQ(r.claims.sub, "u1") << c.alg;
      EXPECT_EQ(r.claims.iss, "https://idp");
      EXPECT_EQ(r.claims.exp, kNow + 300);
      EXPECT_EQ(r.alg, c.alg);
    }
  }
}

JwtResult rs(const std::string& payload, const JwtPolicy& policy = {}, uint64_t now = kNow) {
  static KeySet ks = all_keys();
  return verify_jwt(make_token(hdr("RS256", "rsa"), payload, "RS256", keys().rsa), ks, policy, now);
}

TEST(Jwt, TimeChecksWithSkew) {
  EXPECT_EQ(rs(claims(kNow - 61)).error, JwtError::kExpired);
  EXPECT_EQ(rs(claims(kNow - 60)).error, JwtError::kExpired);
  EXPECT_TRUE(rs(claims(kNow - 59)).ok);  // within the 60 s skew
  JwtPolicy strict;
  strict.clock_skew_s = 0;
  EXPECT_EQ(rs(claims(kNow), strict).error, JwtError::kExpired);
  EXPECT_TRUE(rs(claims(kNow + 1), strict).ok);

  std::string nbf_far = claims(kNow + 900, R"(,"nbf":)" + std::to_string(kNow + 120));
  std::string nbf_near = claims(kNow + 900, R"(,"nbf":)" + std::to_string(kNow + 30));
  EXPECT_EQ(rs(nbf_far).error, JwtError::kNotYetValid);
  EXPECT_TRUE(rs(nbf_near).ok);
  EXPECT_EQ(rs(nbf_near, strict).error, JwtError::kNotYetValid);
  EXPECT_EQ(rs(claims(kNow + 900, R"(,"iat":)" + std::to_string(kNow + 120))).error,
            JwtError::kNotYetValid);
  EXPECT_TRUE(rs(claims(kNow + 900, R"(,"iat":)" + std::to_string(kNow - 5))).ok);
}

TEST(Jwt, NumericDates) {
  EXPECT_TRUE(rs(R"({"exp":1700000100.75})").ok);
  EXPECT_EQ(rs(R"({"exp":1700000100.75})").claims.exp, kNow + 100);
  EXPECT_EQ(rs(R"({"exp":-5})").error, JwtError::kMalformed);
  EXPECT_EQ(rs(R"({"exp":1e300})").error, JwtError::kMalformed);
  EXPECT_EQ(rs(R"({"exp":1e400})").error, JwtError::kMalformed);
  EXPECT_EQ(rs(R"({"exp":"1700000100"})").error, JwtError::kMalformed);
  EXPECT_EQ(rs(R"({"exp":99999999999999999999999})").error, JwtError::kMalformed);
  EXPECT_EQ(rs(R"({"exp":null})").error, JwtError::kMalformed);
  EXPECT_EQ(rs(R"({"sub":"x"})").error, JwtError::kMissingClaim);
  JwtPolicy no_exp;
  no_exp.require_exp = false;
  EXPECT_TRUE(rs(R"({"sub":"x"})", no_exp).ok);
}

TEST(Jwt, IssuerAudienceAndRequiredClaims) {
  JwtPolicy p;
  p.issuers = {"https://other", "https://idp"};
  p.audiences = {"api"};
  EXPECT_TRUE(rs(claims(), p).ok);
  p.issuers = {"https://other"};
  EXPECT_EQ(rs(claims(), p).error, JwtError::kBadIssuer);
  p.issuers = {};
  p.audiences = {"web"};
  EXPECT_EQ(rs(claims(), p).error, JwtError::kBadAudience);
  std::string multi = R"({"aud":["x","web"],"exp":)" + std::to_string(kNow + 10) + "}";
  EXPECT_TRUE(rs(multi, p).ok);
  EXPECT_EQ(rs(R"({"aud":[1],"exp":1700000100})", p).error, JwtError::kMalformed);
  EXPECT_EQ(rs(R"({"exp":1700000100})", p).error, JwtError::kBadAudience);
  p.audiences = {};
  p.required_claims = {"tenant"};
  EXPECT_EQ(rs(claims(), p).error, JwtError::kMissingClaim);
  JwtResult r = rs(claims(kNow + 10, R"(,"tenant":"acme","roles":["admin","ops"])"), p);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.claim_string("tenant"), "acme");
  EXPECT_EQ(r.claim_string("nope"), std::nullopt);
  EXPECT_TRUE(r.has_role("ops"));
  EXPECT_FALSE(r.has_role("root"));
  p.roles_claim = "scope";
  r = rs(claims(kNow + 10, R"(,"tenant":"a","scope":"read  write")"), p);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.claims.roles, (std::vector<std::string>{"read", "write"}));
}

TEST(Jwt, TamperedTokensFail) {
  KeySet ks = all_keys();
  std::string t = make_token(hdr("RS256", "rsa"), claims(), "RS256", keys().rsa);
  size_t d1 = t.find('.'), d2 = t.rfind('.');
  std::string other_payload = base64url_encode(claims(kNow + 100000));
  std::string swapped = t.substr(0, d1 + 1) + other_payload + t.substr(d2);
  EXPECT_EQ(verify_jwt(swapped, ks, {}, kNow).error, JwtError::kBadSignature);
  std::string bad_sig = t;
  bad_sig[d2 + 5] = bad_sig[d2 + 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify_jwt(bad_sig, ks, {}, kNow).error, JwtError::kBadSignature);
  EXPECT_EQ(verify_jwt(t.substr(0, d2), ks, {}, kNow).error, JwtError::kMalformed);
  EXPECT_EQ(verify_jwt(t.substr(0, d2 + 1), ks, {}, kNow).error, JwtError::kMalformed);
  EXPECT_EQ(verify_jwt(t + ".x.y", ks, {}, kNow).error, JwtError::kMalformed);
  EXPECT_EQ(verify_jwt(t + "=", ks, {}, kNow).error, JwtError::kMalformed);
  EXPECT_EQ(verify_jwt("", ks, {}, kNow).error, JwtError::kMalformed);
  EXPECT_EQ(verify_jwt("..", ks, {}, kNow).error, JwtError::kMalformed);
  JwtPolicy small;
  small.max_token_bytes = 100;
  EXPECT_EQ(verify_jwt(t, ks, small, kNow).error, JwtError::kTooLarge);
  // The HS token signed with another secret.
  std::string hs =
      make_token(hdr("HS256", "hs"), claims(), "HS256", nullptr, "another secret 0123456789");
  EXPECT_EQ(verify_jwt(hs, ks, {}, kNow).error, JwtError::kBadSignature);
  // Tampered with, but signed correctly: a header that isn't an object, a payload that isn't.
  std::string arr = make_token("[1]", claims(), "RS256", keys().rsa);
  EXPECT_EQ(verify_jwt(arr, ks, {}, kNow).error, JwtError::kMalformed);
  std::string str_payload = make_token(hdr("RS256", "rsa"), R"("x")", "RS256", keys().rsa);
  EXPECT_EQ(verify_jwt(str_payload, ks, {}, kNow).error, JwtError::kMalformed);
}

TEST(Jwt, AlgNoneIsRejectedInAnyCase) {
  KeySet ks = all_keys();
  for (const char* alg : {"none", "NONE", "None", "nOnE"}) {
    std::string t = base64url_encode(std::string(R"({"alg":")") + alg + R"("})") + "." +
                    base64url_encode(claims()) + ".";
    JwtResult r = verify_jwt(t, ks, {}, kNow);
    EXPECT_EQ(r.error, JwtError::kAlgNone) << alg;
    EXPECT_FALSE(r.ok);
    // Even with a (meaningless) signature, and even when the policy lists it.
    JwtPolicy p;
    p.algorithms = {alg};
    EXPECT_EQ(verify_jwt(t + "AAAA", ks, p, kNow).error, JwtError::kAlgNone) << alg;
  }
}

TEST(Jwt, AlgorithmConfusionIsRejected) {
  // The classic attack: sign HS256 with the RSA public key's PEM bytes as the secret.
  KeySet rsa_only;
  std::string err;
  std::string pem = public_pem(keys().rsa);
  ASSERT_TRUE(rsa_only.add_pem(pem, "rsa", "", &err)) << err;
  for (const char* kid : {"rsa", ""}) {
    std::string t = make_token(hdr("HS256", kid), claims(), "HS256", nullptr, pem);
    JwtResult r = verify_jwt(t, rsa_only, {}, kNow);
    EXPECT_FALSE(r.ok);
    // HS* is not even allowed without a secret: outside what the provider accepts, refused
    // like an algorithm sluice does not know.
    EXPECT_EQ(r.error, JwtError::kUnsupportedAlg);
    JwtPolicy lax;
    lax.algorithms = {"HS256", "RS256"};  // a careless policy still meets the key type check
    r = verify_jwt(t, rsa_only, lax, kNow);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error, JwtError::kNone);
  }
  JwtPolicy hs_only;
  hs_only.algorithms = {"HS256"};
  EXPECT_EQ(verify_jwt(make_token(hdr("HS256", "rsa"), claims(), "HS256", nullptr, pem), rsa_only,
                       hs_only, kNow)
                .error,
            JwtError::kAlgMismatch);
  // An RS token never meets an HMAC secret; an ES384 token never a P-256 key.
  KeySet ks = all_keys();
  std::string rs_as_hs = make_token(hdr("RS256", "hs"), claims(), "RS256", keys().rsa);
  EXPECT_EQ(verify_jwt(rs_as_hs, ks, {}, kNow).error, JwtError::kAlgMismatch);
  std::string es384_on_p256 = make_token(hdr("ES384", "p256"), claims(), "ES384", keys().p384);
  EXPECT_EQ(verify_jwt(es384_on_p256, ks, {}, kNow).error, JwtError::kAlgMismatch);
  // A key that names its alg accepts only that one.
  KeySet pinned;
  ASSERT_TRUE(pinned.add_pem(pem, "k", "RS256", &err));
  EXPECT_TRUE(
      verify_jwt(make_token(hdr("RS256", "k"), claims(), "RS256", keys().rsa), pinned, {}, kNow)
          .ok);
  EXPECT_EQ(
      verify_jwt(make_token(hdr("PS256", "k"), claims(), "PS256", keys().rsa), pinned, {}, kNow)
          .error,
      JwtError::kAlgMismatch);
  // The policy's allow-list.
  JwtPolicy only_es;
  only_es.algorithms = {"ES256"};
  EXPECT_EQ(
      verify_jwt(make_token(hdr("RS256", "rsa"), claims(), "RS256", keys().rsa), ks, only_es, kNow)
          .error,
      JwtError::kUnsupportedAlg);
  // Unknown algorithms.
  EXPECT_EQ(
      verify_jwt(make_token(hdr("HS1", "hs"), claims(), "HS256", nullptr, kSecret), ks, {}, kNow)
          .error,
      JwtError::kUnsupportedAlg);
}

TEST(Jwt, UnknownKidIsReported) {
  KeySet ks = all_keys();
  JwtResult r = verify_jwt(make_token(hdr("RS256", "rotated-2"), claims(), "RS256", keys().rsa), ks,
                           {}, kNow);
  EXPECT_EQ(r.error, JwtError::kUnknownKid);
  EXPECT_EQ(r.kid, "rotated-2");
  EXPECT_EQ(r.reason, "unknown key id");
  // A kid too long to echo is malformed.
  r = verify_jwt(make_token(hdr("RS256", std::string(300, 'k')), claims(), "RS256", keys().rsa), ks,
                 {}, kNow);
  EXPECT_EQ(r.error, JwtError::kMalformed);
  // Signed by a key we don't have, no kid: tried against ours, fails.
  r = verify_jwt(make_token(hdr("RS256"), claims(), "RS256", keys().rsa2), ks, {}, kNow);
  EXPECT_EQ(r.error, JwtError::kBadSignature);
}

TEST(Jwt, EcdsaSignatureMustBeRaw) {
  KeySet ks = all_keys();
  std::string der = make_token(hdr("ES256", "p256"), claims(), "ES256", keys().p256, "", false);
  EXPECT_EQ(verify_jwt(der, ks, {}, kNow).error, JwtError::kBadSignature);
  std::string raw = make_token(hdr("ES256", "p256"), claims(), "ES256", keys().p256);
  EXPECT_TRUE(verify_jwt(raw, ks, {}, kNow).ok);
  // One byte short or long.
  size_t d2 = raw.rfind('.');
  std::string sig;
  ASSERT_TRUE(base64url_decode(raw.substr(d2 + 1), &sig));
  std::string head = raw.substr(0, d2 + 1);
  EXPECT_EQ(verify_jwt(head + base64url_encode(sig.substr(1)), ks, {}, kNow).error,
            JwtError::kBadSignature);
  EXPECT_EQ(verify_jwt(head + base64url_encode(sig + "x"), ks, {}, kNow).error,
            JwtError::kBadSignature);
}

TEST(Jwt, CritHeaderIsRejected) {
  KeySet ks = all_keys();
  std::string t = make_token(R"({"alg":"RS256","kid":"rsa","crit":["b64"],"b64":false})", claims(),
                             "RS256", keys().rsa);
  EXPECT_EQ(verify_jwt(t, ks, {}, kNow).error, JwtError::kMalformed);
}

TEST(Jwt, ReasonsNeverCarrySecrets) {
  KeySet ks = all_keys();
  std::string t =
      make_token(hdr("HS256", "hs"), claims(), "HS256", nullptr, "wrong secret 0123456789");
  JwtResult r = verify_jwt(t, ks, {}, kNow);
  EXPECT_EQ(r.reason.find(kSecret), std::string_view::npos);
  EXPECT_EQ(r.reason, "invalid signature");
  EXPECT_TRUE(r.claims.sub.empty());  // no claims from a token that failed
}

TEST(Jwt, PolicyValidation) {
  JwtPolicy p;
  std::string err;
  EXPECT_TRUE(validate_jwt_policy(p, &err));
  p.algorithms = {"RS256", "EdDSA", "HS512"};
  EXPECT_TRUE(validate_jwt_policy(p, &err));
  p.algorithms = {"RS256", "None"};
  EXPECT_FALSE(validate_jwt_policy(p, &err));
  EXPECT_NE(err.find("none"), std::string::npos);
  p.algorithms = {"rs256"};
  EXPECT_FALSE(validate_jwt_policy(p, &err));
  EXPECT_TRUE(jwt_algorithm_supported("PS512"));
  EXPECT_FALSE(jwt_algorithm_supported("ES256K"));
}

TEST(JwtCache, HitMissAndInvalidation) {
  KeySet ks = all_keys();
  JwtCache cache(4, 300);
  std::string t = make_token(hdr("RS256", "rsa"), claims(kNow + 1000), "RS256", keys().rsa);
  JwtPolicy p;
  EXPECT_TRUE(cache.verify(t, ks, p, kNow).ok);
  EXPECT_EQ(cache.misses(), 1u);
  JwtResult r = cache.verify(t, ks, p, kNow + 1);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.claims.sub, "u1");
  EXPECT_EQ(cache.hits(), 1u);
  // A tampered token is a different digest: verified (and failing), never a hit.
  std::string bad = t;
  bad.back() = bad.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(cache.verify(bad, ks, p, kNow).ok);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.size(), 1u);  // failures are not cached
  // The max TTL: stale after 300 s even though exp is later.
  EXPECT_EQ(cache.find(t, ks.generation(), kNow + 301), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  // A KeySet without the key (rotation) invalidates the entry, and verification then fails.
  EXPECT_TRUE(cache.verify(t, ks, p, kNow).ok);
  KeySet rotated;
  std::string err;
  ASSERT_TRUE(rotated.add_pem(public_pem(keys().rsa2), "rsa2", "", &err));
  r = cache.verify(t, rotated, p, kNow + 2);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, JwtError::kUnknownKid);
  // Expiry: used only while now < exp, then verified again (and within skew still accepted).
  std::string short_lived = make_token(hdr("RS256", "rsa"), claims(kNow + 10), "RS256", keys().rsa);
  EXPECT_TRUE(cache.verify(short_lived, ks, p, kNow).ok);
  uint64_t hits = cache.hits();
  EXPECT_TRUE(cache.verify(short_lived, ks, p, kNow + 9).ok);
  EXPECT_EQ(cache.hits(), hits + 1);
  EXPECT_EQ(cache.find(short_lived, ks.generation(), kNow + 10), nullptr);
  EXPECT_FALSE(cache.verify(short_lived, ks, p, kNow + 100).ok);
}

TEST(JwtCache, EvictsLeastRecentlyUsed) {
  KeySet ks = all_keys();
  JwtCache cache(2, 300);
  std::string a = make_token(hdr("HS256", "hs"), claims(kNow + 100), "HS256", nullptr, kSecret);
  std::string b = make_token(hdr("HS256", "hs"), claims(kNow + 200), "HS256", nullptr, kSecret);
  std::string c = make_token(hdr("HS256", "hs"), claims(kNow + 300), "HS256", nullptr, kSecret);
  cache.verify(a, ks, {}, kNow);
  cache.verify(b, ks, {}, kNow);
  cache.verify(a, ks, {}, kNow);  // a is now the most recent
  cache.verify(c, ks, {}, kNow);  // evicts b
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.find(a, ks.generation(), kNow), nullptr);
  EXPECT_EQ(cache.find(b, ks.generation(), kNow), nullptr);
  EXPECT_NE(cache.find(c, ks.generation(), kNow), nullptr);
}

// Tokens from an independent signer (PyJWT through scripts/jwt_sign.py) verify here.
TEST(Jwt, TokensFromPyJwtVerify) {
  // Debian's python3 first: the one on PATH may be a pyenv or venv one without python3-jwt.
  std::string python;
  for (const char* p : {"/usr/bin/python3", "python3"}) {
    std::string probe = std::string(p) + " -c 'import jwt, cryptography' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) {
      python = p;
      break;
    }
  }
  if (python.empty()) GTEST_SKIP() << "no python3 with PyJWT and cryptography";
  std::string dir = ::testing::TempDir();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + name) << text;
    return dir + name;
  };
  std::string rsa = write("jwt_rsa.pem", private_pem(keys().rsa));
  std::string p256 = write("jwt_p256.pem", private_pem(keys().p256));
  std::string ed = write("jwt_ed.pem", private_pem(keys().ed));
  std::string secret = write("jwt_secret", std::string(kSecret));
  KeySet ks = all_keys();
  struct Case {
    const char* alg;
    std::string key;
    const char* kid;
  } cases[] = {{"RS256", rsa, "rsa"},
               {"PS256", rsa, "rsa"},
               {"ES256", p256, "p256"},
               {"EdDSA", ed, "ed"},
               {"HS256", secret, "hs"}};
  for (const Case& c : cases) {
    std::string cmd = python + " " + SLUICE_SOURCE_DIR + "/scripts/jwt_sign.py --alg " + c.alg +
                      " --key " + c.key + " --kid " + c.kid +
                      R"( --claims '{"sub":"py","aud":"api","roles":["a"]}' --exp-in 300)";
    FILE* f = popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
    ASSERT_EQ(pclose(f), 0) << cmd;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    JwtPolicy p;
    p.audiences = {"api"};
    JwtResult r = verify_jwt(out, ks, p, static_cast<uint64_t>(time(nullptr)));
    EXPECT_TRUE(r.ok) << c.alg << ": " << r.reason << " token " << out;
    EXPECT_EQ(r.claims.sub, "py") << c.alg;
    EXPECT_TRUE(r.has_role("a")) << c.alg;
  }
}

}  // namespace
}  // namespace sluice::auth
