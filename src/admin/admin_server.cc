#include "admin/admin_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <cerrno>
#include <cstdio>

#include "admin/event_stream.h"
#include "balance/balancer.h"
#include "core/clock.h"
#include "http/header.h"
#include "http/request_parser.h"
#include "http/status.h"
#include "limits/circuit_breaker.h"

namespace sluice::admin {
namespace {

// The largest request the admin API reads: a whole config (64 MiB) and its head.
constexpr size_t kMaxRequestBytes = (size_t{64} << 20) + 65536;

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += "\"" + json_escape(items[i]) + "\"";
  }
  return out + "]";
}

// ["FILE:LINE:COL: key: message", …]
std::string json_list(const std::vector<config::ConfigError>& errors) {
  std::vector<std::string> lines;
  lines.reserve(errors.size());
  for (const config::ConfigError& e : errors) lines.push_back(e.to_string());
  return json_list(lines);
}

std::string response(int status, const std::string& content_type, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out += http::reason_phrase(status);
  out += "\r\ncontent-type: " + content_type;
  for (const auto& [name, value] : headers) {
    out += "\r\n";
    out += name;
    out += ": ";
    out += value;
  }
  out +=
      "\r\ncontent-length: " + std::to_string(body.size()) + "\r\nconnection: close\r\n\r\n" + body;
  return out;
}

std::string error_answer(int status, std::string_view message) {
  api::Response r = api::error_response(status, message);
  return response(r.status, r.content_type, r.body);
}

// Constant-time comparison of a presented token with a configured one.
bool same_token(std::string_view presented, const std::string& token) {
  return !token.empty() && presented.size() == token.size() &&
         CRYPTO_memcmp(presented.data(), token.data(), token.size()) == 0;
}

class AdminConnection : public core::IoHandler, public core::Timer, public core::Deferred {
 public:
  AdminConnection(AdminServer& server, int fd) : server_(server), fd_(fd) {
    server_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
    server_.loop().timers().schedule(*this, server_.loop().now_ms() + 10000);
  }
  ~AdminConnection() override {
    if (fd_ >= 0) ::close(fd_);
    server_.connection_closed();
  }
  void on_timer() override { finish(); }
  void on_io(uint32_t /*events*/) override {
    if (done_) return;
    if (!answered_) read_request();
    write_out();
  }

 private:
  void read_request() {
    for (;;) {
      in_.reserve(server_.pool(), 16384);
      ssize_t n = ::read(fd_, in_.write_ptr(), in_.writable());
      if (n > 0) {
        in_.commit(static_cast<size_t>(n));
        if (in_.size() > kMaxRequestBytes) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof_ = true;
      break;
    }
    http::RequestHead head;
    http::ParseStatus st = parser_.parse(in_.view(), head);
    if (st == http::ParseStatus::kIncomplete) {
      if (eof_) finish();
      return;
    }
    if (st == http::ParseStatus::kError) {
      answer(error_answer(400, "malformed request"));
      return;
    }
    if (head.body == http::BodyKind::kChunked) {
      answer(error_answer(411, "send the body with a Content-Length"));
      return;
    }
    if (head.content_length > kMaxRequestBytes - parser_.head_length()) {
      answer(error_answer(413, "the body is larger than 64MiB"));
      return;
    }
    const size_t whole = parser_.head_length() + head.content_length;
    if (in_.size() < whole) {
      if (eof_) {
        finish();
      } else if (head.expect_continue && !continued_) {
        continued_ = true;  // curl waits for this before a large body
        out_ = "HTTP/1.1 100 Continue\r\n\r\n";
      }
      return;
    }
    api::Request req;
    req.method = head.method_text;
    req.path = head.path;
    req.query = head.query;
    for (const http::Header& h : head.headers) {
      if (http::iequals(h.name, "authorization")) req.authorization = h.value;
      if (http::iequals(h.name, "if-match")) req.if_match = h.value;
      if (http::iequals(h.name, "content-type")) req.content_type = h.value;
      if (http::iequals(h.name, "x-sluice-author")) req.author = h.value;
      if (http::iequals(h.name, "last-event-id")) req.last_event_id = h.value;
    }
    req.body = in_.view().substr(parser_.head_length(), head.content_length);
    if (req.path == "/api/v1/events") {
      server_.loop().remove(fd_);
      std::string refused;
      if (server_.open_event_stream(fd_, req, &refused)) {
        fd_ = -1;  // the stream's now
        finish();
        return;
      }
      server_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
      answer(refused);
      return;
    }
    answer(server_.handle(req));
  }
  void answer(const std::string& text) {
    answered_ = true;
    out_ += text;
  }
  void write_out() {
    while (!out_.empty()) {
      ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
      if (n > 0) {
        out_.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      finish();
      return;
    }
    if (answered_ || eof_) finish();
  }
  void finish() {
    if (done_) return;
    done_ = true;
    server_.loop().timers().cancel(*this);
    if (fd_ >= 0) server_.loop().remove(fd_);
    in_.release(server_.pool());
    server_.loop().destroy_later(std::unique_ptr<core::Deferred>(this));
  }

  AdminServer& server_;
  int fd_;
  core::Buffer in_;
  std::string out_;
  http::RequestParser parser_;
  bool answered_ = false;
  bool continued_ = false;
  bool eof_ = false;
  bool done_ = false;
};

}  // namespace

AdminServer::AdminServer(proxy::Gateway& gateway, core::EventLoop& loop)
    : gateway_(gateway), loop_(loop), api_(gateway) {
  loop_.timers().schedule(sampler_, loop_.now_ms());  // the first sample: the window's start
}

AdminServer::~AdminServer() {
  while (!streams_.empty()) streams_.back()->close();
  loop_.unpost(this);
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
  }
}

