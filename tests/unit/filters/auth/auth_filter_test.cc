// auth: a JWT of a provider (claims forwarded upstream, kept only when a later filter reads
// them), API keys, TLS client certificates and HMAC request signatures identify the client; a
// bad credential is a 401 with its reason, refusal kind and challenge (403 for an unknown
// certificate), a missing one a 401 with a challenge per scheme unless auth is optional; a
// signed request's body is checked against its digest (411 chunked, 413 over hmac_max_body).
#include "filters/auth/auth_filter.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../../fake_services.h"
#include "auth/api_key.h"
#include "auth/base64url.h"
#include "auth/credentials.h"
#include "auth/hmac_signature.h"
#include "auth/jwk.h"
#include "auth/nonce_cache.h"
#include "filter/context.h"

namespace sluice::filters {
namespace {

using filter::Phase;
using filter::Refusal;
using filter::Status;
using testing::FakeServices;
using testing::FilterRequest;

constexpr uint64_t kNowS = 1'700'000'000;
constexpr std::string_view kJwtSecret = "jwt-secret-0123456789abcdef";
constexpr std::string_view kHmacSecret = "hmac-secret-0123456789";
constexpr std::string_view kAliceKey = "ak_alice_0123456789abcdefghijklmnop";
constexpr std::string_view kBobSubject = "CN=bob,O=Example";

std::string hs256(std::string_view secret, std::string_view input) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// An HS256 token of `payload` (JSON) with kid `kid`, signed with `secret`.
std::string make_jwt(const std::string& payload, std::string_view kid = "k1",
                     std::string_view secret = kJwtSecret) {
  const std::string header = R"({"alg":"HS256","typ":"JWT","kid":")" + std::string(kid) + "\"}";
  const std::string input = auth::base64url_encode(header) + "." + auth::base64url_encode(payload);
  return input + "." + auth::base64url_encode(hs256(secret, input));
}

std::string claims(uint64_t exp, const std::string& iss = "https://idp") {
  return R"({"sub":"u1","iss":")" + iss + R"(","aud":"api","exp":)" + std::to_string(exp) +
         R"(,"tenant":"acme","roles":["reader","writer"]})";
}

std::string body_sha256(std::string_view body) {
  auth::BodyDigest d;
  d.update(body);
  return d.hex();
}

// A request signed with SLUICE-HMAC-SHA256 over host, signed by `secret` under key id
// client-1. `extra` are more header lines ("Name: v\r\n"); `body` follows the head.
struct Signed {
  std::string method = "GET";
  std::string target = "/pay";
  std::string nonce = "nonce-0001";
  uint64_t date = kNowS;
  std::string body;
  std::string digest;  // X-Content-SHA256; by default the body's
  std::string extra;
  std::string secret = std::string(kHmacSecret);

  std::string raw() const {
    const std::string hex = digest.empty() ? body_sha256(body) : digest;
    const size_t q = target.find('?');
    const std::string path = target.substr(0, q);
    const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
    const std::string date_text = std::to_string(date);
    const std::string canonical =
        auth::canonical_string(method, path, query, {{"host", "api.test"}}, date_text, nonce, hex);
    std::string r = method + " " + target + " HTTP/1.1\r\nHost: api.test\r\n";
    r += "Authorization: SLUICE-HMAC-SHA256 keyId=\"client-1\", signedHeaders=\"host\", nonce=\"" +
         nonce + "\", signature=\"" + auth::sign_canonical(secret, canonical) + "\"\r\n";
    r += "X-Date: " + date_text + "\r\nX-Content-SHA256: " + hex + "\r\n" + extra;
    if (!body.empty() && extra.find("Transfer-Encoding") == std::string::npos) {
      r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    return r + "\r\n" + body;
  }
};

bool has_line(const std::string& lines, std::string_view line) {
  return lines.find(std::string(line) + "\r\n") != std::string::npos;
}

class AuthFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = std::make_shared<auth::Credentials>();
    // Consumers first: the maps point at them.
    c->consumers = {{"alice", {"reader"}}, {"bob", {"admin"}}, {"carol", {"signer"}}};
    for (const auth::Consumer& k : c->consumers) c->by_name.emplace(k.name, &k);
    auth::Sha256Digest h;
    ASSERT_TRUE(auth::parse_api_key_hash(auth::hash_api_key(kAliceKey), &h));
    c->api_keys.add(h, "alice");
    c->by_subject.emplace(std::string(kBobSubject), &c->consumers[1]);
    c->hmac_keys.emplace("client-1",
                         auth::Credentials::HmacKey{std::string(kHmacSecret), &c->consumers[2]});
    c->nonces = std::make_shared<auth::NonceCache>(1000);

