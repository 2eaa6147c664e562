// See auth_filter.h.
#include "filters/auth/auth_filter.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "auth/hmac_signature.h"
#include "filter/context.h"
#include "filter/services.h"
#include "http/header.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Refusal;
using filter::Status;

constexpr std::string_view kBearerChallenge = "Bearer realm=\"sluice\"";
constexpr std::string_view kApiKeyChallenge = "ApiKey realm=\"sluice\"";
constexpr std::string_view kHmacChallenge = "SLUICE-HMAC-SHA256 realm=\"sluice\"";

std::string_view bearer_token(const http::RequestHead& head) {
  const http::Header* h = http::find_header(head.headers, "authorization");
  if (h == nullptr || h->value.size() < 7 || !http::iequals(h->value.substr(0, 7), "bearer ")) {
    return {};
  }
  std::string_view t = h->value.substr(7);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  return t;
}

std::string_view token_from(const config::TokenSource& src, const http::RequestHead& head) {
  switch (src.kind) {
    case config::TokenSource::Kind::kBearer:
      return bearer_token(head);
    case config::TokenSource::Kind::kHeader: {
      const http::Header* h = http::find_header(head.headers, src.name);
      return h != nullptr ? h->value : std::string_view();
    }
    case config::TokenSource::Kind::kCookie:
      return http::cookie_value(head.headers, src.name);
    case config::TokenSource::Kind::kQuery:
      return http::query_param(head.query, src.name);
  }
  return {};
}

// A header value made from a claim: printable characters only, so a claim cannot add a header.
bool safe_header_value(std::string_view v) {
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return !v.empty();
}

Refusal jwt_refusal(auth::JwtError e) {
  switch (e) {
    case auth::JwtError::kExpired:
    case auth::JwtError::kNotYetValid:
      return Refusal::kExpired;
    case auth::JwtError::kUnknownKid:
      return Refusal::kUnknownKey;
    default:
      return Refusal::kInvalid;
  }
}

const char* jwt_reason(auth::JwtError e) {
  switch (e) {
    case auth::JwtError::kExpired:
      return "token expired";
    case auth::JwtError::kNotYetValid:
      return "token not yet valid";
    case auth::JwtError::kBadIssuer:
      return "invalid issuer";
    case auth::JwtError::kBadAudience:
      return "invalid audience";
    case auth::JwtError::kMissingClaim:
      return "missing claim";
    case auth::JwtError::kUnknownKid:
      return "unknown key";
    case auth::JwtError::kUnsupportedAlg:
    case auth::JwtError::kAlgNone:
      return "unsupported algorithm";
    default:
      return "invalid token";
  }
}

struct State {
  bool signed_body;  // an HMAC-signed request whose body is checked against its digest
};

class AuthFilter final : public filter::Filter {
 public:
  AuthFilter(AuthPolicy policy, std::shared_ptr<const auth::Credentials> creds)
      : policy_(std::move(policy)), creds_(std::move(creds)) {}

  uint8_t phases() const override {
    return filter::phase_bit(Phase::kRequestHeaders) |
           (policy_.hmac ? filter::phase_bit(Phase::kRequestBody) : 0);
  }
  size_t state_size() const override { return sizeof(State); }
  uint64_t request_body_limit() const override {
    return policy_.hmac ? policy_.hmac_max_body_bytes : 0;
  }
  bool wants_request_body(Context& ctx) const override { return ctx.state<State>().signed_body; }

  Status on_request_headers(Context& ctx) const override {
    const http::RequestHead& head = ctx.head();
    const uint64_t now_s = ctx.services().unix_ms() / 1000;

    const http::Header* authz = http::find_header(head.headers, "authorization");
    constexpr std::string_view kScheme = auth::kSignatureScheme;
    if (policy_.hmac && authz != nullptr && authz->value.size() > kScheme.size() &&
        http::iequals(authz->value.substr(0, kScheme.size()), kScheme)) {
      return check_signature(ctx, authz->value, now_s);
    }

    // JWT.
    auth::JwtError failure = auth::JwtError::kNone;
    bool failed = false;
    for (const auth::JwtProvider* p : policy_.jwt) {
      std::string_view token;
      for (const config::TokenSource& src : p->from) {
        token = token_from(src, head);
        if (!token.empty()) break;
      }
      if (token.empty()) continue;
      const auth::JwtResult& r = ctx.services().verify_jwt(*p, token, now_s);
      if (!r.ok) {
        if (r.error == auth::JwtError::kUnknownKid && p->jwks != nullptr) {
          p->jwks->request_refresh();
        }
        if (!failed) {
          failed = true;
          failure = r.error;
        }
        continue;
      }
      for (const auto& [header, claim] : p->forward_claims) {
        std::optional<std::string> v =
            claim == "sub" ? std::optional<std::string>(r.claims.sub) : r.claim_string(claim);
        if (v && safe_header_value(*v)) ctx.add_request_header(header, *v);
      }
      ctx.set_token(r.claims);
      return Status::kContinue;
    }
    if (failed) {
      ctx.refuse(401, jwt_reason(failure), jwt_refusal(failure));
      std::string challenge(kBearerChallenge);
      challenge += ", error=\"invalid_token\", error_description=\"";
      challenge += jwt_reason(failure);
      challenge += '"';
      ctx.add_answer_header("WWW-Authenticate", challenge);
      return Status::kRespond;
    }

    // API key.
    if (policy_.api_key) {
      const std::string_view presented = token_from(policy_.api_key_from, head);
      if (!presented.empty()) {
        const std::string* name = creds_->api_keys.find(presented);
        auto c = name != nullptr ? creds_->by_name.find(*name) : creds_->by_name.end();
        if (c == creds_->by_name.end()) {
          ctx.refuse(401, "invalid api key", Refusal::kInvalidApiKey);
          ctx.add_answer_header("WWW-Authenticate", kApiKeyChallenge);
          return Status::kRespond;
        }
        identify(ctx, *c->second);
        return Status::kContinue;
      }
    }

    // A verified TLS client certificate whose subject names a consumer.
    if (policy_.client_cert) {
      const std::string_view subject = ctx.services().verified_client_subject();
      if (!subject.empty()) {
        auto c = creds_->by_subject.find(subject);
        if (c == creds_->by_subject.end()) {
          ctx.refuse(403, "unknown client certificate", Refusal::kForbidden);
          return Status::kRespond;
        }
        identify(ctx, *c->second);
        return Status::kContinue;
      }
    }

    if (policy_.optional) return Status::kContinue;
    ctx.refuse(401, "missing credentials", Refusal::kMissing);
    if (!policy_.jwt.empty()) ctx.add_answer_header("WWW-Authenticate", kBearerChallenge);
    if (policy_.api_key) ctx.add_answer_header("WWW-Authenticate", kApiKeyChallenge);
    if (policy_.hmac) ctx.add_answer_header("WWW-Authenticate", kHmacChallenge);
    return Status::kRespond;
  }

