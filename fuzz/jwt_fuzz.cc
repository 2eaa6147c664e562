// Fuzzes JWT verification and the JSON it parses. The first byte picks what the rest is:
//   0: a whole token, verified against a fixed key set (RSA, P-256, Ed25519, HMAC): it must
//      never be accepted, since the fuzzer knows no private key and not the secret;
//   1: a JWKS document for KeySet::from_jwks;
//   2: header JSON, NUL, payload JSON: made into a token with a garbage signature (the header
//      parser and the key selection run; acceptance is again a bug);
//   3: payload JSON, signed here with the HMAC secret, so the claims parser and the policy
//      checks run on arbitrary JSON (accepting is fine; crashing is not).
// The seed tokens in fuzz/corpus/jwt_fuzz/ are signed with other keys than these (same kids), so
// they reach signature verification and fail it: a seed that verified would trip the oracle.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/base64url.h"
#include "auth/jwk.h"
#include "auth/jwt.h"

namespace {

using namespace sluice::auth;

constexpr std::string_view kSecret = "fuzz-secret-0123456789abcdef";
constexpr std::string_view kJwks =
    R"J({"keys":[{"kty":"RSA","key_ops":["verify"],"n":"mek54VfPfimep358h1oxHOibz_CNkXNrIjZWjIwpQsTzFXzitHnUGhaujZ2zADx63VBkeutdlA8GeUmJwpt1dFrUNt4tqCJ43k5L41zOFSZcFjP2fwMMOGnFmQd0bqv4ZyHhAEzcxCH3TvVzF8dc2tr505CDMFhKG1NAb2bLB_E_Xls8RPxpDoiFR497vJJCruWidmunkcNaXo6CXOIy5jfB7TPuWA7vDj8tMdRSKVua5MhOrf2FMs0LngM3qXpb0gJG-3K5JXITd7uUifjAvFgJzLcVfC-RJjUmb0acMNNPngMV6euzC2k5anCck6yHE3MYka5WJVGumBcfQV5ulw","e":"AQAB","kid":"rsa"},{"kty":"EC","crv":"P-256","x":"Pu9-mhGw3aRJplz3lstaBm8tTEzx_4ujF-gxqgV_p5g","y":"UdfL82LqiVjFDDvq0UZyKCsxJUu1OaUqVKXNlUGWMvI","kid":"ec"},{"x":"0U0qU9zWRctoHUUMz50FEohaOsINAwMjtmX4ezyhipU","kty":"OKP","crv":"Ed25519","kid":"ed"}]})J";

const KeySet& keys() {
  static KeySet* ks = [] {
    auto* k = new KeySet();
    std::string err;
    if (!KeySet::from_jwks(kJwks, k, &err)) std::abort();
    if (!k->add_hmac_secret(kSecret, false, "hs", "", &err)) std::abort();
    return k;
  }();
  return *ks;
}

JwtPolicy policy() {
  JwtPolicy p;
  p.audiences = {"a"};
  p.required_claims = {"sub"};
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const KeySet& ks = keys();
  constexpr uint64_t kNow = 1700000000;
  switch (data[0] % 4) {
    case 0: {
      JwtPolicy lax;
      lax.require_exp = false;
      JwtResult r = verify_jwt(in, ks, lax, kNow);
      if (r.ok) std::abort();
      break;
    }
    case 1: {
      KeySet out;
      std::string err;
      KeySet::from_jwks(in, &out, &err);
      break;
    }
    case 2: {
      size_t nul = in.find('\0');
      std::string_view header = in.substr(0, nul);
      std::string_view payload = nul == std::string_view::npos ? "{}" : in.substr(nul + 1);
      std::string token = base64url_encode(header) + "." + base64url_encode(payload) + "." +
                          base64url_encode(std::string(64, 'x'));
      if (verify_jwt(token, ks, policy(), kNow).ok) std::abort();
      break;
    }
    case 3: {
      std::string input =
          base64url_encode(R"({"alg":"HS256","kid":"hs"})") + "." + base64url_encode(in);
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
      std::string token =
          input + "." + base64url_encode(std::string_view(reinterpret_cast<char*>(mac), len));
      JwtCache cache(4, 300);
      JwtResult r = cache.verify(token, ks, policy(), kNow);
      if (r.ok && (r.claims.exp != 0 && r.claims.exp + 60 <= kNow)) std::abort();
      if (r.ok) {
        (void)r.claim_string("sub");
        if (!cache.verify(token, ks, policy(), kNow).ok) std::abort();  // a hit
      }
      break;
    }
  }
  return 0;
}