    auto p = std::make_unique<auth::JwtProvider>();
    p->name = "corp";
    p->policy.issuers = {"https://idp"};
    p->policy.audiences = {"api"};
    p->policy.algorithms = {"HS256"};
    auto keys = std::make_shared<auth::KeySet>();
    std::string error;
    ASSERT_TRUE(keys->add_hmac_secret(kJwtSecret, false, "k1", "HS256", &error)) << error;
    p->inline_keys = std::move(keys);
    p->from = {config::TokenSource{}};  // Authorization: Bearer
    p->forward_claims = {{"x-user", "sub"}, {"x-tenant", "tenant"}, {"x-none", "absent"}};
    c->providers.push_back(std::move(p));
    creds_ = std::move(c);
    svc_.now_ms = kNowS * 1000 + 250;
  }

  AuthPolicy all_schemes() const {
    AuthPolicy p;
    p.jwt = {creds_->providers[0].get()};
    p.api_key = true;
    p.api_key_from = {config::TokenSource::Kind::kHeader, "x-api-key"};
    p.hmac = true;
    p.client_cert = true;
    return p;
  }

  void make(AuthPolicy p) { filter_ = make_auth_filter(std::move(p), creds_); }
  void begin(std::string raw) { req_.begin(std::move(raw), &svc_, filter_->state_size()); }
  Status headers() { return filter_->on_request_headers(req_.ctx); }
  filter::Context& ctx() { return req_.ctx; }

  std::shared_ptr<const auth::Credentials> creds_;
  FakeServices svc_;
  std::unique_ptr<filter::Filter> filter_;
  FilterRequest req_;
};

std::string bearer(const std::string& token) {
  return "GET /v1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer " + token + "\r\n\r\n";
}

TEST_F(AuthFilterTest, ValidJwtIdentifiesAndForwardsClaims) {
  make(all_schemes());
  EXPECT_EQ(filter_->phases(),
            filter::phase_bit(Phase::kRequestHeaders) | filter::phase_bit(Phase::kRequestBody));
  begin(bearer(make_jwt(claims(kNowS + 300))));
  ASSERT_EQ(headers(), Status::kContinue) << (ctx().answer_reason() ? ctx().answer_reason() : "");
  EXPECT_EQ(svc_.jwt_calls, 1);
  EXPECT_EQ(svc_.last_jwt_now_s, kNowS);  // the clock's seconds
  EXPECT_TRUE(ctx().identified());
  EXPECT_EQ(ctx().consumer(), "u1");
  EXPECT_EQ(ctx().request_header("x-user"), "u1");
  EXPECT_EQ(ctx().request_header("x-tenant"), "acme");
  EXPECT_FALSE(ctx().has_request_header("x-none"));  // an absent claim forwards nothing
  EXPECT_EQ(ctx().upstream_lines(), "x-user: u1\r\nx-tenant: acme\r\n");
  EXPECT_FALSE(ctx().has_request_header("x-consumer"));
  // No later filter reads the claims: none are kept, so there are no roles either.
  EXPECT_EQ(ctx().claim("tenant"), "");
  EXPECT_EQ(ctx().claim("sub"), "");
  EXPECT_TRUE(ctx().roles().empty());
  EXPECT_EQ(ctx().answer_status(), 0);
  EXPECT_FALSE(filter_->wants_request_body(ctx()));
}

TEST_F(AuthFilterTest, ClaimsKeptWhenAsked) {
  make(all_schemes());
  begin(bearer(make_jwt(claims(kNowS + 300))));
  ctx().set_keep_claims(true);
  ASSERT_EQ(headers(), Status::kContinue);
  EXPECT_EQ(ctx().consumer(), "u1");
  EXPECT_EQ(ctx().claim("sub"), "u1");
  EXPECT_EQ(ctx().claim("iss"), "https://idp");
  EXPECT_EQ(ctx().claim("tenant"), "acme");
  ASSERT_EQ(ctx().roles().size(), 2u);
  EXPECT_EQ(ctx().roles()[0], "reader");
  EXPECT_EQ(ctx().roles()[1], "writer");
}

TEST_F(AuthFilterTest, ExpiredJwt) {
  make(all_schemes());
  begin(bearer(make_jwt(claims(kNowS - 3600))));
  ASSERT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
  EXPECT_STREQ(ctx().answer_reason(), "token expired");
  EXPECT_EQ(ctx().refusal(), Refusal::kExpired);
  EXPECT_TRUE(has_line(ctx().answer_lines(),
                       "WWW-Authenticate: Bearer realm=\"sluice\", error=\"invalid_token\", "
                       "error_description=\"token expired\""))
      << ctx().answer_lines();
  EXPECT_FALSE(ctx().identified());
  EXPECT_EQ(ctx().upstream_lines(), "");
}