  // The body of a signed request, whole: it must match the digest the signature covers.
  Status on_request_body(Context& ctx) const override {
    if (!ctx.state<State>().signed_body) return Status::kContinue;
    const http::Header* digest = http::find_header(ctx.head().headers, auth::kContentSha256Header);
    auth::BodyDigest d;
    d.update(ctx.request_body());
    if (digest != nullptr && d.matches(digest->value)) return Status::kContinue;
    return deny(ctx, 401, "invalid signature", Refusal::kInvalidSignature);
  }

 private:
  static Status deny(Context& ctx, int status, std::string_view reason, Refusal why) {
    ctx.refuse(status, reason, why);
    ctx.add_answer_header("WWW-Authenticate", kHmacChallenge);
    return Status::kRespond;
  }

  static void identify(Context& ctx, const auth::Consumer& c) {
    ctx.set_consumer(c.name, c.roles);
    ctx.add_request_header("x-consumer", c.name);
  }

  Status check_signature(Context& ctx, std::string_view authorization, uint64_t now_s) const {
    const http::RequestHead& head = ctx.head();
    const Refusal bad = Refusal::kInvalidSignature;
    auth::SignatureHeader sh;
    const char* why = nullptr;
    if (!auth::parse_signature_header(authorization, &sh, &why)) {
      return deny(ctx, 401, "invalid signature", bad);
    }
    auto key = creds_->hmac_keys.find(sh.key_id);
    const http::Header* date = http::find_header(head.headers, auth::kDateHeader);
    const http::Header* digest = http::find_header(head.headers, auth::kContentSha256Header);
    std::vector<std::string_view> names;
    if (key == creds_->hmac_keys.end() || date == nullptr || digest == nullptr ||
        !auth::parse_signed_headers(sh.signed_headers, &names)) {
      return deny(ctx, 401, "invalid signature", bad);
    }
    std::vector<std::pair<std::string_view, std::string_view>> signed_values;
    for (std::string_view n : names) {
      const http::Header* h = http::find_header(head.headers, n);
      if (h == nullptr && !http::iequals(n, "host")) {
        return deny(ctx, 401, "invalid signature", bad);
      }
      signed_values.emplace_back(n, h != nullptr ? h->value : head.host);
    }
    const std::string canonical =
        auth::canonical_string(head.method_text, head.path, head.query, signed_values, date->value,
                               sh.nonce, digest->value);
    if (!auth::verify_signature(key->second.secret, canonical, sh.signature)) {
      return deny(ctx, 401, "invalid signature", bad);
    }
    if (!auth::fresh(date->value, now_s, policy_.hmac_window_s)) {
      return deny(ctx, 401, "stale signature", Refusal::kStale);
    }
    // Remembered for twice the window: a request may be early or late by one window.
    if (!creds_->nonces->insert_if_new(sh.key_id, sh.nonce, now_s, 2 * policy_.hmac_window_s)) {
      return deny(ctx, 401, "replayed signature", Refusal::kReplayed);
    }
    identify(ctx, *key->second.consumer);
    // The signature covers the declared body digest; the body is checked against it before any
    // byte goes upstream (on_request_body), so it is read whole first, bounded by hmac_max_body.
    if (head.body == http::BodyKind::kChunked) {
      ctx.refuse(411, "signed requests need a Content-Length body", bad);
      return Status::kRespond;
    }
    const uint64_t length = head.body == http::BodyKind::kContentLength ? head.content_length : 0;
    if (length > policy_.hmac_max_body_bytes) {
      ctx.refuse(413, "request body too large");
      return Status::kRespond;
    }
    if (length == 0) {
      if (!auth::BodyDigest().matches(digest->value)) {
        return deny(ctx, 401, "invalid signature", bad);
      }
      return Status::kContinue;
    }
    ctx.state<State>().signed_body = true;
    return Status::kContinue;
  }

  AuthPolicy policy_;
  std::shared_ptr<const auth::Credentials> creds_;
};

}  // namespace

std::unique_ptr<filter::Filter> make_auth_filter(AuthPolicy policy,
                                                 std::shared_ptr<const auth::Credentials> creds) {
  return std::make_unique<AuthFilter>(std::move(policy), std::move(creds));
}

}  // namespace sluice::filters
