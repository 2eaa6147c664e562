// What a filter sees of one exchange: the parsed request head with the edits made so far, the
// route and its path parameters, the client, the request id, the identity (consumer, JWT
// claims), the response head on the way back, whole bodies when a filter buffers them, and the
// means to answer or to resume after a pause. It is protocol-neutral: an HTTP/1 connection fills
// it today, an HTTP/2 stream tomorrow. It lives in the recycled exchange, so its strings keep
// their capacity and a request through a chain without body filters allocates nothing.
// Example:
//   Status on_request_headers(Context& ctx) const override {
//     if (ctx.request_header("x-block").empty()) return Status::kContinue;
//     ctx.respond(403, R"({"error":"blocked"})");
//     return Status::kRespond;
//   }
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "auth/cidr.h"
#include "auth/jwt.h"
#include "http/header.h"
#include "http/request_parser.h"
#include "router/router.h"

namespace sluice::filter {
class Services;
}  // namespace sluice::filter

namespace sluice::filter {

// Implemented by whoever drives the exchange (the HTTP/1 connection): resumes a paused chain.
class Driver {
 public:
  virtual void resume_chain() = 0;
  // Resumes the chain after `ms` (a filter's own delay, e.g. a mock's).
  virtual void resume_chain_after(uint64_t ms) = 0;

 protected:
  ~Driver() = default;
};

// Calls each(name, value) for every "Name: value\r\n" line of `lines` (a compiled policy's
// header block).
template <typename F>
void for_each_header_line(std::string_view lines, F&& each) {
  while (!lines.empty()) {
    const size_t end = lines.find("\r\n");
    const std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    each(line.substr(0, colon), value);
  }
}

// Why a filter refused a request, for the route's auth-failure metrics.
enum class Refusal : uint8_t {
  kNone,
  kAddress,           // IP rules
  kForbidden,         // authenticated without a needed role, or an unknown client certificate
  kMissing,           // no credential
  kInvalid,           // a malformed or badly signed token
  kExpired,           // a token expired or not yet valid
  kUnknownKey,        // a token's kid is in no key set
  kInvalidApiKey,     // an API key no consumer has
  kInvalidSignature,  // HMAC
  kStale,             // HMAC date outside the window
  kReplayed,          // HMAC nonce seen before
};

class Context {
 public:
  static constexpr size_t kStateBytes = 256;

  // --- set up by the driver -------------------------------------------------------------------
  // A new exchange: `head` must stay valid (and unmoved) until reset(); `path` is the normalised
  // path the route matched (copied here, so the params' views stay valid across a pause).
  void begin(const http::RequestHead& head, std::string_view path, const router::MatchResult* m,
             std::string_view route_name, const auth::IpAddress& client,
             std::string_view request_id, Driver* driver, Services* services = nullptr);
  void reset();  // back to empty, keeping capacity
  // Whether a filter of the chain reads the JWT's claims after the auth filter (RBAC roles,
  // ${jwt.X}, a jwt_claim rate-limit key): only then are they copied into the context.
  void set_keep_claims(bool keep) { keep_claims_ = keep; }
  void set_response(int status, std::span<const http::Header> headers,
                    std::string_view upstream_addr) {
    status_ = status;
    response_headers_ = headers;
    upstream_addr_ = upstream_addr;
  }

  // --- request --------------------------------------------------------------------------------
  const http::RequestHead& head() const { return *head_; }
  std::string_view method() const { return head_->method_text; }
  std::string_view path() const { return path_set_ ? std::string_view(new_path_) : path_; }
  std::string_view matched_path() const { return path_; }  // normalised, before any rewrite
  std::string_view query() const {
    return query_set_ ? std::string_view(new_query_) : head_->query;
  }
  bool path_changed() const { return path_set_; }
  bool query_changed() const { return query_set_; }
  // A request header after the edits made so far ("" when absent); has_request_header tells
  // absent from empty.
  std::string_view request_header(std::string_view name) const;
  bool has_request_header(std::string_view name) const;
  // Names are lower-case. set replaces every copy, add appends one more, remove drops all.
  void set_request_header(std::string_view name, std::string_view value);
  void add_request_header(std::string_view name, std::string_view value);
  void remove_request_header(std::string_view name);
  void set_path(std::string_view path);
  void set_query(std::string_view query);  // without '?'; "" removes the query
  // For the renderer: names whose client copies are dropped, and the lines added
  // ("name: value\r\n"…).
  std::span<const std::string> dropped_request_headers() const { return req_.dropped_names(); }
  std::string& upstream_lines() { return req_.lines; }
  const std::string& upstream_lines() const { return req_.lines; }

  // --- routing and identity -------------------------------------------------------------------
  std::string_view route() const { return route_; }
  std::string_view param(std::string_view name) const;
  std::string_view request_id() const { return request_id_; }
  const auth::IpAddress& client_address() const { return client_; }
  std::string_view client_ip() const;  // text, formatted once
  std::string_view consumer() const { return consumer_; }
  // A claim of the verified JWT as text ("" when there is no token or no such string claim).
  std::string_view claim(std::string_view name) const;
  // The principal's roles (the consumer's, or the token's roles claim when it was kept).
  std::span<const std::string> roles() const { return roles_; }
  bool identified() const { return identified_; }
  // By the auth filter. A consumer of the config (its name and roles outlive the exchange).
  void set_consumer(std::string_view name, std::span<const std::string> roles) {
    consumer_ = name;
    roles_ = roles;
    identified_ = true;
  }
  // A verified token: its `sub` is the principal; its claims are copied only when
  // set_keep_claims(true) said a later filter reads them (the worker's cache may change by then).
  void set_token(const auth::JwtClaims& claims);
  // The worker's services (clocks, JWT cache, cluster quotas, TLS identity).
  Services& services() const { return *services_; }
  bool has_services() const { return services_ != nullptr; }