TEST_F(AuthFilterTest, InvalidJwts) {
  make(all_schemes());
  struct Case {
    std::string token;
    const char* reason;
    Refusal why;
  } cases[] = {
      {"not.a.token", "invalid token", Refusal::kInvalid},
      {make_jwt(claims(kNowS + 300), "k1", "another-secret-0123456789"), "invalid token",
       Refusal::kInvalid},
      {make_jwt(claims(kNowS + 300), "k9"), "unknown key", Refusal::kUnknownKey},
      {make_jwt(claims(kNowS + 300, "https://evil")), "invalid issuer", Refusal::kInvalid},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reason);
    begin(bearer(c.token));
    ASSERT_EQ(headers(), Status::kRespond);
    EXPECT_EQ(ctx().answer_status(), 401);
    EXPECT_STREQ(ctx().answer_reason(), c.reason);
    EXPECT_EQ(ctx().refusal(), c.why);
    EXPECT_TRUE(has_line(ctx().answer_lines(),
                         std::string("WWW-Authenticate: Bearer realm=\"sluice\", "
                                     "error=\"invalid_token\", error_description=\"") +
                             c.reason + "\""))
        << ctx().answer_lines();
    EXPECT_FALSE(ctx().identified());
  }
  // A bad token is refused even when a valid API key comes with it.
  begin("GET /v1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer x.y.z\r\nX-Api-Key: " +
        std::string(kAliceKey) + "\r\n\r\n");
  EXPECT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
  EXPECT_FALSE(ctx().identified());
}

TEST_F(AuthFilterTest, MissingCredentials) {
  make(all_schemes());
  begin("GET /v1 HTTP/1.1\r\nHost: api.test\r\n\r\n");
  ASSERT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
  EXPECT_STREQ(ctx().answer_reason(), "missing credentials");
  EXPECT_EQ(ctx().refusal(), Refusal::kMissing);
  EXPECT_EQ(ctx().answer_lines(),
            "WWW-Authenticate: Bearer realm=\"sluice\"\r\n"
            "WWW-Authenticate: ApiKey realm=\"sluice\"\r\n"
            "WWW-Authenticate: SLUICE-HMAC-SHA256 realm=\"sluice\"\r\n");
  EXPECT_EQ(svc_.jwt_calls, 0);

  // Only the configured schemes are offered.
  AuthPolicy jwt_only;
  jwt_only.jwt = {creds_->providers[0].get()};
  make(jwt_only);
  EXPECT_EQ(filter_->phases(), filter::phase_bit(Phase::kRequestHeaders));
  EXPECT_EQ(filter_->request_body_limit(), 0u);
  begin("GET /v1 HTTP/1.1\r\nHost: api.test\r\nX-Api-Key: " + std::string(kAliceKey) + "\r\n\r\n");
  ASSERT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
  EXPECT_EQ(ctx().answer_lines(), "WWW-Authenticate: Bearer realm=\"sluice\"\r\n");
}

TEST_F(AuthFilterTest, OptionalWithoutCredential) {
  AuthPolicy p = all_schemes();
  p.optional = true;
  make(std::move(p));
  begin("GET /v1 HTTP/1.1\r\nHost: api.test\r\n\r\n");
  EXPECT_EQ(headers(), Status::kContinue);
  EXPECT_FALSE(ctx().identified());
  EXPECT_EQ(ctx().consumer(), "");
  EXPECT_EQ(ctx().upstream_lines(), "");
  EXPECT_EQ(ctx().answer_status(), 0);
  // A bad credential is still refused.
  begin("GET /v1 HTTP/1.1\r\nHost: api.test\r\nX-Api-Key: wrong\r\n\r\n");
  EXPECT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
}

