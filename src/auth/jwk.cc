#include "auth/jwk.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "auth/base64url.h"

namespace sluice::auth {

void PkeyDeleter::operator()(EVP_PKEY* p) const {
  EVP_PKEY_free(p);
}

namespace {

using json = nlohmann::json;

std::atomic<uint64_t> g_generation{0};

struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct BldDeleter {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct CtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};

// Never the throwing accessors: a JWKS comes from the network.
const std::string* get_string(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return nullptr;
  return it->get_ptr<const std::string*>();
}

bool decode_field(const json& obj, const char* name, std::string* out, std::string* error) {
  const std::string* s = get_string(obj, name);
  if (s == nullptr) {
    *error = std::string("missing or non-string \"") + name + "\"";
    return false;
  }
  if (s->empty() || !base64url_decode(*s, out)) {
    *error = std::string("\"") + name + "\" is not base64url";
    return false;
  }
  return true;
}

PkeyPtr pkey_from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  std::unique_ptr<EVP_PKEY_CTX, CtxDeleter> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) return nullptr;
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) return nullptr;
  return PkeyPtr(raw);
}

PkeyPtr rsa_from_jwk(const json& obj, std::string* error) {
  std::string n, e;
  if (!decode_field(obj, "n", &n, error) || !decode_field(obj, "e", &e, error)) return nullptr;
  std::unique_ptr<BIGNUM, BnDeleter> bn_n(BN_bin2bn(
      reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
  std::unique_ptr<BIGNUM, BnDeleter> bn_e(BN_bin2bn(
      reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, BldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    *error = "cannot build the RSA key";
    return nullptr;
  }
  PkeyPtr key = pkey_from_params("RSA", bld.get());
  if (!key) *error = "invalid RSA key";
  return key;
}

PkeyPtr ec_from_jwk(const json& obj, std::string* error) {
  const std::string* crv = get_string(obj, "crv");
  if (crv == nullptr) {
    *error = "EC key without \"crv\"";
    return nullptr;
  }
  const char* group = nullptr;
  size_t len = 0;
  if (*crv == "P-256") {
    group = "P-256", len = 32;
  } else if (*crv == "P-384") {
    group = "P-384", len = 48;
  } else if (*crv == "P-521") {
    group = "P-521", len = 66;
  } else {
    *error = "unsupported EC curve";
    return nullptr;
  }
  std::string x, y;
  if (!decode_field(obj, "x", &x, error) || !decode_field(obj, "y", &y, error)) return nullptr;
  if (x.size() != len || y.size() != len) {
    *error = "EC coordinates of the wrong length";
    return nullptr;
  }
  std::string point = "\x04" + x + y;  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, BldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    *error = "cannot build the EC key";
    return nullptr;
  }
  PkeyPtr key = pkey_from_params("EC", bld.get());
  if (!key) {
    *error = "invalid EC key";
    return nullptr;
  }
  // fromdata does not promise the point is on the curve; a point off it is never a real key.
  std::unique_ptr<EVP_PKEY_CTX, CtxDeleter> ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) {
    *error = "EC point is not on the curve";
    return nullptr;
  }
  return key;
}

PkeyPtr okp_from_jwk(const json& obj, std::string* error) {
  const std::string* crv = get_string(obj, "crv");
  if (crv == nullptr || *crv != "Ed25519") {
    *error = "unsupported OKP curve (only Ed25519)";
    return nullptr;
  }
  std::string x;
  if (!decode_field(obj, "x", &x, error)) return nullptr;
  if (x.size() != 32) {
    *error = "Ed25519 key of the wrong length";
    return nullptr;
  }
  PkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
  if (!key) *error = "invalid Ed25519 key";
  return key;
}

std::string describe(const json& obj, size_t index) {
  std::string s = "key " + std::to_string(index);
  if (const std::string* kid = get_string(obj, "kid"); kid != nullptr) {
    // Bounded: the reason ends up in logs.
    s += " (kid \"" + kid->substr(0, 64) + "\")";
  }
  return s;
}

}  // namespace

