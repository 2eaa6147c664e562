// The request path of one client connection: read, parse, route, forward, stream the response,
// log. See connection.h for the model.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "auth/cidr.h"
#include "auth/hmac_signature.h"
#include "balance/balancer.h"
#include "http/header.h"
#include "http/status.h"
#include "limits/retry_budget.h"
#include "proxy/connection.h"
#include "proxy/messages.h"
#include "router/path.h"

namespace sluice::proxy {
namespace {

// Returns the bytes appended.
size_t append_chunk(core::Buffer& out, core::BufferPool& pool, std::string_view data) {
  char head[24];
  size_t n = http::write_chunk_header(data.size(), head);
  out.append(pool, std::string_view(head, n));
  out.append(pool, data);
  out.append(pool, "\r\n");
  return n + data.size() + 2;
}

const char* failure_type(UpstreamFailure kind) {
  switch (kind) {
    case UpstreamFailure::kConnect:
      return "connect_failure";
    case UpstreamFailure::kConnectTimeout:
      return "connect_timeout";
    case UpstreamFailure::kReset:
      return "connection_reset";
    case UpstreamFailure::kTimeout:
      return "timeout";
    case UpstreamFailure::kProtocol:
      return "protocol_error";
  }
  return "error";
}

// "host:port" → host and port (0 when there is none); "[v6]:port" loses its brackets.
std::string_view split_host_port(std::string_view hp, uint16_t* port) {
  *port = 0;
  size_t colon = hp.rfind(':');
  if (colon != std::string_view::npos && hp.find(']', colon) == std::string_view::npos) {
    uint16_t p = 0;
    auto [end, ec] = std::from_chars(hp.data() + colon + 1, hp.data() + hp.size(), p);
    if (ec == std::errc() && end == hp.data() + hp.size()) *port = p;
    hp = hp.substr(0, colon);
  }
  if (hp.size() >= 2 && hp.front() == '[' && hp.back() == ']') hp = hp.substr(1, hp.size() - 2);
  return hp;
}

const RouteSecurity* route_security(const Exchange& x) {
  if (!x.snapshot->security || x.route == nullptr) return nullptr;
  return &x.snapshot->security->routes[static_cast<size_t>(x.route - x.snapshot->routes.data())];
}

std::span<const std::string> owned_headers(const Exchange& x) {
  const RouteSecurity* sec = route_security(x);
  if (sec == nullptr) return {};
  return sec->owned_headers;
}

}  // namespace

ClientConnection::ClientConnection(Worker& worker, int fd, const sockaddr_storage& peer,
                                   size_t listener)
    : worker_(worker),
      fd_(fd),
      peer_(peer),
      listener_(listener),
      parser_(worker.snapshot()->limits) {
  // The handshake runs from read_some(); the header timer below bounds it.
  const std::vector<config::ListenerConfig>& ls = worker.snapshot()->config.listeners;
  if (listener < ls.size() && ls[listener].tls.context) {
    tls_ = ls[listener].tls.context->new_stream(fd_);
    if (!tls_) close_after_flush_ = true;  // out of memory: never serve a TLS port in clear
  }
  retry_timer_.conn = this;
  worker_.metrics().connections_active.fetch_add(1, std::memory_order_relaxed);
  worker_.metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
  worker_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
  arm(TimerMode::kHeader, worker_.snapshot()->config.timeouts.client_header_ms);
}

ClientConnection::~ClientConnection() {
  if (fd_ >= 0) close(fd_);
}

const char* ClientConnection::peer_ip(char* buf, size_t len) const {
  if (peer_.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&peer_)->sin6_addr, buf,
              static_cast<socklen_t>(len));
  } else {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer_)->sin_addr, buf,
              static_cast<socklen_t>(len));
  }
  return buf;
}

void ClientConnection::arm(TimerMode mode, uint64_t ms) {
  timer_mode_ = mode;
  worker_.loop().timers().schedule(*this, worker_.loop().now_ms() + ms);
}

void ClientConnection::on_io(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_closing_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  // A TLS write blocked on the peer's handshake bytes resumes on readability (a read blocked on
  // writability kept readable_ set, so EPOLLOUT retries it).
  if (tls_ && (events & EPOLLIN) && tls_->wants_read_for_write()) writable_ = true;
  drive();
}

void ClientConnection::drive() {
  if (closed_) return;
  if (in_drive_) {
    again_ = true;  // an upstream event arrived while we were busy: loop once more
    return;
  }
  in_drive_ = true;
  int rounds = 0;
  for (; !closed_; ++rounds) {
    if (rounds == 32) {
      // Fairness: let other connections run; continue on the next loop turn.
      worker_.loop().post(this);
      break;
    }
    again_ = false;
    bool got = read_some();
    bool progressed = process();
    bool sent = flush();  // room in out_ lets the response side move again
    if (!got && !progressed && !sent && !again_) break;
  }
  in_drive_ = false;
  if (closed_) return;
  // An idle keep-alive connection holds no buffer memory.
  if (in_.empty()) in_.release(worker_.pool());
  if (peer_eof_ && !exchange_ && out_.empty()) close_now();
}

bool ClientConnection::read_some() {
  if (!readable_ || peer_eof_ || close_after_flush_) return false;
  const size_t limit =
      exchange_ ? (exchange_->body_wait ? exchange_->body_needed : kHighWater)
                : worker_.snapshot()->limits.max_head_bytes + core::BufferPool::kBlockSize;
  core::ReadOutcome r = tls_ ? tls_->read_into(in_, worker_.pool(), limit)
                             : core::read_into(fd_, in_, worker_.pool(), limit, peer_closing_);
  if (tls_ && !tls_->handshake_done()) {
    if (r.error || r.eof) note_tls_handshake(false);
  } else if (tls_ && tls_->take_handshake_event()) {
    note_tls_handshake(true);
  }
  if (r.error) {
    peer_eof_ = true;
    close_now();
    return false;
  }
  if (r.drained) readable_ = false;
  if (r.eof) peer_eof_ = true;
  worker_.metrics().bytes_in.fetch_add(r.bytes, std::memory_order_relaxed);
  return r.bytes > 0;
}