  // --- response -------------------------------------------------------------------------------
  int status() const { return status_; }
  std::string_view upstream_addr() const { return upstream_addr_; }
  std::string_view response_header(std::string_view name) const;
  void set_response_header(std::string_view name, std::string_view value);
  void add_response_header(std::string_view name, std::string_view value);
  void remove_response_header(std::string_view name);
  // Drops every upstream field whose name starts with `prefix` (lower-case), e.g.
  // "access-control-"; one prefix per exchange.
  void remove_response_headers_with_prefix(std::string_view prefix) { resp_prefix_.assign(prefix); }
  std::string_view dropped_response_prefix() const { return resp_prefix_; }
  // Complete "Name: value\r\n" lines from a compiled policy, added as they are.
  void add_response_lines(std::string_view lines) { resp_.lines.append(lines); }
  std::span<const std::string> dropped_response_headers() const { return resp_.dropped_names(); }
  const std::string& response_lines() const { return resp_.lines; }

  // --- whole bodies (only when a filter of the chain buffers them) -----------------------------
  std::string& request_body() { return request_body_; }
  std::string& response_body() { return response_body_; }

  // --- answering ------------------------------------------------------------------------------
  // The filter's answer when it returns Status::kRespond. Headers added with
  // add_answer_header() go with it.
  void respond(int status, std::string_view body,
               std::string_view content_type = "application/json");
  void add_answer_header(std::string_view name, std::string_view value);
  // The gateway's own refusal: the JSON error {"error": reason} with `status` (headers added
  // with add_answer_header() go with it), counted as `why` in the route's auth failures.
  void refuse(int status, std::string_view reason, Refusal why = Refusal::kNone);
  int answer_status() const { return answer_status_; }
  const std::string& answer_body() const { return answer_body_; }
  const std::string& answer_lines() const { return answer_lines_; }  // content-type included
  // Why the gateway answers (the JSON error's text and the access log's error), or null.
  const char* answer_reason() const { return has_reason_ ? answer_reason_.c_str() : nullptr; }
  void set_refusal(Refusal r) { refusal_ = r; }
  Refusal refusal() const { return refusal_; }
  void set_answer_reason(std::string_view reason) {
    answer_reason_.assign(reason);
    has_reason_ = true;
  }

  // --- pausing --------------------------------------------------------------------------------
  // From a paused filter's callback (same worker): run the chain again from that filter.
  void resume() const {
    if (driver_ != nullptr) driver_->resume_chain();
  }
  // Before returning Status::kPause: have the chain resumed after `ms`.
  void resume_after(uint64_t ms) const {
    if (driver_ != nullptr) driver_->resume_chain_after(ms);
  }

  // --- per-request filter state ---------------------------------------------------------------
  // The running filter's own slot (Filter::state_size() bytes, zeroed when the exchange starts).
  template <typename T>
  T& state() {
    static_assert(std::is_trivially_copyable_v<T>);
    return *reinterpret_cast<T*>(state_.data() + state_offset_);
  }
  // By the chain runner: before a filter's phase, and once per exchange.
  void enter(size_t state_offset) { state_offset_ = state_offset; }
  void clear_state(size_t bytes) { std::memset(state_.data(), 0, bytes); }

 private:
  static void append_line(std::string& out, std::string_view name, std::string_view value);
  static bool find_line(std::string_view lines, std::string_view name, std::string_view* value);
  // The edits of one side's headers: names whose original copies are dropped (lower-case;
  // entries past `used` are spare capacity) and the lines added.
  struct HeaderEdits {
    std::vector<std::string> drop;
    size_t used = 0;
    std::string lines;
    std::span<const std::string> dropped_names() const { return {drop.data(), used}; }
    bool dropped(std::string_view name) const;
    void set(std::string_view name, std::string_view value);
    void add(std::string_view name, std::string_view value) { append_line(lines, name, value); }
    void remove(std::string_view name);
    void clear() {
      used = 0;
      lines.clear();
    }
  };

  const http::RequestHead* head_ = nullptr;
  std::string path_;  // normalised path (owned: params view into it)
  std::array<router::Param, router::kMaxParams> params_{};
  size_t param_count_ = 0;
  std::string_view route_;
  auth::IpAddress client_;
  mutable std::array<char, 48> client_text_{};
  mutable uint8_t client_text_len_ = 0;
  std::string_view request_id_;
  Driver* driver_ = nullptr;
  Services* services_ = nullptr;
  std::string_view consumer_;
  std::string principal_;  // a token's sub (consumer_ views it)
  std::span<const std::string> roles_;
  bool identified_ = false;
  bool keep_claims_ = false;
  const auth::JwtClaims* claims_ = nullptr;
  auth::JwtClaims kept_claims_;  // claims_ points here when they were kept

  HeaderEdits req_;
  std::string new_path_;
  std::string new_query_;
  bool path_set_ = false;
  bool query_set_ = false;

  int status_ = 0;
  std::span<const http::Header> response_headers_;
  std::string_view upstream_addr_;
  HeaderEdits resp_;
  std::string resp_prefix_;

  std::string request_body_;
  std::string response_body_;

  int answer_status_ = 0;
  std::string answer_body_;
  std::string answer_lines_;
  std::string answer_reason_;
  bool has_reason_ = false;
  Refusal refusal_ = Refusal::kNone;

  size_t state_offset_ = 0;
  alignas(std::max_align_t) std::array<unsigned char, kStateBytes> state_{};
};

}  // namespace sluice::filter
