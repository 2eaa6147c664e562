// Micro-benchmarks of JWT verification on the request path: one verification per algorithm
// (uncached), a JwtCache hit (the common case for a client that reuses its token), and the
// base64url decoding of a 1 KiB token.
#include <benchmark/benchmark.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <string>

#include "auth/base64url.h"
#include "auth/jwk.h"
#include "auth/jwt.h"

namespace {

using namespace sluice::auth;

constexpr uint64_t kNow = 1700000000;
constexpr std::string_view kSecret = "bench-secret-0123456789abcdef0123";

std::string public_pem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(len));
  BIO_free(bio);
  return s;
}

std::string sign(const char* alg, EVP_PKEY* key, std::string_view input) {
  std::string a(alg);
  if (a == "HS256") {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    return std::string(reinterpret_cast<char*>(mac), len);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, a == "EdDSA" ? nullptr : EVP_sha256(), nullptr, key);
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (a == "ES256") {
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    return raw;
  }
  return sig;
}

// A realistic token: an IdP's usual claims.
std::string token(const char* alg, const char* kid, EVP_PKEY* key) {
  std::string header = std::string(R"({"alg":")") + alg + R"(","typ":"JWT","kid":")" + kid + "\"}";
  std::string payload =
      R"({"iss":"https://idp.example.com/realms/main","sub":"0b6c7a9e-4a3f-4b51-9d6e-2f1c9b7e8a10",)"
      R"("aud":["api","account"],"exp":1700003600,"iat":1700000000,"nbf":1700000000,)"
      R"("roles":["user","billing-read"],"email":"someone@example.com","tenant":"acme"})";
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(sign(alg, key, input));
}

struct Fixture {
  EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  KeySet keys;
  JwtPolicy policy;
  Fixture() {
    std::string err;
    keys.add_pem(public_pem(rsa), "rsa", "RS256", &err);
    keys.add_pem(public_pem(ec), "ec", "ES256", &err);
    keys.add_pem(public_pem(ed), "ed", "EdDSA", &err);
    keys.add_hmac_secret(kSecret, false, "hs", "HS256", &err);
    policy.issuers = {"https://idp.example.com/realms/main"};
    policy.audiences = {"api"};
  }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

void verify_bench(benchmark::State& state, const char* alg, const char* kid, EVP_PKEY* key) {
  std::string t = token(alg, kid, key);
  for (auto _ : state) {
    JwtResult r = verify_jwt(t, fx().keys, fx().policy, kNow);
    if (!r.ok) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(r);
  }
}

void BM_VerifyRS256(benchmark::State& s) {
  verify_bench(s, "RS256", "rsa", fx().rsa);
}
void BM_VerifyES256(benchmark::State& s) {
  verify_bench(s, "ES256", "ec", fx().ec);
}
void BM_VerifyEdDSA(benchmark::State& s) {
  verify_bench(s, "EdDSA", "ed", fx().ed);
}
void BM_VerifyHS256(benchmark::State& s) {
  verify_bench(s, "HS256", "hs", nullptr);
}
BENCHMARK(BM_VerifyRS256);
BENCHMARK(BM_VerifyES256);
BENCHMARK(BM_VerifyEdDSA);
BENCHMARK(BM_VerifyHS256);

void BM_CacheHitRS256(benchmark::State& state) {
  std::string t = token("RS256", "rsa", fx().rsa);
  JwtCache cache;
  cache.verify(t, fx().keys, fx().policy, kNow);
  for (auto _ : state) {
    JwtResult r = cache.verify(t, fx().keys, fx().policy, kNow);
    benchmark::DoNotOptimize(r);
  }
  if (cache.hits() + 1 < static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("not served from the cache");
  }
}
BENCHMARK(BM_CacheHitRS256);

void BM_Base64urlDecode1KiB(benchmark::State& state) {
  std::string raw(768, '\0');
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i * 131 + 7);
  std::string enc = base64url_encode(raw);  // 1024 characters
  std::string out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(base64url_decode(enc, &out));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * enc.size()));
}
BENCHMARK(BM_Base64urlDecode1KiB);

}  // namespace
