// Fuzz target for the JWKS document parser and the other ways keys enter a KeySet
// (src/auth/jwk.h): KeySet::from_jwks, add_jwk_json, add_pem and add_hmac_secret, all on the
// same input. No crash, no sanitizer report, no exception escaping, and:
//   - from_jwks fails with a message and an empty set, or succeeds with 1..kMaxKeys keys; every
//     entry of "keys" is either a key or a non-empty reason in skipped(), in order, and each key
//     is well-formed for its type (an HMAC secret of 16+ bytes, an RSA key of 2048+ bits, a
//     named curve for EC and OKP keys, an OpenSSL key for every asymmetric one);
//   - each entry alone, given to add_jwk_json, is accepted exactly when from_jwks kept it;
//   - find(kid) finds a key with that kid; has_secret() tells whether an HMAC key is there;
//   - every KeySet has a generation no other KeySet had, and adding a key changes it;
//   - add_pem and add_hmac_secret add one valid key or say why not and add nothing (add_pem
//     only on input that holds "-----BEGIN": OpenSSL's decoder set-up is slow).
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "auth/base64url.h"
#include "auth/jwk.h"
#include "fuzz_check.h"

using namespace sluice::auth;

namespace {

// Generations come from one process-wide counter: each KeySet made or changed after another has
// a larger one. (No container of the generations seen: a target that keeps more memory after
// each run than before makes libFuzzer look for leaks after every run, at great cost.)
void check_new_generation(const KeySet& ks) {
  static uint64_t last = 0;
  CHECK(ks.generation() > last);
  last = ks.generation();
}

void check_key(const Jwk& k) {
  CHECK(k.valid());
  switch (k.kty()) {
    case KeyType::kOct:
      CHECK(k.secret().size() >= KeySet::kMinSecretBytes && k.pkey() == nullptr);
      CHECK(k.curve() == Curve::kNone);
      break;
    case KeyType::kRsa:
      CHECK(k.pkey() != nullptr && k.rsa_bits() >= KeySet::kMinRsaBits);
      CHECK(k.curve() == Curve::kNone);
      break;
    case KeyType::kEc:
      CHECK(k.pkey() != nullptr);
      CHECK(k.curve() == Curve::kP256 || k.curve() == Curve::kP384 || k.curve() == Curve::kP521);
      break;
    case KeyType::kOkp:
      CHECK(k.pkey() != nullptr && k.curve() == Curve::kEd25519);
      break;
  }
}

void check_set(const KeySet& ks) {
  CHECK(ks.size() == ks.keys().size() && ks.empty() == (ks.size() == 0));
  CHECK(ks.size() <= KeySet::kMaxKeys);
  bool secret = false;
  for (const Jwk& k : ks.keys()) {
    check_key(k);
    secret = secret || k.kty() == KeyType::kOct;
    const Jwk* found = ks.find(k.kid());
    CHECK(found != nullptr && found->kid() == k.kid());
  }
  CHECK(ks.has_secret() == secret);
  for (const std::string& why : ks.skipped()) CHECK(!why.empty());
}

void check_jwks(std::string_view in) {
  KeySet ks;
  std::string err;
  const uint64_t before = ks.generation();
  const bool ok = KeySet::from_jwks(in, &ks, &err);
  check_new_generation(ks);
  CHECK(ks.generation() != before || ks.empty());
  check_set(ks);
  if (!ok) {
    CHECK(!err.empty() && ks.empty());
    return;
  }
  CHECK(!ks.empty());
  // Every entry is kept or skipped, and alone it is judged the same way.
  const nlohmann::json doc = nlohmann::json::parse(in.begin(), in.end(), nullptr, false);
  CHECK(doc.is_object() && doc.contains("keys") && doc["keys"].is_array());
  const nlohmann::json& entries = doc["keys"];
  CHECK(ks.size() + ks.skipped().size() == entries.size());
  size_t kept = 0;
  for (const nlohmann::json& e : entries) {
    if (kept == KeySet::kMaxKeys) break;  // later ones are skipped as too many
    KeySet one;
    std::string why;
    const bool alone = one.add_jwk_json(e.dump(), &why);
    CHECK(alone == why.empty());
    CHECK(one.size() == (alone ? 1u : 0u));
    if (alone) {
      CHECK(ks.keys()[kept].kid() == one.keys()[0].kid());
      CHECK(ks.keys()[kept].kty() == one.keys()[0].kty());
      ++kept;
    }
  }
  CHECK(kept == ks.size());
}

void check_add(bool ok, const KeySet& ks, uint64_t before, const std::string& err) {
  check_set(ks);
  if (ok) {
    CHECK(ks.size() == 1 && err.empty() && ks.generation() != before);
  } else {
    CHECK(ks.empty() && !err.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    check_jwks(in);

    KeySet one;
    std::string err;
    uint64_t before = one.generation();
    check_add(one.add_jwk_json(in, &err), one, before, err);

    // Setting up OpenSSL's PEM decoder costs more than the rest of a run: only PEM-like input.
    if (in.find("-----BEGIN") != std::string_view::npos) {
      KeySet pem;
      err.clear();
      before = pem.generation();
      check_add(pem.add_pem(in, "kid", "", &err), pem, before, err);
    }

    for (const bool b64 : {false, true}) {
      KeySet secret;
      err.clear();
      before = secret.generation();
      const bool ok = secret.add_hmac_secret(in, b64, "hs", "HS256", &err);
      check_add(ok, secret, before, err);
      std::string raw;
      const bool expect = b64 ? base64url_decode(in, &raw) && raw.size() >= 16 : in.size() >= 16;
      CHECK(ok == expect);
      if (ok) CHECK(secret.keys()[0].secret() == (b64 ? raw : std::string(in)));
    }
  } catch (...) {
    abort();  // key material comes from the network: nothing may throw
  }
  return 0;
}
