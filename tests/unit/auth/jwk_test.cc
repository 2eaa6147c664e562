#include "auth/jwk.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

#include "auth/base64url.h"

namespace sluice::auth {
namespace {

std::string bn_param(EVP_PKEY* k, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(k, name, &bn), 1);
  int n = pad > 0 ? pad : BN_num_bytes(bn);
  std::string s(static_cast<size_t>(n), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(s.data()), n);
  BN_free(bn);
  return base64url_encode(s);
}

EVP_PKEY* rsa_key() {
  static EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  return k;
}

std::string rsa_jwk(EVP_PKEY* k, const std::string& kid) {
  return R"({"kty":"RSA","kid":")" + kid + R"(","use":"sig","alg":"RS256","n":")" +
         bn_param(k, OSSL_PKEY_PARAM_RSA_N) + R"(","e":")" + bn_param(k, OSSL_PKEY_PARAM_RSA_E) +
         "\"}";
}

std::string ec_jwk(EVP_PKEY* k, const char* crv, int len) {
  return R"({"kty":"EC","kid":"ec","crv":")" + std::string(crv) + R"(","x":")" +
         bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, len) + R"(","y":")" +
         bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, len) + "\"}";
}

std::string ed_jwk(EVP_PKEY* k) {
  unsigned char raw[32];
  size_t len = sizeof(raw);
  EXPECT_EQ(EVP_PKEY_get_raw_public_key(k, raw, &len), 1);
  return R"({"kty":"OKP","crv":"Ed25519","kid":"ed","x":")" +
         base64url_encode(std::string_view(reinterpret_cast<char*>(raw), len)) + "\"}";
}

TEST(KeySet, ParsesAJwksWithEveryKeyType) {
  EVP_PKEY* p256 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  std::string doc = R"({"keys":[)" + rsa_jwk(rsa_key(), "r1") + "," + ec_jwk(p256, "P-256", 32) +
                    "," + ec_jwk(p384, "P-384", 48) + "," + ed_jwk(ed) +
                    R"(,{"kty":"oct","kid":"h","k":")" + base64url_encode("0123456789abcdef!") +
                    R"("}]})";
  KeySet ks;
  std::string err;
  ASSERT_TRUE(KeySet::from_jwks(doc, &ks, &err)) << err;
  EXPECT_TRUE(ks.skipped().empty());
  ASSERT_EQ(ks.size(), 5u);
  EXPECT_EQ(ks.keys()[0].kty(), KeyType::kRsa);
  EXPECT_EQ(ks.keys()[0].alg(), "RS256");
  EXPECT_EQ(ks.keys()[0].rsa_bits(), 2048u);
  EXPECT_EQ(ks.keys()[1].curve(), Curve::kP256);
  EXPECT_EQ(ks.keys()[2].curve(), Curve::kP384);
  EXPECT_EQ(ks.keys()[3].curve(), Curve::kEd25519);
  EXPECT_EQ(ks.keys()[4].kty(), KeyType::kOct);
  EXPECT_EQ(ks.keys()[4].secret(), "0123456789abcdef!");
  EXPECT_TRUE(ks.has_secret());
  EXPECT_NE(ks.find("r1"), nullptr);
  EXPECT_EQ(ks.find("zz"), nullptr);
  EVP_PKEY_free(p256);
  EVP_PKEY_free(p384);
  EVP_PKEY_free(ed);
}

TEST(KeySet, SkipsBadEntriesWithAReason) {
  EVP_PKEY* p256 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  std::string good = rsa_jwk(rsa_key(), "good");
  std::string off_curve = ec_jwk(p256, "P-256", 32);
  off_curve[off_curve.size() - 4] = off_curve[off_curve.size() - 4] == 'A' ? 'B' : 'A';
  std::string doc = R"({"keys":[)" + good +
                    R"(,{"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"})"
                    R"(,{"kty":"RSA","kid":"short","n":"AQAB","e":"AQAB"})"
                    R"(,{"kty":"XYZ"},{"kid":"nokty"},7)"
                    R"(,{"kty":"EC","crv":"P-192","x":"AA","y":"AA"})"
                    R"(,{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"})"
                    R"(,{"kty":"oct","k":"c2hvcnQ"})"
                    R"(,{"kty":"OKP","crv":"X25519","x":"AAAA"})"
                    R"(,{"kty":"RSA","n":"not base64!","e":"AQAB"})"
                    "," +
                    off_curve + "]}";
  KeySet ks;
  std::string err;
  ASSERT_TRUE(KeySet::from_jwks(doc, &ks, &err)) << err;
  EXPECT_EQ(ks.size(), 1u);
  EXPECT_EQ(ks.skipped().size(), 11u);
  for (const auto& why : ks.skipped()) EXPECT_FALSE(why.empty());
  EXPECT_NE(ks.skipped()[0].find("enc"), std::string::npos);
  EXPECT_NE(ks.skipped()[1].find("2048"), std::string::npos);
  EVP_PKEY_free(p256);
}

TEST(KeySet, ABadDocumentIsAnError) {
  KeySet ks;
  std::string err;
  for (const char* doc : {"", "{", "[]", R"({"keys":{}})", R"({"nokeys":[]})", R"({"keys":[]})",
                          R"({"keys":[{"kty":"XYZ"}]})", "{\"keys\":[]}\xff"}) {
    EXPECT_FALSE(KeySet::from_jwks(doc, &ks, &err)) << doc;
    EXPECT_FALSE(err.empty());
    EXPECT_TRUE(ks.empty());
  }
}

TEST(KeySet, PemKeysAndCertificates) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, rsa_key());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string spki(data, static_cast<size_t>(len));
  BIO_free(bio);

  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, rsa_key());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("idp"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_sign(cert, rsa_key(), EVP_sha256());
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  len = BIO_get_mem_data(bio, &data);
  std::string cert_pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_free(cert);

  KeySet ks;
  std::string err;
  EXPECT_TRUE(ks.add_pem(spki, "a", "RS256", &err)) << err;
  EXPECT_TRUE(ks.add_pem(cert_pem, "b", "", &err)) << err;
  EXPECT_FALSE(
      ks.add_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "", "", &err));
  EXPECT_FALSE(ks.add_pem("garbage", "", "", &err));
  EXPECT_EQ(ks.size(), 2u);
  EXPECT_EQ(ks.find("b")->kty(), KeyType::kRsa);
  EXPECT_FALSE(ks.has_secret());
}

TEST(KeySet, HmacSecretsAndGenerations) {
  KeySet ks;
  std::string err;
  uint64_t g0 = ks.generation();
  EXPECT_TRUE(ks.add_hmac_secret("a plain secret, long enough", false, "p", "HS256", &err));
  EXPECT_NE(ks.generation(), g0);
  EXPECT_TRUE(ks.add_hmac_secret(base64url_encode("0123456789abcdefXYZ"), true, "b", "", &err));
  EXPECT_EQ(ks.find("b")->secret(), "0123456789abcdefXYZ");
  EXPECT_FALSE(ks.add_hmac_secret("short", false, "", "", &err));
  EXPECT_FALSE(ks.add_hmac_secret("not base64 url!!!!!!!!!!!!", true, "", "", &err));
  KeySet other;
  EXPECT_NE(other.generation(), ks.generation());
  EXPECT_TRUE(ks.add_jwk_json(R"({"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZg"})", &err)) << err;
  EXPECT_FALSE(ks.add_jwk_json("{", &err));
}

}  // namespace
}  // namespace sluice::auth
