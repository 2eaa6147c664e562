// Verification keys for JWTs: one Jwk per key (an OpenSSL public key or an HMAC secret, with
// the JWK metadata that restricts its use), and KeySet, an immutable-once-published set of them
// built from a JWKS document (RFC 7517), PEM public keys or certificates, or HMAC secrets.
// A KeySet carries a process-wide unique generation so caches can tell when keys changed.
// Example:
//   KeySet keys;  std::string err;
//   if (!KeySet::from_jwks(body, &keys, &err)) log(err);      // keeps going on bad entries:
//   for (const auto& why : keys.skipped()) log(why);          // ...listed here
//   keys.add_pem(read_file("idp.pem"), "idp-1", "RS256", &err);
//   keys.add_hmac_secret("s3cret", /*base64url=*/false, "", "HS256", &err);
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace sluice::auth {

enum class KeyType : uint8_t { kRsa, kEc, kOkp, kOct };

// The curve of an EC or OKP key; kNone for RSA and HMAC keys.
enum class Curve : uint8_t { kNone, kP256, kP384, kP521, kEd25519 };

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

class Jwk {
 public:
  // An asymmetric public key (takes ownership); false-y (valid() == false) when its type is
  // not one JWS verification supports.
  static Jwk from_pkey(PkeyPtr pkey, std::string kid, std::string alg, std::string* error);
  static Jwk from_secret(std::string secret, std::string kid, std::string alg);

  bool valid() const { return valid_; }
  KeyType kty() const { return kty_; }
  Curve curve() const { return curve_; }
  const std::string& kid() const { return kid_; }
  const std::string& alg() const { return alg_; }  // "" = any alg of the key's family
  // Shared read-only by worker threads: OpenSSL 3 allows concurrent verification with one key.
  EVP_PKEY* pkey() const { return pkey_.get(); }
  const std::string& secret() const { return secret_; }
  size_t rsa_bits() const { return rsa_bits_; }

 private:
  bool valid_ = false;
  KeyType kty_ = KeyType::kOct;
  Curve curve_ = Curve::kNone;
  size_t rsa_bits_ = 0;
  std::string kid_;
  std::string alg_;
  PkeyPtr pkey_;
  std::string secret_;
};

class KeySet {
 public:
  // RSA keys shorter than this are refused: they can be factored and would forge any token.
  static constexpr size_t kMinRsaBits = 2048;
  // An HMAC secret must be at least this long (RFC 7518 section 3.2 asks for the hash size;
  // 16 keeps test secrets usable while refusing obvious mistakes like an empty secret).
  static constexpr size_t kMinSecretBytes = 16;
  static constexpr size_t kMaxKeys = 256;

  KeySet();
  KeySet(KeySet&&) = default;
  KeySet& operator=(KeySet&&) = default;

  // Parses a JWKS document ({"keys":[...]}) into *out (replacing it). Entries that cannot be
  // used (unknown kty or crv, use other than "sig", bad numbers, short RSA keys) are skipped and
  // listed in skipped(); false with *error when the document is not a JWKS or no key is usable.
  static bool from_jwks(std::string_view json, KeySet* out, std::string* error);
  // One JWK object (the text of one entry of "keys").
  bool add_jwk_json(std::string_view json, std::string* error);
  // A PEM public key (SubjectPublicKeyInfo or PKCS#1 RSA) or an X.509 certificate.
  bool add_pem(std::string_view pem, std::string kid, std::string alg, std::string* error);
  // An HMAC secret, as given or base64url-encoded.
  bool add_hmac_secret(std::string_view secret, bool base64url, std::string kid, std::string alg,
                       std::string* error);

  const std::vector<Jwk>& keys() const { return keys_; }
  const std::vector<std::string>& skipped() const { return skipped_; }
  size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  bool has_secret() const { return has_secret_; }
  // Changes with every key added; unique across all KeySets of the process.
  uint64_t generation() const { return generation_; }
  // The key with this kid, or nullptr.
  const Jwk* find(std::string_view kid) const;

 private:
  bool add(Jwk key, std::string* error);
  void bump();

  std::vector<Jwk> keys_;
  std::vector<std::string> skipped_;
  bool has_secret_ = false;
  uint64_t generation_ = 0;
};

}  // namespace sluice::auth