Jwk Jwk::from_pkey(PkeyPtr pkey, std::string kid, std::string alg, std::string* error) {
  Jwk k;
  k.kid_ = std::move(kid);
  k.alg_ = std::move(alg);
  if (!pkey) {
    *error = "no key";
    return k;
  }
  EVP_PKEY* p = pkey.get();
  if (EVP_PKEY_is_a(p, "RSA")) {
    k.kty_ = KeyType::kRsa;
    k.rsa_bits_ = static_cast<size_t>(EVP_PKEY_get_bits(p));
    if (k.rsa_bits_ < KeySet::kMinRsaBits) {
      *error = "RSA key shorter than 2048 bits";
      return k;
    }
  } else if (EVP_PKEY_is_a(p, "EC")) {
    k.kty_ = KeyType::kEc;
    char name[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) !=
        1) {
      *error = "EC key without a named curve";
      return k;
    }
    std::string_view g(name, len);
    if (g == "prime256v1" || g == "P-256") {
      k.curve_ = Curve::kP256;
    } else if (g == "secp384r1" || g == "P-384") {
      k.curve_ = Curve::kP384;
    } else if (g == "secp521r1" || g == "P-521") {
      k.curve_ = Curve::kP521;
    } else {
      *error = "unsupported EC curve";
      return k;
    }
  } else if (EVP_PKEY_is_a(p, "ED25519")) {
    k.kty_ = KeyType::kOkp;
    k.curve_ = Curve::kEd25519;
  } else {
    *error = "unsupported key type";
    return k;
  }
  k.pkey_ = std::move(pkey);
  k.valid_ = true;
  return k;
}

Jwk Jwk::from_secret(std::string secret, std::string kid, std::string alg) {
  Jwk k;
  k.kty_ = KeyType::kOct;
  k.kid_ = std::move(kid);
  k.alg_ = std::move(alg);
  k.secret_ = std::move(secret);
  k.valid_ = true;
  return k;
}

KeySet::KeySet() {
  bump();
}

void KeySet::bump() {
  generation_ = g_generation.fetch_add(1, std::memory_order_relaxed) + 1;
}

const Jwk* KeySet::find(std::string_view kid) const {
  for (const Jwk& k : keys_) {
    if (k.kid() == kid) return &k;
  }
  return nullptr;
}

bool KeySet::add(Jwk key, std::string* error) {
  if (!key.valid()) return false;
  if (keys_.size() >= kMaxKeys) {
    *error = "too many keys";
    return false;
  }
  if (key.kty() == KeyType::kOct) has_secret_ = true;
  keys_.push_back(std::move(key));
  bump();
  return true;
}

namespace {

// One JWK object into *key; false with *error for an entry to skip.
bool jwk_from_object(const json& obj, Jwk* key, std::string* error) {
  if (!obj.is_object()) {
    *error = "not an object";
    return false;
  }
  const std::string* kty = get_string(obj, "kty");
  if (kty == nullptr) {
    *error = "missing \"kty\"";
    return false;
  }
  if (const std::string* use = get_string(obj, "use"); use != nullptr && *use != "sig") {
    *error = "\"use\" is not \"sig\"";
    return false;
  }
  if (obj.contains("use") && get_string(obj, "use") == nullptr) {
    *error = "non-string \"use\"";
    return false;
  }
  std::string kid, alg;
  if (auto it = obj.find("kid"); it != obj.end()) {
    const std::string* s = it->get_ptr<const std::string*>();
    if (s == nullptr) {
      *error = "non-string \"kid\"";
      return false;
    }
    kid = *s;
  }
  if (auto it = obj.find("alg"); it != obj.end()) {
    const std::string* s = it->get_ptr<const std::string*>();
    if (s == nullptr) {
      *error = "non-string \"alg\"";
      return false;
    }
    alg = *s;
  }
  if (*kty == "oct") {
    std::string k;
    if (!decode_field(obj, "k", &k, error)) return false;
    if (k.size() < KeySet::kMinSecretBytes) {
      *error = "HMAC secret shorter than 16 bytes";
      return false;
    }
    *key = Jwk::from_secret(std::move(k), std::move(kid), std::move(alg));
    return true;
  }
  PkeyPtr pkey;
  if (*kty == "RSA") {
    pkey = rsa_from_jwk(obj, error);
  } else if (*kty == "EC") {
    pkey = ec_from_jwk(obj, error);
  } else if (*kty == "OKP") {
    pkey = okp_from_jwk(obj, error);
  } else {
    *error = "unsupported \"kty\"";
    return false;
  }
  if (!pkey) return false;
  *key = Jwk::from_pkey(std::move(pkey), std::move(kid), std::move(alg), error);
  return key->valid();
}

}  // namespace