bool AdminServer::listen(const net::SocketAddress& addr, std::string* err) {
  fd_ = net::listen_tcp(addr, false, 128, err);
  if (fd_ < 0) return false;
  loop_.add(fd_, EPOLLIN, this);
  return true;
}

void AdminServer::adopt(int fd) {
  fd_ = fd;
  loop_.add(fd_, EPOLLIN, this);
  loop_.post(this);  // connections may wait in its backlog already
}

void AdminServer::stop_listening() {
  if (fd_ < 0) return;
  loop_.unpost(this);
  loop_.remove(fd_);
  ::close(fd_);
  fd_ = -1;
}

void AdminServer::on_io(uint32_t /*events*/) {
  if (fd_ < 0) return;
  for (;;) {
    int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if ((errno == EMFILE || errno == ENFILE) && reserve_.release_one()) continue;
      return;
    }
    new AdminConnection(*this, fd);  // owns itself; freed through the loop's graveyard
  }
}

bool AdminServer::open_event_stream(int fd, const api::Request& req, std::string* answer) {
  if (std::optional<std::string> refused = authorize(req)) {
    *answer = *refused;
    return false;
  }
  std::optional<api::Response> r = EventStream::open(*this, gateway_.events(), fd, req);
  if (!r) return true;
  *answer = response(r->status, r->content_type, r->body, r->headers);
  return false;
}

std::string AdminServer::handle(const api::Request& req) {
  const std::string json = "application/json";
  const std::string_view method = req.method;
  const std::string_view path = req.path;
  if (path == "/healthz") {
    if (method != "GET" && method != "HEAD")
      return response(405, json, "{\"error\":\"use GET\"}\n");
    return response(200, "text/plain", "ok\n");
  }
  if (path != "/readyz") {
    if (std::optional<std::string> refused = authorize(req)) return *refused;
  }
  if (path.starts_with("/api/v1/")) {
    api::Response r = api_.handle(req);
    return response(r.status, r.content_type, r.body, r.headers);
  }
  if (path == "/readyz") {
    if (gateway_.draining()) return response(503, "text/plain", "draining\n");
    if (const proxy::EtcdSync* etcd = gateway_.etcd(); etcd != nullptr && !etcd->connected()) {
      // Still serving, with the last good config: the detail says why changes do not arrive.
      return response(
          200, "text/plain",
          "ready; etcd unreachable (" + etcd->last_error() + "): serving the last good config\n");
    }
    return response(200, "text/plain", "ready\n");
  }
  if (path == "/config") {
    std::shared_ptr<const proxy::Snapshot> snap = gateway_.current();
    proxy::ReloadOutcome last = gateway_.last_reload();
    std::string body = "{\"version\":" + std::to_string(snap->version) + ",\"hash\":\"" +
                       snap->config.hash + "\",\"file\":\"" +
                       json_escape(snap->config.source_file) + "\",\"files\":" +
                       json_list(snap->config.source_files.empty()
                                     ? std::vector<std::string>{snap->config.source_file}
                                     : snap->config.source_files) +
                       ",\"workers\":" + std::to_string(gateway_.worker_count()) +
                       ",\"routes\":" + std::to_string(snap->routes.size()) +
                       ",\"upstreams\":" + std::to_string(snap->upstreams.size()) +
                       ",\"last_reload\":{\"ok\":" + (last.ok ? "true" : "false") +
                       ",\"errors\":" + json_list(last.errors) +
                       ",\"warnings\":" + json_list(last.warnings) + "}}\n";
    return response(200, json, body);
  }
  if (path == "/reload") {
    if (method != "POST") return response(405, json, "{\"error\":\"use POST\"}\n");
    proxy::ReloadOutcome r = gateway_.reload("admin");
    std::string body = std::string("{\"ok\":") + (r.ok ? "true" : "false") +
                       ",\"version\":" + std::to_string(r.version) +
                       ",\"errors\":" + json_list(r.errors) +
                       ",\"warnings\":" + json_list(r.warnings) + "}\n";
    return response(r.ok ? 200 : 400, json, body);
  }
  if (path == "/upstreams") return response(200, json, upstreams_json());
  if (path == "/routes") return response(200, json, routes_json());
  if (path == "/stats") return response(200, json, stats_json());
  if (path == "/metrics") {
    return response(200, "text/plain; version=0.0.4; charset=utf-8", metrics_text());
  }
  return response(404, json, "{\"error\":\"not found\"}\n");
}

