#include "auth/jwks_fetcher.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "http/chunked.h"
#include "net/http_url.h"

namespace sluice::auth {

namespace {

// A short tick notices request_refresh() from workers without a cross-thread wake-up.
constexpr uint64_t kTickMs = 100;
constexpr uint64_t kLogEveryMs = 10000;
constexpr size_t kMaxHeadBytes = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (http::ascii_lower(a[i]) != http::ascii_lower(b[i])) return false;
  }
  return true;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// The max-age of a Cache-Control value in ms, or 0 when it has none.
uint64_t max_age_ms(std::string_view value) {
  size_t pos = 0;
  while (pos < value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view d = value.substr(pos, comma - pos);
    while (!d.empty() && (d.front() == ' ' || d.front() == '\t')) d.remove_prefix(1);
    while (!d.empty() && (d.back() == ' ' || d.back() == '\t')) d.remove_suffix(1);
    if (iequals_prefix(d, "max-age=")) {
      std::string_view n = d.substr(8);
      if (!n.empty() && n.front() == '"' && n.back() == '"' && n.size() >= 2) {
        n = n.substr(1, n.size() - 2);
      }
      uint64_t s = 0;
      auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), s);
      if (ec == std::errc() && end == n.data() + n.size() && s < UINT64_MAX / 1000) return s * 1000;
      return 0;
    }
    pos = comma + 1;
  }
  return 0;
}

}  // namespace

bool parse_jwks_url(std::string_view url, std::string* host, uint16_t* port, std::string* path,
                    std::string* error, bool* https) {
  net::HttpUrl u;
  if (!net::parse_http_url(url, "JWKS URL", 80, &u, error, true)) return false;
  if (https != nullptr) *https = u.https;
  *host = std::move(u.host);
  *port = u.port;
  *path = u.path.empty() ? std::string("/") : std::move(u.path);
  return true;
}

JwksFetcher::JwksFetcher(core::EventLoop& loop, JwksFetcherOptions options)
    : loop_(loop), options_(std::move(options)), keys_(std::make_shared<const KeySet>()) {
  generation_.store(keys_->generation(), std::memory_order_release);
}

JwksFetcher::~JwksFetcher() {
  close_connection();
}

bool JwksFetcher::start(std::string* error) {
  if (!parse_jwks_url(options_.url, &host_, &port_, &path_, error, &https_)) return false;
  if (https_) {
    net::TlsClientOptions o;
    o.ca_file = options_.ca_file;
    std::vector<net::TlsError> errors;
    tls_context_ = net::TlsClientContext::create(o, &errors);
    if (!tls_context_) {
      *error = errors.empty() ? std::string("cannot set up TLS") : errors[0].message;
      return false;
    }
  }
  if (!net::resolve_address(host_, port_, &address_, error)) return false;
  started_ = true;
  next_fetch_ms_ = loop_.now_ms();
  loop_.timers().schedule(tick_timer_, loop_.now_ms());
  return true;
}

std::shared_ptr<const KeySet> JwksFetcher::keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_;
}

void JwksFetcher::request_refresh() {
  refreshes_requested_.fetch_add(1, std::memory_order_relaxed);
  refresh_pending_.store(true, std::memory_order_relaxed);
}

void JwksFetcher::on_tick() {
  loop_.timers().schedule(tick_timer_, loop_.now_ms() + kTickMs);
  if (phase_ != Phase::kIdle) return;
  uint64_t now = loop_.now_ms();
  bool due = now >= next_fetch_ms_;
  bool requested =
      refresh_pending_.load(std::memory_order_relaxed) &&
      (!fetched_once_ || now >= last_fetch_start_ms_ + options_.min_refresh_interval_ms);
  if (due || requested) start_fetch();
}

void JwksFetcher::start_fetch() {
  // Every fetch answers the requests made before it; later ones wait for the next.
  refresh_pending_.store(false, std::memory_order_relaxed);
  fetched_once_ = true;
  last_fetch_start_ms_ = loop_.now_ms();
  if (resolve_next_) {
    // After a failure the host may have moved. Blocking, but only once per failed fetch.
    std::string err;
    net::SocketAddress a;
    if (net::resolve_address(host_, port_, &a, &err)) address_ = a;
    resolve_next_ = false;
  }
  request_.clear();
  request_.append("GET ").append(path_).append(" HTTP/1.1\r\nHost: ").append(host_);
  if (port_ != (https_ ? 443 : 80)) request_.append(":").append(std::to_string(port_));
  request_.append(
      "\r\nUser-Agent: sluice-jwks\r\nAccept: application/json, application/jwk-set+json\r\n"
      "Connection: close\r\n\r\n");
  out_.release(pool_);
  out_.append(pool_, request_);
  in_.clear();
  loop_.timers().schedule(deadline_timer_,
                          loop_.now_ms() + std::max<uint64_t>(options_.timeout_ms, 1));
  int err = 0;
  int fd = net::connect_tcp(address_, &err);
  if (fd < 0) return fail(std::string("connect: ") + std::strerror(err));
  conn_ = std::make_unique<Connection>(this, fd);
  if (!loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, conn_.get())) {
    err = errno;
    close_connection();
    return fail(std::string("epoll: ") + std::strerror(err));
  }
  phase_ = Phase::kConnecting;
}