bool KeySet::from_jwks(std::string_view text, KeySet* out, std::string* error) {
  *out = KeySet();
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    *error = "the JWKS is not a JSON object";
    return false;
  }
  auto it = doc.find("keys");
  if (it == doc.end() || !it->is_array()) {
    *error = "the JWKS has no \"keys\" array";
    return false;
  }
  size_t index = 0;
  for (const json& entry : *it) {
    std::string why;
    Jwk key;
    if (jwk_from_object(entry, &key, &why)) {
      if (!out->add(std::move(key), &why)) {
        out->skipped_.push_back(describe(entry, index) + ": " + why);
      }
    } else {
      out->skipped_.push_back(entry.is_object() ? describe(entry, index) + ": " + why
                                                : "key " + std::to_string(index) + ": " + why);
    }
    ++index;
  }
  if (out->keys_.empty()) {
    *error = index == 0 ? "the JWKS has no keys"
                        : "no usable key in the JWKS (" + out->skipped_.front() + ")";
    return false;
  }
  return true;
}

bool KeySet::add_jwk_json(std::string_view text, std::string* error) {
  json obj = json::parse(text.begin(), text.end(), nullptr, false);
  if (obj.is_discarded()) {
    *error = "the JWK is not JSON";
    return false;
  }
  Jwk key;
  if (!jwk_from_object(obj, &key, error)) return false;
  return add(std::move(key), error);
}

bool KeySet::add_pem(std::string_view pem, std::string kid, std::string alg, std::string* error) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    *error = "out of memory";
    return false;
  }
  PkeyPtr pkey;
  if (pem.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) {
    std::unique_ptr<X509, X509Deleter> cert(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      *error = "unreadable PEM certificate";
      return false;
    }
    pkey.reset(X509_get_pubkey(cert.get()));
  } else {
    // The decoder reads both SubjectPublicKeyInfo and PKCS#1 "RSA PUBLIC KEY" blocks.
    EVP_PKEY* raw = nullptr;
    OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, nullptr,
                                                           EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
    if (dctx != nullptr) {
      const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
      size_t len = pem.size();
      OSSL_DECODER_from_data(dctx, &data, &len);
      OSSL_DECODER_CTX_free(dctx);
    }
    pkey.reset(raw);
  }
  if (!pkey) {
    *error = "no public key or certificate in the PEM text";
    return false;
  }
  Jwk key = Jwk::from_pkey(std::move(pkey), std::move(kid), std::move(alg), error);
  if (!key.valid()) return false;
  return add(std::move(key), error);
}

bool KeySet::add_hmac_secret(std::string_view secret, bool is_base64url, std::string kid,
                             std::string alg, std::string* error) {
  std::string raw;
  if (is_base64url) {
    if (!base64url_decode(secret, &raw)) {
      *error = "the HMAC secret is not base64url";
      return false;
    }
  } else {
    raw = std::string(secret);
  }
  if (raw.size() < kMinSecretBytes) {
    *error = "HMAC secret shorter than 16 bytes";
    return false;
  }
  return add(Jwk::from_secret(std::move(raw), std::move(kid), std::move(alg)), error);
}

}  // namespace sluice::auth