std::optional<std::string> AdminServer::authorize(const api::Request& req) const {
  std::shared_ptr<const proxy::Snapshot> snap = gateway_.current();
  const config::AdminConfig& admin = snap->config.admin;
  if (admin.token.empty()) return std::nullopt;
  std::string_view presented = req.authorization;
  constexpr std::string_view kBearer = "bearer ";
  if (presented.size() > kBearer.size() &&
      http::iequals(presented.substr(0, kBearer.size()), kBearer)) {
    presented.remove_prefix(kBearer.size());
  } else {
    presented = {};
  }
  if (same_token(presented, admin.token)) return std::nullopt;
  if (same_token(presented, admin.read_only_token)) {
    const bool reads = req.method == "GET" || req.method == "HEAD" ||
                       (req.method == "POST" && req.path == "/api/v1/config/validate");
    if (reads) return std::nullopt;
    return error_answer(403, "the read-only token may not change anything");
  }
  api::Response r = api::error_response(
      401, presented.empty() ? "a bearer token is required" : "the token is not valid");
  return response(r.status, r.content_type, r.body,
                  {{"www-authenticate", "Bearer realm=\"sluice admin\""}});
}

std::string AdminServer::upstreams_json() {
  std::shared_ptr<const proxy::Snapshot> snap = gateway_.current();
  const uint64_t now = core::monotonic_ms();
  std::string out = "{\"upstreams\":[";
  for (size_t u = 0; u < snap->upstreams.size(); ++u) {
    const proxy::Upstream& up = snap->upstreams[u];
    const proxy::UpstreamRuntime& rt = *up.runtime;
    if (u > 0) out += ",";
    out += "{\"name\":\"" + json_escape(up.name) + "\",\"balancer\":\"" +
           std::string(balance::algorithm_name(up.algorithm)) +
           "\",\"panic\":" + (rt.in_panic.load() ? "true" : "false") +
           ",\"active\":" + std::to_string(rt.active_requests.load()) +
           ",\"connections\":" + std::to_string(rt.connections.load()) +
           ",\"pending\":" + std::to_string(rt.pending.load()) +
           ",\"retries\":" + std::to_string(rt.retries.load()) +
           ",\"retry_budget_rejected\":" + std::to_string(rt.retry_budget.rejected()) +
           ",\"rejected\":" + std::to_string(rt.rejected.load()) + ",\"breaker\":";
    if (rt.breaker) {
      out += "{\"state\":\"" + std::string(limits::breaker_state_name(rt.breaker->state(now))) +
             "\",\"opened_total\":" + std::to_string(rt.breaker->opened_total()) + "}";
    } else {
      out += "null";
    }
    out += ",\"targets\":[";
    for (size_t i = 0; i < up.targets.size(); ++i) {
      const proxy::Target& t = up.targets[i];
      const balance::TargetState& s = *t.state;
      const balance::Health h = s.health.load();
      if (i > 0) out += ",";
      out += "{\"address\":\"" + json_escape(t.key) + "\",\"weight\":" + std::to_string(t.weight) +
             ",\"health\":\"" +
             (h == balance::Health::kHealthy     ? "healthy"
              : h == balance::Health::kUnhealthy ? "unhealthy"
                                                 : "unknown") +
             "\",\"ejected\":" + (s.ejected(now) ? "true" : "false") +
             ",\"ejections\":" + std::to_string(s.ejections.load()) +
             ",\"active\":" + std::to_string(s.active.load()) +
             ",\"connections\":" + std::to_string(s.connections.load()) +
             ",\"requests\":" + std::to_string(s.requests.load()) +
             ",\"failures\":" + std::to_string(s.failures.load()) + ",\"breaker\":";
      if (t.breaker) {
        out += "\"" + std::string(limits::breaker_state_name(t.breaker->state(now))) + "\"";
      } else {
        out += "null";
      }
      out += ",\"addresses\":[";
      for (size_t a = 0; a < t.address_keys.size(); ++a) {
        if (a > 0) out += ",";
        out += "\"" + json_escape(t.address_keys[a]) + "\"";
      }
      out += "]}";
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace sluice::admin