void ClientConnection::note_tls_handshake(bool ok) {
  observe::WorkerMetrics& m = worker_.metrics();
  const size_t slot = std::min(listener_, observe::kMaxTlsListeners - 1);
  if (!ok) {
    m.tls_handshakes_failed[slot].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  m.tls_handshakes_ok[slot].fetch_add(1, std::memory_order_relaxed);
  // Kept as a string: filters may read it for every request of the connection.
  client_cert_subject_ = tls_->peer_subject();
  client_cert_verified_ = !client_cert_subject_.empty() && tls_->peer_verified();
}

bool ClientConnection::process() {
  if (closed_ || close_after_flush_) return false;
  if (!exchange_) {
    if (in_.empty()) return false;
    if (timer_mode_ == TimerMode::kIdle) {
      arm(TimerMode::kHeader, worker_.snapshot()->config.timeouts.client_header_ms);
    }
    http::RequestHead& head = worker_.request_head();
    http::ParseStatus st = parser_.parse(in_.view(), head);
    if (st == http::ParseStatus::kIncomplete) {
      if (peer_eof_) close_now();
      return false;
    }
    if (st == http::ParseStatus::kError) {
      send_error(head.error_status ? head.error_status : 400, head.error_reason, true);
      return false;
    }
    bool started = start_exchange();
    // Answered at once (a respond route, 404, 405) with no body to read: settle now, so the
    // exchange is logged before its bytes reach the client.
    if (exchange_ && exchange_->request_done && exchange_->response_done) finish_exchange();
    return started;
  }
  if (exchange_->rate.waiting) return false;
  if (exchange_->body_wait) {
    if (in_.size() < exchange_->body_needed) {
      if (peer_eof_) close_now();
      return false;
    }
    exchange_->body_wait = false;
    bool started = resume_admission();
    if (exchange_ && exchange_->request_done && exchange_->response_done) finish_exchange();
    return started;
  }
  if (exchange_->rate.resumed) {
    bool started = resume_admission();
    if (exchange_ && exchange_->request_done && exchange_->response_done) finish_exchange();
    return started;
  }
  bool progressed = false;
  if (!exchange_->request_done) progressed |= forward_request_body();
  if (exchange_ && exchange_->upstream_conn) progressed |= pump_response();
  if (exchange_ && exchange_->request_done && exchange_->response_done) {
    finish_exchange();
    progressed = true;
  }
  if (exchange_ && peer_eof_ && !exchange_->request_done && in_.empty()) {
    // The client went away in the middle of its request body.
    abort_upstream();
    close_now();
    return false;
  }
  return progressed;
}

bool ClientConnection::start_exchange() {
  http::RequestHead& head = worker_.request_head();
  const std::shared_ptr<const Snapshot>& snap = worker_.snapshot();
  std::unique_ptr<Exchange> ex = worker_.take_exchange();
  ex->snapshot = snap;
  ex->method = head.method;
  ex->client_http10 = head.version_minor == 0;
  ex->client_keep_alive = head.keep_alive && !worker_.draining();
  ex->request_body = head.body;
  ex->request_remaining = head.content_length;
  ex->request_done = head.body == http::BodyKind::kNone ||
                     (head.body == http::BodyKind::kContentLength && head.content_length == 0);
  ex->has_body = !ex->request_done;
  const http::Header* rid = http::find_header(head.headers, "x-request-id");
  if (rid != nullptr && valid_request_id(rid->value)) {
    std::memcpy(ex->request_id, rid->value.data(), rid->value.size());
    ex->request_id_len = static_cast<uint8_t>(rid->value.size());
  } else {
    worker_.make_request_id(ex->request_id);
    ex->request_id_len = 32;
  }
  ex->start_us = worker_.loop().clock().now_us();
  exchange_ = std::move(ex);
  worker_.exchange_started();
  Exchange& x = *exchange_;
  const size_t head_len = parser_.head_length();
  if (snap->observed()) {
    // The log phase runs after the head's bytes are gone: keep what it reports.
    Exchange::Seen& seen = x.seen;
    seen.method.assign(head.method_text);
    seen.host.assign(head.host);
    seen.target.assign(head.path);
    if (!head.query.empty()) {
      seen.target.push_back('?');
      seen.target.append(head.query);
    }
    const http::Header* ua = http::find_header(head.headers, "user-agent");
    if (ua != nullptr) seen.user_agent.assign(ua->value);
    const http::Header* ref = http::find_header(head.headers, "referer");
    if (ref != nullptr) seen.referer.assign(ref->value);
    if (!snap->sinks.span_rings.empty()) start_trace(head);
  }

  // on_request_headers: normalise and route.
  bool path_ok = true;
  std::string_view path = head.path;
  if (path != "*") path = router::normalize_path(head.path, worker_.path_scratch(), &path_ok);
  if (!path_ok) {
    in_.consume(head_len);
    send_error(400, "invalid request path", true);
    return false;
  }
  router::MatchResult m = snap->router->match(head.host, head.method, path, head.headers);
  if (m.status != router::MatchStatus::kFound) {
    if (snap->security && snap->security->default_headers) {
      x.response_extra.append(snap->security->default_headers->block());
    }
    in_.consume(head_len);
    x.discard_body = true;
    bool found = m.status == router::MatchStatus::kMethodNotAllowed;
    send_error(found ? 405 : 404, found ? "method not allowed" : "no route", false,
               found ? m.allowed_methods : 0);
    arm_body_timer();
    return true;
  }
  x.route = &snap->routes[m.route];
  if (x.route->max_body_bytes != 0 && head.body == http::BodyKind::kContentLength &&
      head.content_length > x.route->max_body_bytes) {
    in_.consume(head_len);
    send_error(413, "request body too large", true);
    return false;
  }
  return admit(head, head_len, path);
}

bool ClientConnection::resume_admission() {
  // The head is still in in_ (nothing was consumed while paused); the worker's parsed head was
  // reused by other connections since, so parse it again, with the limits it was parsed with.
  parser_ = http::RequestParser(exchange_->snapshot->limits);
  http::RequestHead& head = worker_.request_head();
  if (parser_.parse(in_.view(), head) != http::ParseStatus::kDone) {
    send_error(400, "invalid request", true);
    return false;
  }
  bool path_ok = true;
  std::string_view path = head.path;
  if (path != "*") path = router::normalize_path(head.path, worker_.path_scratch(), &path_ok);
  return admit(head, parser_.head_length(), path);
}

void ClientConnection::on_quota(const limits::RateDecision& decision) {
  if (closed_ || !exchange_ || !exchange_->rate.waiting) return;
  Exchange::Rate& r = exchange_->rate;
  r.waiting = false;
  r.resumed = true;
  r.unavailable = false;
  r.answer = decision;
  // Go on in a loop turn of our own: this runs inside the Redis client's callback.
  worker_.loop().post(this);
}

void ClientConnection::on_quota_unavailable() {
  if (closed_ || !exchange_ || !exchange_->rate.waiting) return;
  Exchange::Rate& r = exchange_->rate;
  r.waiting = false;
  r.resumed = true;
  r.unavailable = true;
  worker_.loop().post(this);
}

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

void ClientConnection::refuse(int status, const char* reason, size_t head_len,
                              std::string_view challenge) {
  Exchange& x = *exchange_;
  x.response_extra.append(challenge);
  in_.consume(head_len);
  x.discard_body = true;
  x.body_wait = false;
  send_error(status, reason, false);
  arm_body_timer();
}

ClientConnection::RateOutcome ClientConnection::check_security(const RouteSecurity& sec,
                                                               const http::RequestHead& head,
                                                               size_t head_len) {
  Exchange& x = *exchange_;
  // Security headers go on every answer, the gateway's own refusals included.
  if (sec.headers) x.response_extra.append(sec.headers->block());
  if (sec.ip_rules && !sec.ip_rules->allows(client_address(head))) {
    worker_.metrics().route(x.route->metric_slot).auth_failure(observe::AuthFailure::kAddress);
    refuse(403, "address not allowed", head_len);
    return RateOutcome::kAnswered;
  }
  if (sec.cors) {
    const http::Header* origin = http::find_header(head.headers, "origin");
    const http::Header* acrm = http::find_header(head.headers, "access-control-request-method");
    if (auth::CorsPolicy::is_preflight(head.method_text, origin != nullptr, acrm != nullptr)) {
      // Answered here, before auth: browsers send no credentials with a preflight.
      const http::Header* acrh = http::find_header(head.headers, "access-control-request-headers");
      int status = 204;
      std::string lines;
      sec.cors->preflight_response(origin->value, acrm->value,
                                   acrh != nullptr ? acrh->value : std::string_view(), lines,
                                   &status);
      if (status != 204) {
        refuse(403, "CORS preflight refused", head_len);
        return RateOutcome::kAnswered;
      }
      x.response_extra.append(lines);
      in_.consume(head_len);
      x.discard_body = true;
      x.final_status = 204;
      send_local("HTTP/1.1 204 No Content\r\n", "", false);
      arm_body_timer();
      return RateOutcome::kAnswered;
    }
    if (origin != nullptr && sec.cors->origin_allowed(origin->value)) {
      sec.cors->actual_response_headers(origin->value, x.response_extra);
    }
  }
  if (!sec.auth) return RateOutcome::kPass;
  const std::vector<std::string>* roles = nullptr;
  bool wait_body = false;
  if (!authenticate(sec, head, head_len, &roles, &wait_body)) return RateOutcome::kAnswered;
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
        refuse(401, "missing credentials", head_len,
               "WWW-Authenticate: Bearer realm=\"sluice\"\r\n");
      } else {
        refuse(403, "forbidden", head_len);
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
                                    size_t head_len, const std::vector<std::string>** roles,
                                    bool* wait_body) {
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
    refuse(status, reason, head_len, challenge);
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
      refuse(413, "request body too large", head_len);
      return false;
    }
    if (length == 0) {
      if (!auth::BodyDigest().matches(digest->value)) {
        return deny(401, "invalid signature", bad, kHmacChallenge);
      }
      return true;
    }
    x.hmac_digest.assign(digest->value);
    x.body_needed = head_len + static_cast<size_t>(length);
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
    if (sec.needs_claims) {
      // Kept for the rate-limit keys, which may run after a pause (the cache may change).
      x.jwt_claims = r.claims;
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

bool ClientConnection::admit(const http::RequestHead& head, size_t head_len,
                             std::string_view path) {
  Exchange& x = *exchange_;
  const std::shared_ptr<const Snapshot>& snap = x.snapshot;
  using Stage = Exchange::Stage;
  if (x.stage == Stage::kSecurity) {
    x.stage = Stage::kRateLimits;
    if (const RouteSecurity* sec = route_security(x); sec != nullptr && sec->any()) {
      switch (check_security(*sec, head, head_len)) {
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
    digest.update(in_.view().substr(head_len, x.body_needed - head_len));
    if (!digest.matches(x.hmac_digest)) {
      worker_.metrics()
          .route(x.route->metric_slot)
          .auth_failure(observe::AuthFailure::kInvalidSignature);
      refuse(401, "invalid signature", head_len,
             "WWW-Authenticate: SLUICE-HMAC-SHA256 realm=\"sluice\"\r\n");
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
        in_.consume(head_len);
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
  x.stage = Stage::kAction;

  if (x.route->upstream < 0) {
    // A route answered from config: the request body, if any, is read and dropped.
    in_.consume(head_len);
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
    in_.consume(head_len);
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
  x.trace.header_at = render_upstream_request(
      head, *x.route, ip, std::string_view(x.request_id, x.request_id_len), path,
      u.targets.empty() ? std::string_view() : u.targets[0].key, x.upstream_head, tp,
      x.trace.has_parent, tls_ != nullptr, owned_headers(x), x.upstream_extra);
  if (head.expect_continue && !x.request_done && !x.client_http10 && in_.size() == head_len) {
    out_.append(worker_.pool(), "HTTP/1.1 100 Continue\r\n\r\n");
  }
  in_.consume(head_len);
  if (!try_upstream()) return false;
  arm_body_timer();
  return true;
}

void ClientConnection::arm_body_timer() {
  if (!exchange_) return;  // answered and closing
  if (!exchange_->request_done) {
    arm(TimerMode::kBody, exchange_->snapshot->config.timeouts.client_body_ms);
  } else {
    worker_.loop().timers().cancel(*this);
  }
}

uint64_t ClientConnection::try_timeout_ms() const {
  const Exchange& x = *exchange_;
  uint64_t t = x.route->response_timeout_ms;
  if (x.deadline_ms != 0) {
    uint64_t now = worker_.loop().now_ms();
    uint64_t left = x.deadline_ms > now ? x.deadline_ms - now : 1;
    t = std::min(t, left);
  }
  return t;
}

bool ClientConnection::try_upstream() {
  Exchange& x = *exchange_;
  const Upstream& u = *x.upstream;
  const uint64_t now = worker_.loop().now_ms();
  int idx = -1;
  for (size_t attempt = 0; attempt <= u.targets.size(); ++attempt) {
    idx =
        worker_.select_target(*x.snapshot, x.route->upstream, x.tried_mask, x.sticky_index, x.hash);
    if (idx < 0) break;
    const Target& t = u.targets[static_cast<size_t>(idx)];
    x.target_probe = false;
    if (t.breaker) {
      limits::CircuitBreaker::Decision d = t.breaker->allow(now);
      if (d == limits::CircuitBreaker::Decision::kReject) {
        // This target's own breaker is open: count it as tried and look for another.
        if (idx < 64) x.tried_mask |= uint64_t{1} << idx;
        idx = -1;
        continue;
      }
      x.target_probe = d == limits::CircuitBreaker::Decision::kProbe;
    }
    break;
  }
  if (idx < 0) {
    send_error(503, "no upstream target available", !x.request_done);
    return false;
  }
  x.target_index = idx;
  x.target = &u.targets[static_cast<size_t>(idx)];
  if (idx < 64) x.tried_mask |= uint64_t{1} << idx;
  ++x.tries;
  bool reused = false;
  bool limited = false;
  UpstreamConnection* up = worker_.acquire_upstream(*x.target, u, &reused, &limited);
  if (up == nullptr) {
    if (x.target_probe) x.target->breaker->cancel_probe();
    x.target_probe = false;
    if (limited) u.runtime->rejected.fetch_add(1, std::memory_order_relaxed);
    send_error(limited ? 503 : 502,
               limited ? "upstream connection limit reached" : "cannot connect to upstream",
               !x.request_done);
    return false;
  }
  x.target->state->active.fetch_add(1, std::memory_order_relaxed);
  x.target_active = true;
  x.upstream_sent_us = worker_.loop().clock().now_us();
  x.upstream_conn = up;
  x.upstream_reused = reused;
  x.response_parser.reset();
  x.response_chunked.reset();
  if (x.trace.on) begin_try_span();
  up->attach(this, try_timeout_ms());
  up->out().append(worker_.pool(), carried_.empty() ? std::string_view(x.upstream_head)
                                                    : std::string_view(carried_));
  carried_.clear();
  up->flush();
  return exchange_ != nullptr;
}

void ClientConnection::report_try(bool success) {
  Exchange& x = *exchange_;
  if (!x.target_active) return;
  x.target_active = false;
  const Target& t = *x.target;
  balance::TargetState& s = *t.state;
  const uint64_t now = worker_.loop().now_ms();
  s.active.fetch_sub(1, std::memory_order_relaxed);
  s.requests.fetch_add(1, std::memory_order_relaxed);
  if (t.breaker) {
    if (auto tr = t.breaker->on_result(success, x.target_probe, now)) {
      std::fprintf(stderr, "breaker: upstream %s target %s: %s -> %s\n", x.upstream->name.c_str(),
                   t.key.c_str(), limits::breaker_state_name(tr->from),
                   limits::breaker_state_name(tr->to));
    }
  }
  if (success) {
    s.consecutive_failures.store(0, std::memory_order_relaxed);
    return;
  }
  s.failures.fetch_add(1, std::memory_order_relaxed);
  uint32_t failures = s.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  const config::OutlierConfig& o = x.upstream->outlier;
  if (!o.enabled || failures < o.consecutive_failures || s.ejected(now)) return;
  // Passive health: eject, unless that would eject more than the allowed share.
  size_t ejected = 0;
  for (const Target& other : x.upstream->targets) {
    if (other.state->ejected(now)) ++ejected;
  }
  if ((ejected + 1) * 100 >
      static_cast<size_t>(o.max_ejection_percent) * x.upstream->targets.size()) {
    return;
  }
  uint32_t n = s.ejections.fetch_add(1, std::memory_order_relaxed) + 1;
  uint64_t ms = limits::ejection_ms(n, o.base_ejection_ms, o.max_ejection_ms);
  s.ejected_until_ms.store(now + ms, std::memory_order_relaxed);
  s.consecutive_failures.store(0, std::memory_order_relaxed);
  std::fprintf(stderr,
               "outlier: upstream %s target %s ejected for %llu ms (%u consecutive failures, "
               "ejection %u)\n",
               x.upstream->name.c_str(), t.key.c_str(), static_cast<unsigned long long>(ms),
               failures, n);
}

bool ClientConnection::may_retry(UpstreamFailure kind, int status) {
  Exchange& x = *exchange_;
  const config::RetryConfig& rc = x.route->retry;
  if (x.response_started || x.tries >= rc.attempts) return false;
  const uint64_t now = worker_.loop().now_ms();
  if (x.deadline_ms != 0 && now >= x.deadline_ms) return false;
  const bool unsent = status == 0 && (kind == UpstreamFailure::kConnect ||
                                      kind == UpstreamFailure::kConnectTimeout);
  bool wanted = false;
  if (status != 0) {
    wanted =
        std::find(rc.on_statuses.begin(), rc.on_statuses.end(), status) != rc.on_statuses.end();
  } else if (unsent) {
    wanted = rc.on_connect_failure;
  } else if (kind == UpstreamFailure::kTimeout) {
    wanted = rc.on_timeout;
  } else if (kind == UpstreamFailure::kReset) {
    wanted = rc.on_reset;
  }
  if (!wanted) return false;
  // Safe only if the upstream cannot have acted on it: nothing reached it, or an idempotent
  // request without a body (a streamed body is gone).
  if (!unsent && (!http::is_idempotent(x.method) || x.has_body)) return false;
  UpstreamRuntime& rt = *x.upstream->runtime;
  if (!x.retrying) {
    if (!rt.retry_budget.try_start_retry()) return false;
    x.retrying = true;
  }
  rt.retries.fetch_add(1, std::memory_order_relaxed);
  uint64_t backoff =
      limits::backoff_ms(x.tries, rc.backoff_base_ms, rc.backoff_max_ms,
                         static_cast<uint64_t>(x.request_id[0]) * 0x9e3779b97f4a7c15ULL + now);
  if (x.deadline_ms != 0) backoff = std::min(backoff, x.deadline_ms - now);
  worker_.loop().timers().schedule(retry_timer_, now + backoff);
  return true;
}

void ClientConnection::on_retry_timer() {
  if (closed_ || !exchange_) return;
  if (try_upstream()) drive();
}

void ClientConnection::settle_exchange() {
  Exchange& x = *exchange_;
  worker_.loop().timers().cancel(retry_timer_);
  // on_log
  if (x.final_status != 0 && x.snapshot->config.metrics.enabled) {
    worker_.metrics()
        .route(x.route != nullptr ? x.route->metric_slot : 0)
        .record(x.method, x.final_status, worker_.loop().clock().now_us() - x.start_us,
                x.upstream_us);
  }
  if (x.rate.waiting) {
    x.rate.quota->cancel(this);
    x.rate.waiting = false;
  }
  if (x.trace.on) finish_trace();
  if (!x.snapshot->sinks.access_logs.empty()) write_access_log();
  if (x.target_active) {
    // The try never got a verdict (the client left): free what it held.
    x.target->state->active.fetch_sub(1, std::memory_order_relaxed);
    if (x.target_probe) x.target->breaker->cancel_probe();
    x.target_active = false;
  }
  if (!x.counted) return;
  UpstreamRuntime& rt = *x.upstream->runtime;
  rt.active_requests.fetch_sub(1, std::memory_order_relaxed);
  rt.retry_budget.request_finished();
  if (x.retrying) rt.retry_budget.retry_finished();
  if (!rt.breaker) return;
  if (x.final_status == 0) {
    if (x.breaker_probe) rt.breaker->cancel_probe();  // the client left: no verdict
    return;
  }
  bool success = x.final_status < 500 && !x.upstream_failed;
  if (auto tr = rt.breaker->on_result(success, x.breaker_probe, worker_.loop().now_ms())) {
    std::fprintf(stderr, "breaker: upstream %s: %s -> %s\n", x.upstream->name.c_str(),
                 limits::breaker_state_name(tr->from), limits::breaker_state_name(tr->to));
  }
}

void ClientConnection::start_trace(const http::RequestHead& head) {
  Exchange::Trace& t = exchange_->trace;
  const config::TracingConfig& tc = exchange_->snapshot->config.tracing;
  observe::IdGenerator& ids = worker_.ids();
  t.on = true;
  observe::TraceContext ctx{};
  const http::Header* tp = http::find_header(head.headers, "traceparent");
  if (tp != nullptr && observe::parse_traceparent(tp->value, &ctx)) {
    // Continue the caller's trace; its sampling decision stands unless told otherwise.
    std::memcpy(t.trace_id, ctx.trace_id, sizeof(t.trace_id));
    std::memcpy(t.parent_id, ctx.parent_id, sizeof(t.parent_id));
    t.has_parent = true;
    t.sampled = tc.respect_parent ? (ctx.flags & observe::kTraceFlagSampled) != 0
                                  : ids.uniform() < tc.sample_ratio;
  } else {
    ids.trace_id(t.trace_id);
    t.sampled = tc.sample_ratio > 0 && ids.uniform() < tc.sample_ratio;
  }
  ids.span_id(t.span_id);
}

void ClientConnection::begin_try_span() {
  Exchange& x = *exchange_;
  Exchange::Trace& t = x.trace;
  uint8_t span_id[8];
  worker_.ids().span_id(span_id);
  if (t.try_count < Exchange::Trace::kMaxTries) {
    Exchange::Trace::Try& tr = t.tries[t.try_count++];
    std::memcpy(tr.span_id, span_id, sizeof(span_id));
    tr.start_us = worker_.loop().clock().now_us();
    tr.end_us = 0;
    tr.target = x.target;
    tr.status = 0;
    tr.error_type = nullptr;
  }
  // The upstream's parent is this try's client span: rewrite the span-id field of the
  // traceparent value ("00-<32 hex>-<16 hex>-01") in the head, and in a replayed copy of it.
  constexpr size_t kSpanAt = 36;
  if (t.header_at == std::string::npos) return;
  observe::to_hex(span_id, sizeof(span_id), x.upstream_head.data() + t.header_at + kSpanAt);
  if (carried_.size() >= t.header_at + observe::kTraceparentSize) {
    observe::to_hex(span_id, sizeof(span_id), carried_.data() + t.header_at + kSpanAt);
  }
}

void ClientConnection::end_try_span(int status, const char* error_type) {
  Exchange::Trace& t = exchange_->trace;
  if (t.try_count == 0) return;
  Exchange::Trace::Try& tr = t.tries[t.try_count - 1];
  if (tr.end_us != 0) return;
  tr.end_us = worker_.loop().clock().now_us();
  tr.status = status;
  tr.error_type = error_type;
}

void ClientConnection::finish_trace() {
  Exchange& x = *exchange_;
  Exchange::Trace& t = x.trace;
  const Snapshot& snap = *x.snapshot;
  const bool failed = x.final_status == 0 || x.final_status >= 500;
  if (!t.sampled && !(failed && snap.config.tracing.always_sample_errors)) return;
  observe::SpanRing* ring = snap.sinks.span_rings[static_cast<size_t>(worker_.index())];
  const uint64_t now_us = worker_.loop().clock().now_us();
  auto unix_ns = [&](uint64_t loop_us) { return worker_.to_unix_us(loop_us) * 1000; };
  std::string_view target = x.seen.target;
  std::string_view query;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  char code[8];

  // The server span: the whole exchange as the client saw it.
  observe::Span& s = worker_.span_scratch();
  std::memcpy(s.trace_id, t.trace_id, sizeof(s.trace_id));
  std::memcpy(s.span_id, t.span_id, sizeof(s.span_id));
  if (t.has_parent) {
    std::memcpy(s.parent_span_id, t.parent_id, sizeof(s.parent_span_id));
  } else {
    std::memset(s.parent_span_id, 0, sizeof(s.parent_span_id));
  }
  s.kind = observe::SpanKind::kServer;
  s.start_unix_ns = unix_ns(x.start_us);
  s.end_unix_ns = unix_ns(now_us);
  s.error = failed;
  s.status_code = x.final_status;
  s.method = x.method;
  s.route.assign(x.route != nullptr ? std::string_view(x.route->pattern) : std::string_view());
  s.path.assign(target);
  s.query.assign(query);
  s.host.assign(split_host_port(x.seen.host, &s.port));
  char ip[64];
  s.client_address.assign(peer_ip(ip, sizeof(ip)));
  s.user_agent.assign(x.seen.user_agent);
  if (x.final_status >= 500) {
    auto [end, ec] = std::to_chars(code, code + sizeof(code), x.final_status);
    s.error_type.assign(code, end);
  } else if (x.final_status == 0) {
    s.error_type.assign("incomplete");
  } else {
    s.error_type.clear();
  }
  s.resend_count = 0;
  s.request_id.assign(x.request_id, x.request_id_len);
  ring->try_push(s);

  // A client span per try, children of the server span.
  std::memcpy(s.parent_span_id, t.span_id, sizeof(s.parent_span_id));
  s.kind = observe::SpanKind::kClient;
  s.route.clear();
  s.client_address.clear();
  s.user_agent.clear();
  for (uint32_t i = 0; i < t.try_count; ++i) {
    const Exchange::Trace::Try& tr = t.tries[i];
    std::memcpy(s.span_id, tr.span_id, sizeof(s.span_id));
    s.start_unix_ns = unix_ns(tr.start_us);
    s.end_unix_ns = unix_ns(tr.end_us != 0 ? tr.end_us : now_us);
    s.status_code = tr.status;
    s.host.assign(split_host_port(tr.target->key, &s.port));
    if (tr.error_type != nullptr) {
      s.error_type.assign(tr.error_type);
    } else if (tr.end_us == 0) {
      s.error_type.assign("cancelled");
    } else if (tr.status >= 500) {
      auto [end, ec] = std::to_chars(code, code + sizeof(code), tr.status);
      s.error_type.assign(code, end);
    } else {
      s.error_type.clear();
    }
    s.error = !s.error_type.empty();
    s.resend_count = i;
    ring->try_push(s);
  }
}

void ClientConnection::write_access_log() {
  Exchange& x = *exchange_;
  const Snapshot& snap = *x.snapshot;
  observe::AccessLogRecord r;
  char trace_id[32];
  char ip[64];
  r.time_unix_us = worker_.to_unix_us(x.start_us);
  r.request_id = std::string_view(x.request_id, x.request_id_len);
  if (x.trace.on) {
    observe::to_hex(x.trace.trace_id, sizeof(x.trace.trace_id), trace_id);
    r.trace_id = std::string_view(trace_id, sizeof(trace_id));
  }
  r.client_address = peer_ip(ip, sizeof(ip));
  r.method = x.seen.method;
  r.host = x.seen.host;
  r.path = x.seen.target;
  if (x.route != nullptr) r.route = x.route->name;
  if (x.upstream != nullptr) r.upstream = x.upstream->name;
  if (x.target != nullptr) r.target = x.target->key;
  r.protocol = x.client_http10 ? "HTTP/1.0" : "HTTP/1.1";
  r.status = x.final_status;
  r.bytes_in = x.request_body_bytes;
  r.bytes_out = x.response_bytes;
  r.duration_us = worker_.loop().clock().now_us() - x.start_us;
  if (x.tries > 0) {
    r.upstream_connect_us = x.upstream_connect_us;
    if (x.upstream_us != 0) r.upstream_response_us = static_cast<int64_t>(x.upstream_us);
  }
  r.tries = x.tries;
  r.user_agent = x.seen.user_agent;
  r.referer = x.seen.referer;
  if (x.error != nullptr) r.error = x.error;
  std::string& line = worker_.log_scratch();
  line.clear();
  snap.access_log_format->format(r, line);
  snap.sinks.access_logs[static_cast<size_t>(worker_.index())]->append(line);
}

bool ClientConnection::forward_request_body() {
  Exchange& x = *exchange_;
  UpstreamConnection* up = x.discard_body ? nullptr : x.upstream_conn;
  if (up == nullptr && !x.discard_body) return false;
  bool progressed = false;
  core::BufferPool& pool = worker_.pool();
  if (x.request_body == http::BodyKind::kContentLength) {
    while (x.request_remaining > 0 && !in_.empty()) {
      if (up != nullptr && up->out().size() >= kHighWater) break;
      size_t n = static_cast<size_t>(std::min<uint64_t>(x.request_remaining, in_.size()));
      if (up != nullptr) {
        n = std::min(n, kHighWater);
        up->out().append(pool, std::string_view(in_.data(), n));
      }
      in_.consume(n);
      x.request_remaining -= n;
      x.request_body_bytes += n;
      progressed = true;
    }
    if (x.request_remaining == 0) x.request_done = true;
  } else if (x.request_body == http::BodyKind::kChunked) {
    const uint64_t limit = x.route != nullptr ? x.route->max_body_bytes : 0;
    while (!in_.empty() && !x.request_done) {
      if (up != nullptr && up->out().size() >= kHighWater) break;
      size_t used = 0;
      std::string_view data;
      http::ChunkedDecoder::Status st = x.request_chunked.decode(in_.view(), &used, &data);
      if (st == http::ChunkedDecoder::Status::kError) {
        in_.consume(used);
        abort_upstream();
        send_error(400, x.request_chunked.error_reason(), true);
        return false;
      }
      if (st == http::ChunkedDecoder::Status::kData) {
        x.request_body_bytes += data.size();
        if (limit != 0 && x.request_body_bytes > limit) {
          abort_upstream();
          send_error(413, "request body too large", true);
          return false;
        }
        if (up != nullptr) append_chunk(up->out(), pool, data);
      } else if (st == http::ChunkedDecoder::Status::kDone) {
        if (up != nullptr) up->out().append(pool, "0\r\n\r\n");
        x.request_done = true;
      }
      in_.consume(used);
      progressed = progressed || used > 0;
      if (st == http::ChunkedDecoder::Status::kNeedMore) break;
    }
  }
  if (progressed) {
    if (x.request_done) {
      worker_.loop().timers().cancel(*this);
    } else {
      arm(TimerMode::kBody, x.snapshot->config.timeouts.client_body_ms);
    }
  }
  if (up != nullptr && progressed) {
    up->arm_response_timer();  // a long upload is not a slow upstream
    up->flush();
  }
  return progressed;
}

bool ClientConnection::pump_response() {
  Exchange& x = *exchange_;
  UpstreamConnection* up = x.upstream_conn;
  if (up == nullptr || x.response_done) return false;
  core::BufferPool& pool = worker_.pool();
  // Response bytes queued for the client, for the access log.
  auto emit = [&](std::string_view data) {
    out_.append(pool, data);
    x.response_bytes += data.size();
  };
  auto emit_chunk = [&](std::string_view data) {
    x.response_bytes += append_chunk(out_, pool, data);
  };
  bool progressed = false;
  while (!x.response_started) {
    if (up->in().empty()) {
      if (up->eof()) {
        on_upstream_failed(UpstreamFailure::kReset,
                           "upstream closed the connection before responding");
        return true;
      }
      return progressed;
    }
    http::ResponseHead& head = worker_.response_head();
    http::ParseStatus st = x.response_parser.parse(up->in().view(), x.method, head);
    if (st == http::ParseStatus::kIncomplete) {
      if (up->eof()) {
        on_upstream_failed(UpstreamFailure::kReset, "upstream closed the connection mid-response");
        return true;
      }
      if (up->in().size() >= kHighWater) {
        on_upstream_failed(UpstreamFailure::kProtocol, "upstream response head too large");
        return true;
      }
      return progressed;
    }
    if (st == http::ParseStatus::kError) {
      on_upstream_failed(UpstreamFailure::kProtocol, "invalid response from upstream");
      return true;
    }
    size_t head_len = x.response_parser.head_length();
    if (head.status < 200) {
      // Interim responses (103 Early Hints, a stray 100) are dropped: the client gets the final
      // one.
      if (head.status == 101) {
        on_upstream_failed(UpstreamFailure::kProtocol, "upstream switched protocols");
        return true;
      }
      up->in().consume(head_len);
      x.response_parser.reset();
      progressed = true;
      continue;
    }
    // on_response_headers: the try's verdict, and a retry for the statuses the route lists.
    x.upstream_us = worker_.loop().clock().now_us() - x.upstream_sent_us;
    x.upstream_connect_us = up->connected_at_us() > x.upstream_sent_us
                                ? static_cast<int64_t>(up->connected_at_us() - x.upstream_sent_us)
                                : 0;
    if (x.trace.on) end_try_span(head.status, nullptr);
    report_try(head.status < 500);
    if (may_retry(UpstreamFailure::kProtocol, head.status)) {
      abort_upstream();
      return true;
    }
    ResponseFraming framing = ResponseFraming::kAsIs;
    bool close = !x.client_keep_alive || worker_.draining() || !x.request_done;
    x.response_in = head.body;
    switch (head.body) {
      case http::BodyKind::kNone:
        break;
      case http::BodyKind::kContentLength:
        framing = ResponseFraming::kContentLength;
        x.response_remaining = head.content_length;
        break;
      case http::BodyKind::kChunked:
      case http::BodyKind::kUntilClose:
        if (x.client_http10) {
          framing = ResponseFraming::kClose;
          close = true;
        } else {
          framing = ResponseFraming::kChunked;
        }
        break;
    }
    x.response_out =
        framing == ResponseFraming::kChunked ? Exchange::Out::kChunked : Exchange::Out::kRaw;
    if (close) x.client_keep_alive = false;
    std::string& rendered = worker_.head_scratch();
    rendered.clear();
    std::string_view extra;
    if (x.upstream->sticky.enabled && x.sticky_index != x.target_index) {
      std::string& cookie = worker_.path_scratch();
      const config::StickyConfig& sc = x.upstream->sticky;
      cookie = "Set-Cookie: " + sc.cookie + "=" + balance::sign_sticky(x.target->key, sc.secret) +
               "; Path=/; HttpOnly";
      if (sc.max_age_s != 0) cookie += "; Max-Age=" + std::to_string(sc.max_age_s);
      cookie += "\r\n";
      extra = cookie;
    }
    if (x.rate.have) {
      std::string& extra_headers = worker_.path_scratch();
      if (extra.empty()) extra_headers.clear();
      append_rate_headers(extra_headers);
      extra = extra_headers;
    }
    const RouteSecurity* sec = route_security(x);
    if (!x.response_extra.empty()) {
      std::string& extra_headers = worker_.path_scratch();
      if (extra.empty()) extra_headers.clear();
      extra_headers.append(x.response_extra);
      extra = extra_headers;
    }
    x.final_status = head.status;
    render_client_response(head, std::string_view(x.request_id, x.request_id_len), framing, close,
                           x.client_http10 && !close, extra, rendered,
                           sec != nullptr && sec->headers ? &*sec->headers : nullptr,
                           sec != nullptr && sec->cors.has_value());
    emit(rendered);
    up->in().consume(head_len);
    x.response_started = true;
    progressed = true;
    if (head.body == http::BodyKind::kNone ||
        (head.body == http::BodyKind::kContentLength && head.content_length == 0)) {
      x.response_done = true;
    }
  }
  // on_response_body
  while (!x.response_done) {
    if (out_.size() >= kHighWater) break;
    core::Buffer& src = up->in();
    if (x.response_in == http::BodyKind::kContentLength) {
      if (src.empty()) break;
      size_t n = static_cast<size_t>(std::min<uint64_t>(x.response_remaining, src.size()));
      n = std::min(n, kHighWater);
      emit(std::string_view(src.data(), n));
      src.consume(n);
      x.response_remaining -= n;
      progressed = true;
      if (x.response_remaining == 0) x.response_done = true;
    } else if (x.response_in == http::BodyKind::kChunked) {
      if (src.empty()) break;
      size_t used = 0;
      std::string_view data;
      http::ChunkedDecoder::Status st = x.response_chunked.decode(src.view(), &used, &data);
      if (st == http::ChunkedDecoder::Status::kError) {
        on_upstream_failed(UpstreamFailure::kProtocol, "invalid chunked body from upstream");
        return true;
      }
      if (st == http::ChunkedDecoder::Status::kData) {
        if (x.response_out == Exchange::Out::kChunked) {
          emit_chunk(data);
        } else {
          emit(data);
        }
      } else if (st == http::ChunkedDecoder::Status::kDone) {
        if (x.response_out == Exchange::Out::kChunked) emit("0\r\n\r\n");
        x.response_done = true;
      }
      src.consume(used);
      progressed = true;
      if (st == http::ChunkedDecoder::Status::kNeedMore) break;
    } else {  // until close
      if (!src.empty()) {
        size_t n = std::min(src.size(), kHighWater);
        if (x.response_out == Exchange::Out::kChunked) {
          emit_chunk(std::string_view(src.data(), n));
        } else {
          emit(std::string_view(src.data(), n));
        }
        src.consume(n);
        progressed = true;
        continue;
      }
      if (up->eof()) {
        if (x.response_out == Exchange::Out::kChunked) emit("0\r\n\r\n");
        x.response_done = true;
        progressed = true;
      }
      break;
    }
  }
  if (!x.response_done && up->eof() && up->in().empty() &&
      x.response_in != http::BodyKind::kUntilClose) {
    on_upstream_failed(UpstreamFailure::kReset, "upstream closed the connection mid-body");
    return true;
  }
  if (x.response_done) {
    // on_log would run here. The upstream connection is reused only after a clean, complete
    // exchange.
    x.upstream_conn = nullptr;
    up->detach();
    bool reusable = x.request_done && x.response_in != http::BodyKind::kUntilClose &&
                    up->in().empty() && !up->eof() && !up->failed() &&
                    worker_.response_head().keep_alive;
    if (reusable) {
      worker_.release_upstream(up, *x.upstream);
    } else {
      up->close_now();
    }
  } else if (progressed) {
    up->arm_response_timer();
  }
  if (progressed) up->resume_reading();
  return progressed;
}

void ClientConnection::finish_exchange() {
  const bool keep = exchange_->client_keep_alive && !worker_.draining();
  const uint64_t idle_ms = exchange_->snapshot->config.timeouts.idle_ms;
  end_exchange();
  // The next request is parsed with the limits of the config in force now.
  parser_ = http::RequestParser(worker_.snapshot()->limits);
  if (!keep) {
    close_after_flush_ = true;
    return;
  }
  if (in_.empty()) {
    arm(TimerMode::kIdle, idle_ms);
  } else {
    arm(TimerMode::kHeader, worker_.snapshot()->config.timeouts.client_header_ms);
  }
}

void ClientConnection::end_exchange() {
  settle_exchange();
  worker_.recycle_exchange(std::move(exchange_));
  worker_.exchange_finished();
}

bool ClientConnection::flush() {
  if (closed_) return false;
  bool sent = false;
  if (writable_ && !out_.empty()) {
    core::WriteOutcome w =
        tls_ ? tls_->write_from(out_, worker_.pool()) : core::write_from(fd_, out_, worker_.pool());
    if (w.error) {
      close_now();  // the client is gone
      return false;
    }
    if (w.blocked) writable_ = false;
    sent = w.bytes > 0;
    worker_.metrics().bytes_out.fetch_add(w.bytes, std::memory_order_relaxed);
  }
  if (out_.empty()) {
    out_.release(worker_.pool());
    if (close_after_flush_) {
      if (tls_) tls_->shutdown();
      ::shutdown(fd_, SHUT_WR);
      close_now();
      return false;
    }
  }
  // Back-pressure: the response side resumes once the client has taken the bytes.
  if (sent && exchange_ && exchange_->upstream_conn && out_.size() < kHighWater) {
    exchange_->upstream_conn->resume_reading();
  }
  return sent;
}

void ClientConnection::append_common_headers(std::string& out, bool close_after) {
  out.append("date: ");
  out.append(worker_.loop().clock().http_date());
  out.append("\r\nx-request-id: ");
  if (exchange_) {
    out.append(exchange_->request_id, exchange_->request_id_len);
  } else {
    worker_.make_request_id(refusal_id_);  // logged by log_refusal()
    out.append(refusal_id_, sizeof(refusal_id_));
  }
  out.append("\r\n");
  if (close_after) out.append("connection: close\r\n");
}

void ClientConnection::send_local(std::string_view head_prefix, std::string_view body,
                                  bool close_after) {
  if (exchange_ && (!exchange_->client_keep_alive || worker_.draining())) close_after = true;
  std::string& head = worker_.head_scratch();
  head.assign(head_prefix);
  if (exchange_ && (exchange_->rate.have || exchange_->rate.retry_after_s != 0)) {
    append_rate_headers(head);
  }
  if (exchange_) head.append(exchange_->response_extra);
  append_common_headers(head, close_after);
  if (!close_after && exchange_ && exchange_->client_http10)
    head.append("connection: keep-alive\r\n");
  head.append("\r\n");
  out_.append(worker_.pool(), head);
  out_.append(worker_.pool(), body);
  if (exchange_) {
    exchange_->response_bytes += head.size() + body.size();
    exchange_->response_started = true;
    exchange_->response_done = true;
    if (close_after) exchange_->client_keep_alive = false;
  }
  if (close_after) {
    if (exchange_) {
      end_exchange();
    }
    close_after_flush_ = true;
    worker_.loop().timers().cancel(*this);
  }
}

void ClientConnection::send_error(int status, const char* reason, bool close_after,
                                  uint16_t allow) {
  const bool before_exchange = exchange_ == nullptr;
  if (exchange_) {
    exchange_->final_status = status;
    exchange_->error = reason;
  } else {
    worker_.metrics().refuse(status);
  }
  std::string body = error_body(status, reason);
  std::string prefix = "HTTP/1.1 " + std::to_string(status) + " ";
  prefix += http::reason_phrase(status);
  prefix += "\r\ncontent-type: application/json\r\ncontent-length: ";
  prefix += std::to_string(body.size());
  prefix += "\r\n";
  if (allow != 0) {
    prefix += "allow: ";
    prefix += router::allow_header_value(allow);
    prefix += "\r\n";
  }
  bool head_only = exchange_ && exchange_->method == http::Method::kHead;
  send_local(prefix, head_only ? std::string_view() : std::string_view(body), close_after);
  if (before_exchange) log_refusal(status, reason);
}

void ClientConnection::log_refusal(int status, const char* reason) {
  const Snapshot& snap = *worker_.snapshot();
  if (snap.sinks.access_logs.empty() || !snap.access_log_format) return;
  // The head did not parse (or never came): only what the connection knows is logged.
  observe::AccessLogRecord r;
  char ip[64];
  r.time_unix_us = worker_.to_unix_us(worker_.loop().clock().now_us());
  r.request_id = std::string_view(refusal_id_, sizeof(refusal_id_));
  r.client_address = peer_ip(ip, sizeof(ip));
  r.protocol = "HTTP/1.1";
  r.status = status;
  r.error = reason != nullptr ? reason : "";
  std::string& line = worker_.log_scratch();
  line.clear();
  snap.access_log_format->format(r, line);
  snap.sinks.access_logs[static_cast<size_t>(worker_.index())]->append(line);
}

void ClientConnection::on_upstream_readable() {
  drive();
}

void ClientConnection::on_upstream_writable() {
  drive();
}

void ClientConnection::on_upstream_failed(UpstreamFailure kind, const char* reason) {
  if (!exchange_) return;
  Exchange& x = *exchange_;
  UpstreamConnection* up = x.upstream_conn;
  // A pooled connection the upstream closed just as we reused it: once more on a fresh one
  // (not counted as a try) when nothing of the response arrived and nothing is lost by it.
  bool stale = kind == UpstreamFailure::kReset && x.upstream_reused && !x.stale_retried &&
               !x.response_started && up != nullptr && up->in().empty() && !x.has_body;
  bool unsent = (kind == UpstreamFailure::kConnect || kind == UpstreamFailure::kConnectTimeout) &&
                up != nullptr && !x.response_started;
  if (unsent) {
    carried_.assign(up->out().view());  // the upstream saw none of it: replay it all
  } else {
    carried_.clear();
  }
  if (x.trace.on) end_try_span(0, failure_type(kind));
  abort_upstream();
  if (stale) {
    x.stale_retried = true;
    --x.tries;
    if (x.target_index >= 0 && x.target_index < 64)
      x.tried_mask &= ~(uint64_t{1} << x.target_index);
    if (x.target_active) {
      x.target->state->active.fetch_sub(1, std::memory_order_relaxed);
      if (x.target_probe) x.target->breaker->cancel_probe();
      x.target_active = false;
    }
    if (try_upstream()) drive();
    return;
  }
  report_try(false);
  x.upstream_failed = true;
  UpstreamRuntime& rt = *x.upstream->runtime;
  if (kind == UpstreamFailure::kConnect || kind == UpstreamFailure::kConnectTimeout) {
    rt.connect_failures.fetch_add(1, std::memory_order_relaxed);
  } else if (kind == UpstreamFailure::kTimeout) {
    rt.timeouts.fetch_add(1, std::memory_order_relaxed);
  }
  if (x.response_started) {
    // Never complete a body falsely: what arrived is delivered, then the connection closes
    // short of the declared length (or without the last chunk).
    end_exchange();
    close_after_flush_ = true;
    worker_.loop().timers().cancel(*this);
    flush();
    return;
  }
  if (may_retry(kind, 0)) {
    x.upstream_failed = false;
    return;
  }
  int status = kind == UpstreamFailure::kConnectTimeout ? 503
               : kind == UpstreamFailure::kTimeout      ? 504
                                                        : 502;
  if (x.deadline_ms != 0 && worker_.loop().now_ms() >= x.deadline_ms) {
    status = 504;
    reason = "route timeout";
  }
  send_error(status, reason, !x.request_done);
  drive();
}

void ClientConnection::abort_upstream() {
  if (!exchange_ || exchange_->upstream_conn == nullptr) return;
  UpstreamConnection* up = exchange_->upstream_conn;
  exchange_->upstream_conn = nullptr;
  up->detach();
  up->close_now();
}

void ClientConnection::on_timer() {
  if (closed_) return;
  switch (timer_mode_) {
    case TimerMode::kIdle:
      close_now();
      return;
    case TimerMode::kHeader:
      if (in_.empty() && !exchange_) {
        close_now();
      } else {
        send_error(408, "request header timeout", true);
        flush();
      }
      return;
    case TimerMode::kBody:
      if (exchange_ && !exchange_->response_started) {
        abort_upstream();
        send_error(408, "request body timeout", true);
        flush();
      } else {
        abort_upstream();
        close_now();
      }
      return;
  }
}

void ClientConnection::drain_notice() {
  if (idle() && out_.empty()) {
    // Nothing in flight: keep the socket so a request racing the drain still gets an answer.
    arm(TimerMode::kIdle, worker_.snapshot()->config.timeouts.drain_ms);
  }
}

void ClientConnection::close_now() {
  if (closed_) return;
  closed_ = true;
  if (exchange_) {
    abort_upstream();
    end_exchange();
  }
  worker_.metrics().connections_active.fetch_sub(1, std::memory_order_relaxed);
  worker_.loop().timers().cancel(*this);
  worker_.loop().unpost(this);
  worker_.loop().remove(fd_);
  if (tls_) tls_->shutdown();
  ::close(fd_);
  fd_ = -1;
  in_.release(worker_.pool());
  out_.release(worker_.pool());
  worker_.client_closed(this);
  worker_.loop().destroy_later(std::unique_ptr<core::Deferred>(this));
}

}  // namespace sluice::proxy
