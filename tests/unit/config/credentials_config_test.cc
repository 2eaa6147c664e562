// The errors of consumers and jwt_providers (names, API key hashes, HMAC keys, providers and their
// keys), each with its line and key path.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "security_config_test_util.h"

namespace sluice::config {
namespace {

using security_config_test_util::expect_error;
using security_config_test_util::kHashA;
using security_config_test_util::kHead;
using security_config_test_util::load;
using security_config_test_util::upper_hex;

// --- consumers ---------------------------------------------------------------------------------

TEST(SecurityConfigErrors, ConsumerName) {
  expect_error(kHead + R"(consumers:
  - name: "al ice"
)",
               4, "consumers[0].name", "invalid consumer name 'al ice'");
  expect_error(kHead + R"(consumers:
  - name: alice
  - name: alice
)",
               5, "consumers[1].name", "duplicate consumer name 'alice' (first defined at line 4)");
  expect_error(kHead + R"(consumers:
  - roles: [a]
)",
               4, "consumers[0].name", "missing required key 'name'");
  expect_error(kHead + R"(consumers:
  - name: a
    api_key: [x]
)",
               5, "consumers[0].api_key", "unknown key 'api_key' (did you mean 'api_keys'?)");
}

TEST(SecurityConfigErrors, ApiKeyHashes) {
  // A raw key pasted instead of its hash is not echoed.
  const std::string raw = "very-secret-raw-key";
  expect_error(kHead + R"(consumers:
  - name: a
    api_keys: [")" +
                   raw + R"("]
)",
               5, "consumers[0].api_keys[0]", "expected an API key hash 'sha256:<64 hex digits>'");
  const LoadResult r = load(kHead + "consumers:\n  - name: a\n    api_keys: [" + raw + "]\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message.find(raw), std::string::npos);

  expect_error(kHead + R"(consumers:
  - name: a
    api_keys: [")" +
                   kHashA + R"("]
  - name: b
    api_keys: [")" +
                   upper_hex(kHashA) + R"("]
)",
               7, "consumers[1].api_keys[0]", "duplicate API key hash (first at line 5)");
}

TEST(SecurityConfigErrors, HmacKeys) {
  expect_error(kHead + R"(consumers:
  - name: a
    hmac_keys:
      - {key_id: k, secret: "0123456789abcdef", secret_file: @DIR@/secret}
)",
               6, "consumers[0].hmac_keys[0]", "exactly one of 'secret' or 'secret_file'");
  expect_error(kHead + R"(consumers:
  - name: a
    hmac_keys:
      - {key_id: k}
)",
               6, "consumers[0].hmac_keys[0]", "exactly one of 'secret' or 'secret_file'");
  expect_error(kHead + R"(consumers:
  - name: a
    hmac_keys: [{key_id: k, secret: "0123456789abcdef"}]
  - name: b
    hmac_keys:
      - {key_id: k, secret: "0123456789abcdef"}
)",
               8, "consumers[1].hmac_keys[0].key_id",
               "duplicate key_id 'k' (first defined at line 5)");
  expect_error(kHead + R"(consumers:
  - name: a
    hmac_keys: [{key_id: k, secret: "tooshort"}]
)",
               5, "consumers[0].hmac_keys[0].secret",
               "secret must be at least 16 bytes long, got 8");
  expect_error(kHead + R"(consumers:
  - name: a
    hmac_keys: [{key_id: k, secret_file: @DIR@/short}]
)",
               5, "consumers[0].hmac_keys[0].secret_file",
               "secret must be at least 16 bytes long, got 5");
  expect_error(kHead + R"(consumers:
  - name: a
    hmac_keys: [{key_id: k, secret_file: @DIR@/missing}]
)",
               5, "consumers[0].hmac_keys[0].secret_file", "No such file or directory");
  expect_error(kHead + R"(consumers:
  - name: a
    hmac_keys: [{key_id: k, secret_file: @DIR@}]
)",
               5, "consumers[0].hmac_keys[0].secret_file", "is not a regular file");
  expect_error(kHead + R"(consumers:
  - name: a
    hmac_keys: [{key_id: k, secret_file: @DIR@/fifo}]
)",
               5, "consumers[0].hmac_keys[0].secret_file", "is not a regular file");
  expect_error(kHead + R"(consumers:
  - name: a
    hmac_keys: [{key_id: "k 1", secret: "0123456789abcdef"}]
)",
               5, "consumers[0].hmac_keys[0].key_id", "invalid key_id 'k 1'");
  // The secret never appears in a message.
  const LoadResult r =
      load(kHead + "consumers:\n  - name: a\n    hmac_keys: [{key_id: k, secret: hush}]\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string().find("hush"), std::string::npos);
}