TEST_F(AuthFilterTest, ApiKeys) {
  make(all_schemes());
  begin("GET /v1 HTTP/1.1\r\nHost: api.test\r\nX-Api-Key: " + std::string(kAliceKey) + "\r\n\r\n");
  ASSERT_EQ(headers(), Status::kContinue);
  EXPECT_TRUE(ctx().identified());
  EXPECT_EQ(ctx().consumer(), "alice");
  ASSERT_EQ(ctx().roles().size(), 1u);
  EXPECT_EQ(ctx().roles()[0], "reader");
  EXPECT_EQ(ctx().request_header("x-consumer"), "alice");
  EXPECT_EQ(ctx().upstream_lines(), "x-consumer: alice\r\n");

  begin("GET /v1 HTTP/1.1\r\nHost: api.test\r\nX-Api-Key: ak_wrong\r\n\r\n");
  ASSERT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
  EXPECT_STREQ(ctx().answer_reason(), "invalid api key");
  EXPECT_EQ(ctx().refusal(), Refusal::kInvalidApiKey);
  EXPECT_EQ(ctx().answer_lines(), "WWW-Authenticate: ApiKey realm=\"sluice\"\r\n");
  EXPECT_FALSE(ctx().identified());
  EXPECT_FALSE(ctx().has_request_header("x-consumer"));
}

TEST_F(AuthFilterTest, ClientCertificates) {
  make(all_schemes());
  svc_.subject = std::string(kBobSubject);
  begin("GET /v1 HTTP/1.1\r\nHost: api.test\r\n\r\n");
  ASSERT_EQ(headers(), Status::kContinue);
  EXPECT_EQ(ctx().consumer(), "bob");
  ASSERT_EQ(ctx().roles().size(), 1u);
  EXPECT_EQ(ctx().roles()[0], "admin");
  EXPECT_EQ(ctx().request_header("x-consumer"), "bob");

  svc_.subject = "CN=mallory,O=Example";
  begin("GET /v1 HTTP/1.1\r\nHost: api.test\r\n\r\n");
  ASSERT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 403);
  EXPECT_STREQ(ctx().answer_reason(), "unknown client certificate");
  EXPECT_EQ(ctx().refusal(), Refusal::kForbidden);
  EXPECT_FALSE(ctx().identified());

  // Without client_cert in the policy the certificate is not looked at.
  AuthPolicy p;
  p.api_key = true;
  p.api_key_from = {config::TokenSource::Kind::kHeader, "x-api-key"};
  make(p);
  svc_.subject = std::string(kBobSubject);
  begin("GET /v1 HTTP/1.1\r\nHost: api.test\r\n\r\n");
  EXPECT_EQ(headers(), Status::kRespond);
  EXPECT_STREQ(ctx().answer_reason(), "missing credentials");
}

TEST_F(AuthFilterTest, HmacWithoutBody) {
  make(all_schemes());
  Signed s;
  begin(s.raw());
  ASSERT_EQ(headers(), Status::kContinue) << ctx().answer_reason();
  EXPECT_EQ(ctx().consumer(), "carol");
  EXPECT_EQ(ctx().request_header("x-consumer"), "carol");
  EXPECT_FALSE(filter_->wants_request_body(ctx()));
  EXPECT_EQ(svc_.jwt_calls, 0);
  // The body phase has nothing to check.
  EXPECT_EQ(filter_->on_request_body(ctx()), Status::kContinue);

  // A digest that is not the empty body's, with no body.
  Signed d;
  d.nonce = "nonce-0002";
  d.digest = body_sha256("x");
  begin(d.raw());
  ASSERT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
  EXPECT_STREQ(ctx().answer_reason(), "invalid signature");
  EXPECT_EQ(ctx().refusal(), Refusal::kInvalidSignature);
}

