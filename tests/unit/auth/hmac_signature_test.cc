#include "auth/hmac_signature.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "auth/nonce_cache.h"

namespace sluice::auth {
namespace {

constexpr std::string_view kAuth =
    R"(SLUICE-HMAC-SHA256 keyId="client-1", signedHeaders="host;content-type", )"
    R"(nonce="3q2-7wAAAAAB", signature="abc=")";

TEST(SignatureHeader, ParsesAllParameters) {
  SignatureHeader sh;
  const char* why = nullptr;
  ASSERT_TRUE(parse_signature_header(kAuth, &sh, &why)) << why;
  EXPECT_EQ(sh.key_id, "client-1");
  EXPECT_EQ(sh.signed_headers, "host;content-type");
  EXPECT_EQ(sh.nonce, "3q2-7wAAAAAB");
  EXPECT_EQ(sh.signature, "abc=");
}

TEST(SignatureHeader, ToleratesOrderWhitespaceCaseAndUnknownParams) {
  SignatureHeader sh;
  const char* why = nullptr;
  ASSERT_TRUE(parse_signature_header(
      "  sluice-hmac-sha256\tsignature = \"s\" ,nonce=\"nnnnnnnn\",future=\"x\","
      "signedHeaders=\"\", keyId=\"k\"  ",
      &sh, &why))
      << why;
  EXPECT_EQ(sh.key_id, "k");
  EXPECT_EQ(sh.signed_headers, "");
  EXPECT_EQ(sh.signature, "s");
}

TEST(SignatureHeader, RejectsMalformed) {
  const char* bad[] = {
      "",
      "Bearer abc",
      "SLUICE-HMAC-SHA256",
      "SLUICE-HMAC-SHA256x keyId=\"k\"",
      R"(SLUICE-HMAC-SHA256 keyId="k", signedHeaders="", nonce="nnnnnnnn")",  // no signature
      R"(SLUICE-HMAC-SHA256 keyId="", signedHeaders="", nonce="nnnnnnnn", signature="s")",
      R"(SLUICE-HMAC-SHA256 keyId="k", signedHeaders="", nonce="short", signature="s")",
      R"(SLUICE-HMAC-SHA256 keyId="k", keyId="k2", signedHeaders="", nonce="nnnnnnnn", signature="s")",
      R"(SLUICE-HMAC-SHA256 keyId=k, signedHeaders="", nonce="nnnnnnnn", signature="s")",
      R"(SLUICE-HMAC-SHA256 keyId="k" signedHeaders="", nonce="nnnnnnnn", signature="s")",
      R"(SLUICE-HMAC-SHA256 keyId="k", signedHeaders="Host", nonce="nnnnnnnn", signature="s")",
      R"(SLUICE-HMAC-SHA256 keyId="k", signedHeaders="host;host", nonce="nnnnnnnn", signature="s")",
      R"(SLUICE-HMAC-SHA256 keyId="k", signedHeaders="host;", nonce="nnnnnnnn", signature="s")",
      R"(SLUICE-HMAC-SHA256 keyId="k\"", signedHeaders="", nonce="nnnnnnnn", signature="s")",
      R"(SLUICE-HMAC-SHA256 keyId="k", signedHeaders="", nonce="nnnnnnnn", signature="s)",
      R"(SLUICE-HMAC-SHA256 keyId="k", signedHeaders="", nonce="nnnnnnnn", signature="s",)",
  };
  for (const char* b : bad) {
    SignatureHeader sh;
    const char* why = nullptr;
    EXPECT_FALSE(parse_signature_header(b, &sh, &why)) << b;
    EXPECT_NE(why, nullptr) << b;
  }
}

TEST(SignatureHeader, SignedHeaderListLimits) {
  std::vector<std::string_view> names;
  EXPECT_TRUE(parse_signed_headers("host;x-date;content-type", &names));
  EXPECT_EQ(names.size(), 3u);
  std::string many;
  for (size_t i = 0; i <= kMaxSignedHeaders; ++i) many += (i ? ";h" : "h") + std::to_string(i);
  EXPECT_FALSE(parse_signed_headers(many, &names));
}

TEST(CanonicalString, ExactLayout) {
  const std::string c = canonical_string("post", "/v1/pay%2Fx", "?b=2&a=1",
                                         {{"Host", "api.example.com"}, {"content-type", " a/b\t"}},
                                         "1700000000", "nonce-123", "ABCDEF");
  EXPECT_EQ(c,
            "SLUICE-HMAC-SHA256\nPOST\n/v1/pay%2Fx\nb=2&a=1\nhost:api.example.com\n"
            "content-type:a/b\n1700000000\nnonce-123\nabcdef");
  EXPECT_EQ(canonical_string("GET", "/", "", {}, "1", "n", kEmptyBodySha256),
            std::string("SLUICE-HMAC-SHA256\nGET\n/\n\n1\nn\n") + std::string(kEmptyBodySha256));
}

