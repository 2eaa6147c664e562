// Admission of a routed request: the security filters (IP rules, CORS, auth, RBAC), rate limits
// and the route's action (answer from config, or select an upstream and send the head).
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstring>

#include "auth/cidr.h"
#include "auth/hmac_signature.h"
#include "balance/balancer.h"
#include "http/header.h"
#include "http/status.h"
#include "limits/retry_budget.h"
#include "proxy/connection.h"
#include "proxy/connection_util.h"
#include "proxy/messages.h"
#include "router/path.h"

namespace sluice::proxy {

auth::IpAddress ClientConnection::client_address(const http::RequestHead& head) const {
  auth::IpAddress ip = auth::IpAddress::from_sockaddr(peer_);
  const auth::CidrSet& trusted = exchange_->snapshot->trusted_proxies;
  if (!trusted.empty() && trusted.contains(ip)) {
    std::string_view values[8];
    size_t n = 0;
    for (const http::Header& h : head.headers) {
      if (n < std::size(values) && http::iequals(h.name, "x-forwarded-for")) values[n++] = h.value;
    }
    ip = auth::resolve_client_ip(ip, std::span<const std::string_view>(values, n), trusted);
  }
  return ip;
}

void ClientConnection::refuse(int status, const char* reason, std::string_view challenge) {
  Exchange& x = *exchange_;
  x.response_extra.append(challenge);
  x.discard_body = true;
  x.body_wait = false;
  send_error(status, reason, false);
  arm_body_timer();
}

ClientConnection::RateOutcome ClientConnection::check_security(const RouteSecurity& sec,
                                                               const http::RequestHead& head) {
  Exchange& x = *exchange_;
  const std::vector<std::string>* roles = nullptr;
  bool wait_body = false;
  if (!authenticate(sec, head, &roles, &wait_body)) return RateOutcome::kAnswered;
  // RBAC: the method's roles, else the route's; the principal needs one of them.
  const std::vector<std::string>& method_roles = sec.method_roles[static_cast<size_t>(x.method)];
  const std::vector<std::string>& needed = method_roles.empty() ? sec.roles : method_roles;
  if (!needed.empty()) {
    bool ok = false;
    if (roles != nullptr) {
      for (const std::string& r : *roles) {
        if (std::find(needed.begin(), needed.end(), r) != needed.end()) ok = true;
      }
    }
    if (!ok) {
      worker_.metrics().route(x.route->metric_slot).auth_failure(observe::AuthFailure::kForbidden);
      if (roles == nullptr) {  // optional auth and no credential: say how to authenticate
        refuse(401, "missing credentials", "WWW-Authenticate: Bearer realm=\"sluice\"\r\n");
      } else {
        refuse(403, "forbidden");
      }
      return RateOutcome::kAnswered;
    }
  }
  return wait_body ? RateOutcome::kWait : RateOutcome::kPass;
}

namespace {

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
      return cookie_value(head.headers, src.name);
    case config::TokenSource::Kind::kQuery:
      return query_value(head.query, src.name);
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

observe::AuthFailure jwt_failure(auth::JwtError e) {
  switch (e) {
    case auth::JwtError::kExpired:
    case auth::JwtError::kNotYetValid:
      return observe::AuthFailure::kExpired;
    case auth::JwtError::kUnknownKid:
      return observe::AuthFailure::kUnknownKey;
    default:
      return observe::AuthFailure::kInvalidToken;
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

constexpr std::string_view kHmacChallenge =
    "WWW-Authenticate: SLUICE-HMAC-SHA256 realm=\"sluice\"\r\n";

}  // namespace

bool ClientConnection::authenticate(const RouteSecurity& sec, const http::RequestHead& head,
                                    const std::vector<std::string>** roles, bool* wait_body) {
  Exchange& x = *exchange_;
  observe::RouteMetrics& metrics = worker_.metrics().route(x.route->metric_slot);
  const SecurityTables& tables = *x.snapshot->security;
  const uint64_t now_s = worker_.unix_ms() / 1000;
  auto set_consumer = [&](const Consumer& c) {
    x.upstream_extra.append("x-consumer: ");
    x.upstream_extra.append(c.name);
    x.upstream_extra.append("\r\n");
    x.principal.assign(c.name);
    *roles = &c.roles;
  };
  auto deny = [&](int status, const char* reason, observe::AuthFailure why,
                  std::string_view challenge) {
    metrics.auth_failure(why);
    refuse(status, reason, challenge);
    return false;
  };

  // HMAC request signature.
  const http::Header* authz = http::find_header(head.headers, "authorization");
  constexpr std::string_view kScheme = auth::kSignatureScheme;
  if (sec.hmac && authz != nullptr && authz->value.size() > kScheme.size() &&
      http::iequals(authz->value.substr(0, kScheme.size()), kScheme)) {
    const auto bad = observe::AuthFailure::kInvalidSignature;
    auth::SignatureHeader sh;
    const char* why = nullptr;
    if (!auth::parse_signature_header(authz->value, &sh, &why)) {
      return deny(401, "invalid signature", bad, kHmacChallenge);
    }
    auto key = tables.hmac_keys.find(sh.key_id);
    const http::Header* date = http::find_header(head.headers, auth::kDateHeader);
    const http::Header* digest = http::find_header(head.headers, auth::kContentSha256Header);
    std::vector<std::string_view> names;
    if (key == tables.hmac_keys.end() || date == nullptr || digest == nullptr ||
        !auth::parse_signed_headers(sh.signed_headers, &names)) {
      return deny(401, "invalid signature", bad, kHmacChallenge);
    }
    std::vector<std::pair<std::string_view, std::string_view>> signed_values;
    for (std::string_view n : names) {
      const http::Header* h = http::find_header(head.headers, n);
      if (h == nullptr && !http::iequals(n, "host")) {
        return deny(401, "invalid signature", bad, kHmacChallenge);
      }
      signed_values.emplace_back(n, h != nullptr ? h->value : head.host);
    }
    const std::string canonical =
        auth::canonical_string(head.method_text, head.path, head.query, signed_values, date->value,
                               sh.nonce, digest->value);
    if (!auth::verify_signature(key->second.secret, canonical, sh.signature)) {
      return deny(401, "invalid signature", bad, kHmacChallenge);
    }
    if (!auth::fresh(date->value, now_s, sec.hmac_window_s)) {
      return deny(401, "stale signature", observe::AuthFailure::kStale, kHmacChallenge);
    }
    // Remembered for twice the window: a request may be early or late by one window.
    if (!tables.nonces->insert_if_new(sh.key_id, sh.nonce, now_s, 2 * sec.hmac_window_s)) {
      return deny(401, "replayed signature", observe::AuthFailure::kReplayed, kHmacChallenge);
    }
    set_consumer(*key->second.consumer);
    // The signature covers the declared body digest; the body is checked against it before any
    // byte goes upstream, so it is read whole first (bounded by hmac max_body).
    if (head.body == http::BodyKind::kChunked) {
      return deny(411, "signed requests need a Content-Length body", bad, {});
    }
    const uint64_t length = head.body == http::BodyKind::kContentLength ? head.content_length : 0;
    if (length > sec.hmac_max_body_bytes) {
      refuse(413, "request body too large");
      return false;
    }
    if (length == 0) {
      if (!auth::BodyDigest().matches(digest->value)) {
        return deny(401, "invalid signature", bad, kHmacChallenge);
      }
      return true;
    }
    x.hmac_digest.assign(digest->value);
    x.body_needed = static_cast<size_t>(length);
    *wait_body = true;
    return true;
  }

  // JWT: each provider looks in its own places; the first token found is verified by every
  // provider that found one until one accepts it.
  const JwtProvider* failed_provider = nullptr;
  auth::JwtError failure = auth::JwtError::kNone;
  for (const JwtProvider* p : sec.jwt) {
    std::string_view token;
    for (const config::TokenSource& src : p->from) {
      token = token_from(src, head);
      if (!token.empty()) break;
    }
    if (token.empty()) continue;
    const auth::JwtResult& r = worker_.verify_jwt(*p, token, now_s);
    if (!r.ok) {
      if (r.error == auth::JwtError::kUnknownKid && p->jwks != nullptr) p->jwks->request_refresh();
      if (failed_provider == nullptr) {
        failed_provider = p;
        failure = r.error;
      }
      continue;
    }
    for (const auto& [header, claim] : p->forward_claims) {
      std::optional<std::string> v =
          claim == "sub" ? std::optional<std::string>(r.claims.sub) : r.claim_string(claim);
      if (!v || !safe_header_value(*v)) continue;
      x.upstream_extra.append(header);
      x.upstream_extra.append(": ");
      x.upstream_extra.append(*v);
      x.upstream_extra.append("\r\n");
    }
    x.principal.assign(r.claims.sub);
    if (sec.needs_claims || (x.chain != nullptr && x.chain->reads_claims())) {
      // Kept for the rate-limit keys, which may run after a pause (the cache may change).
      x.jwt_claims = r.claims;
      x.has_claims = true;
      *roles = &x.jwt_claims.roles;
    } else {
      *roles = &r.claims.roles;  // read by RBAC before this worker verifies anything else
    }
    return true;
  }
  if (failed_provider != nullptr) {
    std::string challenge =
        "WWW-Authenticate: Bearer realm=\"sluice\", error=\"invalid_token\", "
        "error_description=\"";
    challenge += jwt_reason(failure);
    challenge += "\"\r\n";
    return deny(401, jwt_reason(failure), jwt_failure(failure), challenge);
  }

  // API key.
  if (sec.api_key) {
    std::string_view presented = token_from(sec.api_key_from, head);
    if (!presented.empty()) {
      const std::string* name = tables.api_keys.find(presented);
      auto c = name != nullptr ? tables.by_name.find(*name) : tables.by_name.end();
      if (c == tables.by_name.end()) {
        return deny(401, "invalid api key", observe::AuthFailure::kInvalidApiKey,
                    "WWW-Authenticate: ApiKey realm=\"sluice\"\r\n");
      }
      set_consumer(*c->second);
      return true;
    }
  }

  // A verified TLS client certificate whose subject names a consumer.
  if (sec.client_cert && client_cert_verified()) {
    auto c = tables.by_subject.find(client_cert_subject());
    if (c == tables.by_subject.end()) {
      return deny(403, "unknown client certificate", observe::AuthFailure::kForbidden, {});
    }
    set_consumer(*c->second);
    return true;
  }

  if (sec.optional) return true;
  std::string challenge;
  if (!sec.jwt.empty()) challenge += "WWW-Authenticate: Bearer realm=\"sluice\"\r\n";
  if (sec.api_key) challenge += "WWW-Authenticate: ApiKey realm=\"sluice\"\r\n";
  if (sec.hmac) challenge += kHmacChallenge;
  return deny(401, "missing credentials", observe::AuthFailure::kMissing, challenge);
}

std::string_view ClientConnection::rate_key(const RatePolicy& p, const http::RequestHead& head,
                                            char* buf) {
  using Key = config::RateLimitConfig::Key;
  switch (p.key) {
    case Key::kRoute:
      return "route";
    case Key::kConsumer:
      return exchange_->principal;
    case Key::kJwtClaim: {
      const auth::JwtClaims& c = exchange_->jwt_claims;
      if (p.key_name == "sub") return c.sub;
      if (p.key_name == "iss") return c.iss;
      for (const auto& [name, value] : c.strings) {
        if (name == p.key_name) return value;
      }
      return {};
    }
    case Key::kHeader: {
      const http::Header* h = http::find_header(head.headers, p.key_name);
      return h != nullptr ? h->value : std::string_view();
    }
    case Key::kQuery:
      return query_value(head.query, p.key_name);
    case Key::kClientIp: {
      auth::IpAddress ip = client_address(head);
      // A binary key: family byte and address bytes.
      if (ip.is_v4()) {
        buf[0] = 4;
        uint32_t v = ip.v4_value();
        std::memcpy(buf + 1, &v, sizeof(v));
        return std::string_view(buf, 5);
      }
      buf[0] = 6;
      uint64_t hi = ip.v6_hi();
      uint64_t lo = ip.v6_lo();
      std::memcpy(buf + 1, &hi, sizeof(hi));
      std::memcpy(buf + 9, &lo, sizeof(lo));
      return std::string_view(buf, 17);
    }
  }
  return {};
}

ClientConnection::RateOutcome ClientConnection::check_rate_limits(const http::RequestHead& head) {
  Exchange& x = *exchange_;
  Exchange::Rate& r = x.rate;
  const std::vector<RatePolicy>& policies = x.route->rate_limits;
  const config::RedisConfig& redis = x.snapshot->config.redis;
  for (; r.next < policies.size(); ++r.next) {
    const RatePolicy& p = policies[r.next];
    RateLimitRuntime& rt = *p.runtime;
    limits::RateDecision d;
    bool unavailable = false;
    if (r.resumed) {
      r.resumed = false;
      unavailable = r.unavailable;
      d = r.answer;
    } else {
      char buf[24];
      std::string_view key = rate_key(p, head, buf);
      if (key.empty()) continue;  // no key, no limit
      if (!p.cluster) {
        d = rt.store.take(key, p.params, worker_.unix_ms());
      } else {
        limits::ClusterQuota& q = worker_.cluster_quota(*x.snapshot, p);
        switch (q.take(key, p.params, worker_.loop().now_ms(), &d, this)) {
          case limits::QuotaResult::kDecided:
            break;
          case limits::QuotaResult::kWait:
            r.waiting = true;
            r.quota = &q;
            return RateOutcome::kWait;
          case limits::QuotaResult::kUnavailable:
            unavailable = true;
            break;
        }
      }
    }
    if (unavailable) {
      rt.errors.fetch_add(1, std::memory_order_relaxed);
      if (redis.fail_open) continue;
      r.retry_after_s = 1;
      return RateOutcome::kAnswered;
    }
    (d.allowed ? rt.allowed : rt.denied).fetch_add(1, std::memory_order_relaxed);
    if (!r.have || d.remaining < r.tightest.remaining || !d.allowed) {
      r.have = true;
      r.tightest = d;
      r.policy = &p;
    }
    if (!d.allowed) {
      r.retry_after_s = limits::retry_after_seconds(d);
      return RateOutcome::kAnswered;
    }
  }
  return RateOutcome::kPass;
}

void ClientConnection::append_rate_headers(std::string& out) const {
  const Exchange::Rate& r = exchange_->rate;
  auto number = [&](const char* name, uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(name);
    out.append(buf, end);
    out.append("\r\n");
  };
  if (r.have) {
    number("RateLimit-Limit: ", r.tightest.limit);
    number("RateLimit-Remaining: ", r.tightest.remaining);
    number("RateLimit-Reset: ", limits::reset_seconds(r.tightest));
    out.append("RateLimit-Policy: ");
    out.append(r.policy->policy_header);
    out.append("\r\n");
  }
  if (r.retry_after_s != 0) number("Retry-After: ", r.retry_after_s);
}

bool ClientConnection::run_request_filters(bool* keep, int until_priority) {
  Exchange& x = *exchange_;
  const filter::Chain& chain = *x.chain;
  filter::Status st;
  if (x.chain_resumed) {
    x.chain_resumed = false;
    if (x.chain_timed_out) {
      x.chain_timed_out = false;
      st = filter::time_out(chain, x.ctx, x.cursor, until_priority);
    } else {
      st = filter::run_phase(chain, x.ctx, x.cursor, false, until_priority);
    }
  } else {
    // The request_headers phase runs in two parts around the built-in steps: the second part
    // goes on from where the first stopped.
    if (!x.chain_started) {
      x.cursor.start(filter::Phase::kRequestHeaders);
      x.chain_started = true;
    }
    x.ctx.set_identity(x.principal, x.has_claims ? &x.jwt_claims : nullptr);
    st = filter::run_phase(chain, x.ctx, x.cursor, false, until_priority);
  }
  switch (st) {
    case filter::Status::kContinue:
      return true;
    case filter::Status::kPause: {
      x.chain_waiting = true;
      // The head is in: the header timer (408) no longer applies; the filter's own timeout does.
      worker_.loop().timers().cancel(*this);
      const filter::Entry* e = x.cursor.paused(chain);
      if (e != nullptr && e->timeout_ms != 0) {
        worker_.loop().timers().schedule(chain_timeout_, worker_.loop().now_ms() + e->timeout_ms);
      }
      *keep = true;
      return false;
    }
    case filter::Status::kRespond:
      send_chain_answer();
      *keep = exchange_ != nullptr;
      return false;
  }
  return true;
}

void ClientConnection::send_chain_answer() {
  Exchange& x = *exchange_;
  const filter::Context& c = x.ctx;
  if (c.refusal() != filter::Refusal::kNone) {
    using filter::Refusal;
    using observe::AuthFailure;
    const AuthFailure why = c.refusal() == Refusal::kAddress     ? AuthFailure::kAddress
                            : c.refusal() == Refusal::kForbidden ? AuthFailure::kForbidden
                            : c.refusal() == Refusal::kMissing   ? AuthFailure::kMissing
                                                                 : AuthFailure::kInvalidToken;
    worker_.metrics().route(x.route->metric_slot).auth_failure(why);
  }
  x.discard_body = true;
  worker_.loop().timers().cancel(chain_delay_);
  worker_.loop().timers().cancel(chain_timeout_);
  if (c.answer_body().empty() && c.answer_reason() != nullptr) {
    send_error(c.answer_status(), c.answer_reason(), false);
  } else {
    x.final_status = c.answer_status();
    std::string& head = worker_.path_scratch();
    head.assign("HTTP/1.1 ");
    head.append(std::to_string(c.answer_status()));
    head.push_back(' ');
    head.append(http::reason_phrase(c.answer_status()));
    head.append("\r\n");
    head.append(c.answer_lines());
    if (c.answer_status() != 204 && c.answer_status() != 304) {
      head.append("content-length: ");
      head.append(std::to_string(c.answer_body().size()));
      head.append("\r\n");
    }
    send_local(head, x.method == http::Method::kHead ? "" : std::string_view(c.answer_body()),
               false);
  }
  arm_body_timer();
}

bool ClientConnection::admit() {
  Exchange& x = *exchange_;
  const http::RequestHead& head = x.head;
  const std::string_view path = x.ctx.matched_path();
  const std::shared_ptr<const Snapshot>& snap = x.snapshot;
  using Stage = Exchange::Stage;
  // Security headers go on every answer, the gateway's own refusals included: the
  // security_headers filter runs on local answers too.
  if (x.stage == Stage::kSecurity) x.stage = Stage::kEarlyFilters;
  if (x.stage == Stage::kEarlyFilters) {
    // The chain's filters that come before the built-in auth steps (ip_rules, cors).
    if (x.chain != nullptr) {
      bool keep = true;
      if (!run_request_filters(&keep, filter::priority::kAuth)) return keep;
    }
    x.stage = Stage::kBuiltinSecurity;
  }
  if (x.stage == Stage::kBuiltinSecurity) {
    x.stage = Stage::kRateLimits;
    if (const RouteSecurity* sec = route_security(x); sec != nullptr && sec->auth) {
      switch (check_security(*sec, head)) {
        case RateOutcome::kPass:
          break;
        case RateOutcome::kAnswered:
          return exchange_ != nullptr;
        case RateOutcome::kWait:
          x.stage = Stage::kBody;
          // The whole body must be in before any of it is forwarded.
          arm(TimerMode::kBody, snap->config.timeouts.client_body_ms);
          break;
      }
    }
  }
  if (x.stage == Stage::kBody) {
    if (in_.size() < x.body_needed) {
      x.body_wait = true;
      return true;
    }
    x.body_wait = false;
    auth::BodyDigest digest;
    digest.update(in_.view().substr(0, x.body_needed));
    if (!digest.matches(x.hmac_digest)) {
      worker_.metrics()
          .route(x.route->metric_slot)
          .auth_failure(observe::AuthFailure::kInvalidSignature);
      refuse(401, "invalid signature", "WWW-Authenticate: SLUICE-HMAC-SHA256 realm=\"sluice\"\r\n");
      return exchange_ != nullptr;
    }
    x.stage = Stage::kRateLimits;
  }
  if (x.stage == Stage::kRateLimits && !x.route->rate_limits.empty()) {
    switch (check_rate_limits(head)) {
      case RateOutcome::kPass:
        break;
      case RateOutcome::kWait:
        return true;  // on_quota*() posts us; process() waits until then
      case RateOutcome::kAnswered: {
        x.discard_body = true;
        if (x.rate.have && !x.rate.tightest.allowed) {
          send_error(429, "rate limit exceeded", false);
        } else {
          send_error(503, "rate limit store unavailable", false);
        }
        arm_body_timer();
        return true;
      }
    }
  }
  if (x.stage == Stage::kRateLimits) x.stage = Stage::kFilters;
  if (x.stage == Stage::kFilters && x.chain != nullptr) {
    bool keep = true;
    if (!run_request_filters(&keep, INT_MAX)) return keep;
  }
  if (x.stage == Stage::kFilters) x.stage = Stage::kRequestBody;
  if (x.stage == Stage::kRequestBody && x.chain != nullptr && x.has_body &&
      wants_body(filter::Phase::kRequestBody)) {
    // on_request_body: the whole body first (bounded by the filters' max_bytes).
    if (!x.body_buffering && head.expect_continue && !x.client_http10 && in_.empty()) {
      out_.append(worker_.pool(), "HTTP/1.1 100 Continue\r\n\r\n");
    }
    x.body_buffering = true;
    switch (buffer_request_body()) {
      case BodyRead::kNeedMore:
        return true;
      case BodyRead::kFailed:
        return exchange_ != nullptr;
      case BodyRead::kDone:
        break;
    }
    x.body_buffering = false;
    worker_.loop().timers().cancel(*this);
    x.cursor.start(filter::Phase::kRequestBody);
    if (filter::run_phase(*x.chain, x.ctx, x.cursor) == filter::Status::kRespond) {
      send_chain_answer();
      return exchange_ != nullptr;
    }
    x.body_replaced = true;
  }
  x.stage = Stage::kAction;

  if (x.route->upstream < 0 && x.route->respond_status == 0) {
    // A mock route whose mock did not answer this request (its `when:` did not match).
    x.discard_body = true;
    send_error(404, "no mock answer for this request", false);
    arm_body_timer();
    return true;
  }
  if (x.route->upstream < 0) {
    // A route answered from config: the request body, if any, is read and dropped.
    x.discard_body = true;
    x.final_status = x.route->respond_status;
    send_local(x.route->respond_head, x.method == http::Method::kHead ? "" : x.route->respond_body,
               false);
    arm_body_timer();
    return true;
  }

  // select_upstream: admission (breaker, limits), then a target.
  x.upstream = &snap->upstreams[static_cast<size_t>(x.route->upstream)];
  const Upstream& u = *x.upstream;
  UpstreamRuntime& rt = *u.runtime;
  const uint64_t now = worker_.loop().now_ms();
  auto reject = [&](const char* reason) {
    rt.rejected.fetch_add(1, std::memory_order_relaxed);
    x.discard_body = true;
    send_error(503, reason, false);
    arm_body_timer();
    return true;
  };
  if (rt.breaker) {
    limits::CircuitBreaker::Decision d = rt.breaker->allow(now);
    if (d == limits::CircuitBreaker::Decision::kReject) {
      return reject("circuit breaker open for this upstream");
    }
    x.breaker_probe = d == limits::CircuitBreaker::Decision::kProbe;
  }
  if (u.max_requests != 0 &&
      rt.active_requests.load(std::memory_order_relaxed) >= static_cast<int32_t>(u.max_requests)) {
    if (x.breaker_probe) rt.breaker->cancel_probe();
    x.breaker_probe = false;
    return reject("too many requests in flight to this upstream");
  }
  rt.active_requests.fetch_add(1, std::memory_order_relaxed);
  rt.retry_budget.request_started();
  x.counted = true;
  if (x.route->total_timeout_ms != 0) x.deadline_ms = now + x.route->total_timeout_ms;

  char ip[64];
  peer_ip(ip, sizeof(ip));
  if (u.algorithm == balance::Algorithm::kConsistentHash) {
    x.hash = balance::hash_key(hash_source(u.hash_key, head, ip, path));
  }
  if (u.sticky.enabled) {
    std::string_view cookie = cookie_value(head.headers, u.sticky.cookie);
    std::optional<std::string_view> key = balance::verify_sticky(cookie, u.sticky.secret);
    if (key) {
      for (size_t i = 0; i < u.targets.size(); ++i) {
        if (u.targets[i].key == *key) x.sticky_index = static_cast<int>(i);
      }
    }
  }

  // on_upstream_request
  x.upstream_head.clear();
  char traceparent[observe::kTraceparentSize];
  std::string_view tp;
  if (x.trace.on) {
    // Each try rewrites the span id (begin_try_span) with its client span's.
    observe::format_traceparent(x.trace.trace_id, x.trace.span_id, x.trace.sampled, traceparent);
    tp = std::string_view(traceparent, sizeof(traceparent));
  }
  UpstreamEdits edits;
  const UpstreamEdits* with = nullptr;
  if (x.chain != nullptr && !x.chain->phase(filter::Phase::kUpstreamRequest).empty()) {
    // on_upstream_request: the target is chosen; the last edits before the head is rendered.
    x.cursor.start(filter::Phase::kUpstreamRequest);
    if (filter::run_phase(*x.chain, x.ctx, x.cursor) == filter::Status::kRespond) {
      send_chain_answer();
      return exchange_ != nullptr;
    }
  }
  if (x.chain != nullptr) {
    if (x.ctx.path_changed()) edits.path = x.ctx.path();
    if (x.ctx.query_changed()) edits.query = x.ctx.query();
    edits.dropped = x.ctx.dropped_request_headers();
    edits.lines = x.ctx.upstream_lines();
    if (x.body_replaced) edits.body_length = x.ctx.request_body().size();
    with = &edits;
  }
  x.trace.header_at = render_upstream_request(
      head, *x.route, ip, std::string_view(x.request_id, x.request_id_len), path,
      u.targets.empty() ? std::string_view() : u.targets[0].key, x.upstream_head, tp,
      x.trace.has_parent, tls_ != nullptr, owned_headers(x), x.upstream_extra, with);
  // A buffered body goes with the head (a replay after a connect failure sends both).
  if (x.body_replaced) x.upstream_head.append(x.ctx.request_body());
  if (head.expect_continue && !x.request_done && !x.client_http10 && in_.empty()) {
    out_.append(worker_.pool(), "HTTP/1.1 100 Continue\r\n\r\n");
  }
  if (!try_upstream()) return false;
  arm_body_timer();
  return true;
}

}  // namespace sluice::proxy