TEST_F(AuthFilterTest, HmacWithBody) {
  make(all_schemes());
  EXPECT_EQ(filter_->request_body_limit(), uint64_t{1} << 20);
  Signed s;
  s.method = "POST";
  s.target = "/pay?amount=5";
  s.body = R"({"to":"dave"})";
  begin(s.raw());
  ASSERT_EQ(headers(), Status::kContinue) << ctx().answer_reason();
  EXPECT_EQ(ctx().consumer(), "carol");
  EXPECT_TRUE(filter_->wants_request_body(ctx()));
  ctx().request_body() = s.body;
  EXPECT_EQ(filter_->on_request_body(ctx()), Status::kContinue);
  EXPECT_EQ(ctx().answer_status(), 0);

  // The same signed head with another body of the same length.
  s.nonce = "nonce-0003";
  begin(s.raw());
  ASSERT_EQ(headers(), Status::kContinue);
  ASSERT_TRUE(filter_->wants_request_body(ctx()));
  ctx().request_body() = R"({"to":"eve!"})";
  ASSERT_EQ(filter_->on_request_body(ctx()), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
  EXPECT_STREQ(ctx().answer_reason(), "invalid signature");
  EXPECT_EQ(ctx().refusal(), Refusal::kInvalidSignature);
  EXPECT_EQ(ctx().answer_lines(), "WWW-Authenticate: SLUICE-HMAC-SHA256 realm=\"sluice\"\r\n");
}

TEST_F(AuthFilterTest, HmacBadSignatures) {
  make(all_schemes());
  Signed wrong_secret;
  wrong_secret.secret = "not-the-secret-0123";
  Signed unknown_key;
  unknown_key.nonce = "nonce-0004";
  std::string raw = unknown_key.raw();
  raw.replace(raw.find("client-1"), 8, "client-9");
  Signed tampered_path;
  tampered_path.nonce = "nonce-0005";
  std::string raw2 = tampered_path.raw();
  raw2.replace(raw2.find("/pay"), 4, "/PAY");
  for (const std::string& r : {wrong_secret.raw(), raw, raw2}) {
    begin(r);
    ASSERT_EQ(headers(), Status::kRespond) << r;
    EXPECT_EQ(ctx().answer_status(), 401);
    EXPECT_STREQ(ctx().answer_reason(), "invalid signature");
    EXPECT_EQ(ctx().refusal(), Refusal::kInvalidSignature);
    EXPECT_EQ(ctx().answer_lines(), "WWW-Authenticate: SLUICE-HMAC-SHA256 realm=\"sluice\"\r\n");
    EXPECT_FALSE(ctx().identified());
  }
}

TEST_F(AuthFilterTest, HmacReplayedNonce) {
  make(all_schemes());
  Signed s;
  s.nonce = "nonce-replay";
  begin(s.raw());
  ASSERT_EQ(headers(), Status::kContinue);
  begin(s.raw());
  ASSERT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
  EXPECT_STREQ(ctx().answer_reason(), "replayed signature");
  EXPECT_EQ(ctx().refusal(), Refusal::kReplayed);
  EXPECT_FALSE(ctx().identified());
}

TEST_F(AuthFilterTest, HmacStaleDate) {
  make(all_schemes());
  for (uint64_t date : {kNowS - 301, kNowS + 301}) {
    Signed s;
    s.nonce = "nonce-stale-" + std::to_string(date);
    s.date = date;
    begin(s.raw());
    ASSERT_EQ(headers(), Status::kRespond);
    EXPECT_EQ(ctx().answer_status(), 401);
    EXPECT_STREQ(ctx().answer_reason(), "stale signature");
    EXPECT_EQ(ctx().refusal(), Refusal::kStale);
  }
  // Within the window.
  Signed s;
  s.nonce = "nonce-fresh";
  s.date = kNowS - 299;
  begin(s.raw());
  EXPECT_EQ(headers(), Status::kContinue);
}

TEST_F(AuthFilterTest, HmacChunkedAndTooLarge) {
  AuthPolicy p = all_schemes();
  p.hmac_max_body_bytes = 16;
  make(std::move(p));
  EXPECT_EQ(filter_->request_body_limit(), 16u);

  Signed chunked;
  chunked.method = "POST";
  chunked.nonce = "nonce-chunked";
  chunked.body = "5\r\nhello\r\n0\r\n\r\n";
  chunked.digest = body_sha256("hello");
  chunked.extra = "Transfer-Encoding: chunked\r\n";
  begin(chunked.raw());
  ASSERT_EQ(req_.head().body, http::BodyKind::kChunked);
  ASSERT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 411);
  EXPECT_STREQ(ctx().answer_reason(), "signed requests need a Content-Length body");
  EXPECT_FALSE(filter_->wants_request_body(ctx()));

  Signed large;
  large.method = "POST";
  large.nonce = "nonce-large";
  large.body = std::string(17, 'a');
  begin(large.raw());
  ASSERT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 413);
  EXPECT_STREQ(ctx().answer_reason(), "request body too large");
  EXPECT_FALSE(filter_->wants_request_body(ctx()));

  // At the limit it is read.
  Signed fits;
  fits.method = "POST";
  fits.nonce = "nonce-fits";
  fits.body = std::string(16, 'a');
  begin(fits.raw());
  ASSERT_EQ(headers(), Status::kContinue);
  EXPECT_TRUE(filter_->wants_request_body(ctx()));
}

TEST_F(AuthFilterTest, HmacSchemeIgnoredWhenNotConfigured) {
  AuthPolicy p;
  p.jwt = {creds_->providers[0].get()};
  make(p);
  Signed s;
  begin(s.raw());
  ASSERT_EQ(headers(), Status::kRespond);
  EXPECT_EQ(ctx().answer_status(), 401);
  EXPECT_STREQ(ctx().answer_reason(), "missing credentials");
  EXPECT_EQ(ctx().refusal(), Refusal::kMissing);
}

}  // namespace
}  // namespace sluice::filters