void JwksFetcher::on_io(uint32_t events) {
  if (conn_ == nullptr || phase_ == Phase::kIdle) return;
  int fd = conn_->fd();
  if (phase_ == Phase::kConnecting) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      close_connection();
      return fail(std::string("connect: ") + std::strerror(err));
    }
    phase_ = Phase::kWriting;
    if (https_) {
      // SNI and the verified name: the URL's host (an IP literal is checked against IP SANs).
      tls_ = tls_context_->new_stream(fd, host_);
      if (!tls_) {
        close_connection();
        return fail("TLS: out of memory");
      }
    }
  }
  if (phase_ == Phase::kWriting) write_request();
  if (phase_ == Phase::kReading) read_response();
}

void JwksFetcher::fail_tls(const char* during) {
  tls_failures_.fetch_add(1, std::memory_order_relaxed);
  std::string why = std::string("TLS ") + during + " failed";
  if (tls_ != nullptr && !tls_->error_text().empty()) why += ": " + tls_->error_text();
  close_connection();
  fail(why);
}

void JwksFetcher::write_request() {
  // Over TLS the handshake runs with the first write; a blocked write resumes on the next event.
  const core::WriteOutcome w =
      tls_ ? tls_->write_from(out_, pool_) : core::write_from(conn_->fd(), out_, pool_);
  if (w.error && tls_ != nullptr) return fail_tls(tls_->handshake_done() ? "write" : "handshake");
  if (w.error) {
    close_connection();
    return fail("send failed: connection reset");
  }
  if (out_.empty()) phase_ = Phase::kReading;
}

void JwksFetcher::read_response() {
  const size_t limit = options_.max_body_bytes + kMaxHeadBytes;
  while (true) {
    if (in_.size() >= limit) {
      close_connection();
      return fail("response larger than " + std::to_string(options_.max_body_bytes) + " bytes");
    }
    const size_t room = limit - in_.size();
    const core::ReadOutcome r = tls_ ? tls_->read_into(read_buf_, pool_, room)
                                     : core::read_into(conn_->fd(), read_buf_, pool_, room, false);
    if (r.error && tls_ != nullptr && !tls_->handshake_done()) return fail_tls("handshake");
    in_.append(read_buf_.view());
    read_buf_.consume(read_buf_.size());
    if (r.error) {
      const std::string why = tls_ != nullptr ? "TLS read failed: " + tls_->error_text()
                                              : std::string("read failed: connection reset");
      close_connection();
      return fail(why);
    }
    if (r.eof) {
      if (!try_complete(true)) {
        close_connection();
        fail("connection closed before the whole response");
      }
      return;
    }
    if (try_complete(false) || r.drained || r.bytes == 0) return;
  }
}

bool JwksFetcher::try_complete(bool eof) {
  // The head is parsed again from the start on every call: its views point into in_, which
  // moves when it grows, and a head is small.
  std::string_view all(in_);
  size_t off = 0;
  while (true) {
    parser_.reset();
    head_.clear();
    http::ParseStatus st = parser_.parse(all.substr(off), http::Method::kGet, head_);
    if (st == http::ParseStatus::kError) {
      std::string why = std::string("bad response: ") + head_.error_reason;
      close_connection();
      fail(why);
      return true;
    }
    if (st == http::ParseStatus::kIncomplete) return false;
    if (head_.status >= 100 && head_.status < 200) {
      off += parser_.head_length();  // interim response: the final one follows
      continue;
    }
    break;
  }
  std::string_view body_bytes = all.substr(off + parser_.head_length());
  std::string decoded;
  std::string_view body;
  switch (head_.body) {
    case http::BodyKind::kNone:
      break;
    case http::BodyKind::kContentLength:
      if (head_.content_length > options_.max_body_bytes) {
        close_connection();
        fail("response larger than " + std::to_string(options_.max_body_bytes) + " bytes");
        return true;
      }
      if (body_bytes.size() < head_.content_length) return false;
      body = body_bytes.substr(0, head_.content_length);
      break;
    case http::BodyKind::kChunked: {
      // Decoding from the start each time is quadratic only in the number of reads of a body
      // capped at max_body_bytes; a JWKS is a few KiB.
      http::ChunkedDecoder dec;
      std::string_view rest = body_bytes;
      while (true) {
        size_t used = 0;
        std::string_view data;
        http::ChunkedDecoder::Status st = dec.decode(rest, &used, &data);
        rest.remove_prefix(used);
        if (st == http::ChunkedDecoder::Status::kData) {
          decoded.append(data);
          continue;
        }
        if (st == http::ChunkedDecoder::Status::kDone) break;
        if (st == http::ChunkedDecoder::Status::kError) {
          std::string why = std::string("bad chunked body: ") + dec.error_reason();
          close_connection();
          fail(why);
          return true;
        }
        return false;  // kNeedMore
      }
      body = decoded;
      break;
    }
    case http::BodyKind::kUntilClose:
      if (!eof) return false;
      body = body_bytes;
      break;
  }
  uint64_t age = 0;
  for (const http::Header& h : head_.headers) {
    if (iequals(h.name, "cache-control")) age = std::max(age, max_age_ms(h.value));
  }
  int status = head_.status;
  std::string body_copy(body);
  close_connection();
  if (status != 200) {
    fail("status " + std::to_string(status));
  } else {
    succeed(body_copy, age);
  }
  return true;
}