// --- jwt_providers -----------------------------------------------------------------------------

TEST(SecurityConfigErrors, JwtProviders) {
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: http://h/j
  - name: p
    jwks_url: http://h/j
)",
               6, "jwt_providers[1].name", "duplicate provider name 'p' (first defined at line 4)");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    issuer: a
)",
               4, "jwt_providers[0]", "a JWT provider needs 'keys' or 'jwks_url'");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    keys: []
)",
               4, "jwt_providers[0]", "a JWT provider needs 'keys' or 'jwks_url'");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: http://h/j
    algorithms: [RS256, NoNe]
)",
               6, "jwt_providers[0].algorithms[1]", "the algorithm 'none'");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: http://h/j
    algorithms: RS265
)",
               6, "jwt_providers[0].algorithms", "unsupported JWT algorithm 'RS265'");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: ftp://h/j
)",
               5, "jwt_providers[0].jwks_url", "invalid jwks_url 'ftp://h/j'");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: http://h/j
    jwks_ca_file: /etc/ssl/certs/ca-certificates.crt
)",
               6, "jwt_providers[0].jwks_ca_file", "jwks_ca_file needs an https:// jwks_url");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: https://h/j
    jwks_ca_file: /nonexistent/ca.pem
)",
               6, "jwt_providers[0].jwks_ca_file", "/nonexistent/ca.pem");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: http://h/j
    issuer: a
    issuers: [b]
)",
               7, "jwt_providers[0].issuers", "give 'issuer' or 'issuers', not both");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: http://h/j
    from: [bearer, "header:"]
)",
               6, "jwt_providers[0].from[1]", "missing name after 'header:'");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: http://h/j
    from: [token]
)",
               6, "jwt_providers[0].from[0]", "expected bearer, header:NAME, cookie:NAME");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: http://h/j
    forward_claims:
      "x user": sub
)",
               7, "jwt_providers[0].forward_claims.x user", "invalid header name");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: http://h/j
    forward_claims: {Host: sub}
)",
               6, "jwt_providers[0].forward_claims.host", "cannot carry a claim");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    jwks_url: http://h/j
    clock_skew: 1500ms
)",
               6, "jwt_providers[0].clock_skew", "whole number of seconds");
}

TEST(SecurityConfigErrors, JwtKeys) {
  expect_error(kHead + R"(jwt_providers:
  - name: p
    keys:
      - {pem_file: @DIR@/bad.pem, kid: a}
)",
               6, "jwt_providers[0].keys[0].pem_file", "no public key or certificate");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    keys:
      - {pem_file: @DIR@/pub.pem, alg: RS256}
)",
               6, "jwt_providers[0].keys[0].alg", "does not fit the key");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    keys:
      - {pem_file: @DIR@/nope.pem}
)",
               6, "jwt_providers[0].keys[0].pem_file", "cannot open");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    keys:
      - {secret: "short"}
)",
               6, "jwt_providers[0].keys[0].secret", "shorter than 16 bytes");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    keys:
      - {secret: "0123456789abcdef", alg: RS256}
)",
               6, "jwt_providers[0].keys[0].alg", "a secret is a key for HS256");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    keys:
      - {secret: "0123456789abcdef", alg: none}
)",
               6, "jwt_providers[0].keys[0].alg", "the algorithm 'none'");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    keys:
      - {secret: "0123456789abcdef", pem_file: @DIR@/pub.pem}
)",
               6, "jwt_providers[0].keys[0]", "exactly one of 'pem_file' or 'secret'");
  expect_error(kHead + R"(jwt_providers:
  - name: p
    keys:
      - {secret: "0123456789abcdef", kid: a}
      - {secret: "0123456789abcdef", kid: a}
)",
               7, "jwt_providers[0].keys[1].kid", "duplicate kid 'a' in this provider");
}

}  // namespace
}  // namespace sluice::config