TEST(Signature, KnownVector) {
  // HMAC-SHA256 RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  const std::string sig = sign_canonical("Jefe", "what do ya want for nothing?");
  EXPECT_EQ(sig, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
  EXPECT_TRUE(verify_signature("Jefe", "what do ya want for nothing?", sig));
}

// The test vector of docs/hmac-signatures.md.
TEST(Signature, DocumentedVector) {
  BodyDigest d;
  d.update(R"({"amount": 100})");
  const std::string hex = d.hex();
  EXPECT_EQ(hex, "d966b277e8317db59b077107cbb42d727f5f344e6dcd131f511c16bee9f6837c");
  const std::string c =
      canonical_string("PUT", "/v1/pay%2Fments", "b=2&a=1",
                       {{"host", "api.example.com"}, {"content-type", "application/json"}},
                       "1700000000", "q3V8dXJ0c2VjcmV0", hex);
  EXPECT_EQ(sign_canonical("s3cr3t", c), "8KR3Pw5GuhJaNW4vFa5crooy4xlY6DiwTymBXdD9aUM=");
  EXPECT_TRUE(verify_signature("s3cr3t", c, "8KR3Pw5GuhJaNW4vFa5crooy4xlY6DiwTymBXdD9aUM="));
}

TEST(Signature, VerifyRejectsAnyChange) {
  const std::string c =
      canonical_string("GET", "/a", "", {{"host", "h"}}, "100", "nonce-1", kEmptyBodySha256);
  const std::string sig = sign_canonical("s3cret", c);
  ASSERT_EQ(sig.size(), 44u);
  EXPECT_TRUE(verify_signature("s3cret", c, sig));
  EXPECT_FALSE(verify_signature("s3cret!", c, sig));
  EXPECT_FALSE(verify_signature("s3cret", c + "x", sig));
  for (size_t i = 0; i < 43; ++i) {  // every position of the MAC matters
    std::string bad = sig;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(verify_signature("s3cret", c, bad)) << i;
  }
  EXPECT_FALSE(verify_signature("s3cret", c, sig.substr(0, 43)));  // no padding
  EXPECT_FALSE(verify_signature("s3cret", c, sig + "="));
  EXPECT_FALSE(verify_signature("s3cret", c, ""));
  // Non-canonical trailing bits: same bytes, other text.
  std::string noncanon = sig;
  const char last = noncanon[42];
  const std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  noncanon[42] = alphabet[alphabet.find(last) | 1];
  if (noncanon != sig) {
    EXPECT_FALSE(verify_signature("s3cret", c, noncanon));
  }
}

TEST(Signature, OverABody) {
  const std::string body = R"({"amount":100,"currency":"EUR"})";
  BodyDigest d;
  d.update(body.substr(0, 7));
  d.update(body.substr(7));
  const std::string hex = d.hex();
  BodyDigest whole;
  whole.update(body);
  EXPECT_TRUE(whole.matches(hex));
  const std::string c = canonical_string("POST", "/pay", "", {{"content-type", "application/json"}},
                                         "1700000000", "nonce-abc", hex);
  const std::string sig = sign_canonical("k", c);
  EXPECT_TRUE(verify_signature("k", c, sig));
  // A tampered body gives another digest, so the signed X-Content-SHA256 no longer matches.
  BodyDigest tampered;
  tampered.update(R"({"amount":999,"currency":"EUR"})");
  EXPECT_FALSE(tampered.matches(hex));
}

TEST(BodyDigest, EmptyBodyAndCase) {
  BodyDigest d;
  EXPECT_EQ(d.hex(), kEmptyBodySha256);
  BodyDigest e;
  std::string upper(kEmptyBodySha256);
  for (char& c : upper) c = static_cast<char>(toupper(c));
  EXPECT_TRUE(e.matches(upper));
}

TEST(Freshness, BothDirections) {
  EXPECT_TRUE(fresh(uint64_t{1000}, 1000, 300));
  EXPECT_TRUE(fresh(uint64_t{700}, 1000, 300));
  EXPECT_TRUE(fresh(uint64_t{1300}, 1000, 300));
  EXPECT_FALSE(fresh(uint64_t{699}, 1000, 300));   // too old
  EXPECT_FALSE(fresh(uint64_t{1301}, 1000, 300));  // from the future
  EXPECT_FALSE(fresh(uint64_t{0}, UINT64_MAX, 300));
  EXPECT_FALSE(fresh(UINT64_MAX, 0, 300));
  EXPECT_TRUE(fresh("1000", 1200, 300));
  EXPECT_FALSE(fresh("1000 ", 1000, 300));
  EXPECT_FALSE(fresh("-1000", 1000, 300));
  EXPECT_FALSE(fresh("", 1000, 300));
  EXPECT_FALSE(fresh("12345678901234567890", 1000, 300));
  EXPECT_FALSE(fresh("Tue, 14 Nov 2023 22:13:20 GMT", 1700000000, 300));
}

TEST(SignatureError, ReasonsAreClientSafe) {
  // Unknown key and bad MAC read the same, so key ids cannot be probed.
  EXPECT_EQ(signature_error_reason(SignatureError::kUnknownKey),
            signature_error_reason(SignatureError::kBadSignature));
  for (auto e : {SignatureError::kMissing, SignatureError::kMalformed, SignatureError::kStale,
                 SignatureError::kReplayed, SignatureError::kBodyMismatch,
                 SignatureError::kMissingSignedHeader}) {
    EXPECT_FALSE(signature_error_reason(e).empty());
  }
}

// The whole check as the filter will do it, including the replay cache.
TEST(Signature, EndToEndWithReplay) {
  const uint64_t now = 1700000000;
  const std::string date = std::to_string(now - 5);
  const std::string c =
      canonical_string("GET", "/x", "a=1", {{"host", "h"}}, date, "nonce-zz", kEmptyBodySha256);
  const std::string auth =
      "SLUICE-HMAC-SHA256 keyId=\"k1\", signedHeaders=\"host\", "
      "nonce=\"nonce-zz\", signature=\"" +
      sign_canonical("sec", c) + "\"";
  NonceCache cache(1024);
  auto check = [&]() {
    SignatureHeader sh;
    if (!parse_signature_header(auth, &sh, nullptr)) return false;
    if (!fresh(date, now, 300)) return false;
    const std::string cc =
        canonical_string("GET", "/x", "a=1", {{"host", "h"}}, date, sh.nonce, kEmptyBodySha256);
    if (!verify_signature("sec", cc, sh.signature)) return false;
    return cache.insert_if_new(sh.key_id, sh.nonce, now, 600);
  };
  EXPECT_TRUE(check());
  EXPECT_FALSE(check());  // replayed
}

// Runs scripts/sign_request.py and verifies what it prints with the C++ implementation, so the
// documented client and the gateway cannot drift apart.
TEST(SignRequestScript, OutputVerifies) {
  if (std::system("python3 -c 'import sys' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3 not available";
  }
  const std::string cmd = std::string("python3 ") + SLUICE_SOURCE_DIR +
                          "/scripts/sign_request.py --key-id k1 --secret 's3 cret' --method post "
                          "--header 'Content-Type:  application/json ' --data '{\"a\":1}' "
                          "'http://api.example.com:8080/v1/p%2Fq?b=2&a=1' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << out;
  std::map<std::string, std::string> headers;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t eol = out.find('\n', pos);
    if (eol == std::string::npos) eol = out.size();
    const std::string line = out.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(tolower(c));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      headers[name] = value;
    }
    pos = eol + 1;
  }
  ASSERT_TRUE(headers.count("authorization")) << out;
  ASSERT_TRUE(headers.count("x-date")) << out;
  ASSERT_TRUE(headers.count("x-content-sha256")) << out;
  BodyDigest d;
  d.update("{\"a\":1}");
  EXPECT_EQ(headers["x-content-sha256"], d.hex());
  SignatureHeader sh;
  const char* why = nullptr;
  ASSERT_TRUE(parse_signature_header(headers["authorization"], &sh, &why)) << why;
  EXPECT_EQ(sh.key_id, "k1");
  EXPECT_EQ(sh.signed_headers, "host;content-type");
  const std::string c =
      canonical_string("POST", "/v1/p%2Fq", "b=2&a=1",
                       {{"host", "api.example.com:8080"}, {"content-type", "application/json"}},
                       headers["x-date"], sh.nonce, headers["x-content-sha256"]);
  EXPECT_TRUE(verify_signature("s3 cret", c, sh.signature)) << out;
}

}  // namespace
}  // namespace sluice::auth