void JwksFetcher::succeed(std::string_view body, uint64_t age_ms) {
  if (body != last_body_ || fetches_ok_.load(std::memory_order_relaxed) == 0) {
    auto ks = std::make_shared<KeySet>();
    std::string err;
    if (!KeySet::from_jwks(body, ks.get(), &err)) return fail("unusable JWKS: " + err);
    if (!ks->skipped().empty()) {
      std::fprintf(stderr, "jwks: %s: %zu key(s) skipped, first: %s\n", options_.url.c_str(),
                   ks->skipped().size(), ks->skipped().front().c_str());
    }
    last_body_ = std::string(body);
    keys_count_.store(ks->size(), std::memory_order_relaxed);
    uint64_t gen = ks->generation();
    {
      std::lock_guard<std::mutex> lock(mu_);
      keys_ = std::move(ks);
    }
    generation_.store(gen, std::memory_order_release);
  }
  loop_.timers().cancel(deadline_timer_);
  phase_ = Phase::kIdle;
  failures_in_row_ = 0;
  fetches_ok_.fetch_add(1, std::memory_order_relaxed);
  last_success_unix_.store(static_cast<uint64_t>(std::time(nullptr)), std::memory_order_relaxed);
  uint64_t interval = age_ms > 0 ? age_ms : options_.refresh_interval_ms;
  interval =
      std::clamp(interval, options_.min_refresh_interval_ms,
                 std::max(options_.max_refresh_interval_ms, options_.min_refresh_interval_ms));
  next_fetch_ms_ = loop_.now_ms() + interval;
}

void JwksFetcher::fail(const std::string& why) {
  loop_.timers().cancel(deadline_timer_);
  phase_ = Phase::kIdle;
  resolve_next_ = true;
  fetches_failed_.fetch_add(1, std::memory_order_relaxed);
  uint64_t delay = options_.retry_initial_ms;
  for (uint32_t i = 0; i < failures_in_row_ && delay < options_.retry_max_ms; ++i) delay *= 2;
  delay = std::min({delay, options_.retry_max_ms, options_.refresh_interval_ms});
  ++failures_in_row_;
  next_fetch_ms_ = loop_.now_ms() + std::max<uint64_t>(delay, 1);
  log_failure(why);
}

void JwksFetcher::on_deadline() {
  if (phase_ == Phase::kIdle) return;
  close_connection();
  fail("no complete response within " + std::to_string(options_.timeout_ms) + " ms");
}

void JwksFetcher::log_failure(const std::string& why) {
  uint64_t now = loop_.now_ms();
  if (logged_ && now - last_log_ms_ < kLogEveryMs) {
    ++unlogged_failures_;
    return;
  }
  if (unlogged_failures_ > 0) {
    std::fprintf(stderr,
                 "jwks: fetching %s failed: %s (and %llu more failures not logged); keeping the "
                 "last good keys\n",
                 options_.url.c_str(), why.c_str(),
                 static_cast<unsigned long long>(unlogged_failures_));
  } else {
    std::fprintf(stderr, "jwks: fetching %s failed: %s; keeping the last good keys\n",
                 options_.url.c_str(), why.c_str());
  }
  logged_ = true;
  last_log_ms_ = now;
  unlogged_failures_ = 0;
}

void JwksFetcher::close_connection() {
  if (tls_ != nullptr) {
    tls_->shutdown();
    tls_.reset();
  }
  out_.release(pool_);
  read_buf_.release(pool_);
  if (conn_ == nullptr) return;
  conn_->detach(&loop_);
  loop_.destroy_later(std::move(conn_));
}

}  // namespace sluice::auth
