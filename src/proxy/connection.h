// The two ends of a proxied exchange. A ClientConnection reads requests from a downstream socket
// and drives each through the phases (headers → route → upstream → body → response → log); an
// UpstreamConnection carries one request at a time to a target and is pooled when its response
// was read completely and cleanly. Bodies stream between the two with bounded buffers: when the
// receiving side's output buffer is above the high-water mark, the sending side stops reading
// (back-pressure), so memory stays flat whatever the body size.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/timer_wheel.h"
#include "filter/context.h"
#include "filter/runner.h"
#include "filter/services.h"
#include "http/chunked.h"
#include "http/request_parser.h"
#include "http/response_parser.h"
#include "net/tls.h"
#include "proxy/upstream_call.h"
#include "proxy/worker.h"

namespace sluice::proxy {

// Bytes buffered for a peer before the other side stops reading.
inline constexpr size_t kHighWater = 64 * 1024;

// What the gateway knows about the request in flight on a client connection: the plain values,
// set back to these defaults by one assignment when the exchange is recycled.
struct ExchangeState {
  std::shared_ptr<const Snapshot> snapshot;  // the config this request started with
  filter::Cursor cursor;                     // where the route's chain stands
  const filter::Chain* chain = nullptr;      // the route's; null before routing or when empty
  bool chain_waiting = false;                // a filter paused: wait for ctx.resume()
  bool chain_resumed = false;                // resumed: run the paused phase again
  bool chain_timed_out = false;              // the paused filter's timeout passed
  bool body_buffering = false;               // reading the whole request body for a body filter
  bool body_replaced = false;       // ctx.request_body() is the body to send (Content-Length)
  bool response_buffering = false;  // reading the whole response body for a body filter
  bool response_paused = false;     // a response_headers filter paused (the head in response_head)
  const Route* route = nullptr;
  http::Method method = http::Method::kGet;
  bool client_keep_alive = true;
  bool client_http10 = false;
  char request_id[129] = {};
  uint8_t request_id_len = 0;

  // Request body, client → upstream (or discarded for locally answered requests).
  http::BodyKind request_body = http::BodyKind::kNone;
  uint64_t request_remaining = 0;
  uint64_t request_body_bytes = 0;
  http::ChunkedDecoder request_chunked;
  bool request_done = false;
  bool has_body = false;  // a body follows the head (so the request cannot be replayed)
  bool discard_body = false;
  Mirror* mirror = nullptr;  // a copy for the route's mirror, collecting the body

  // Response, upstream (Exchange::call) → client.
  int final_status = 0;           // status sent to the client, 0 when none
  uint64_t start_us = 0;          // request head parsed
  bool response_started = false;  // bytes of the response head went to the client
  bool response_done = false;
  enum class Out : uint8_t { kRaw, kChunked } response_out = Out::kRaw;
  uint64_t response_bytes = 0;  // response bytes queued for the client (head and body)
  const char* error = nullptr;  // why the gateway answered itself

  // A cluster rate-limit lease a filter waits for (Services::take_quota), and its answer.
  struct QuotaWait {
    limits::ClusterQuota* quota = nullptr;  // while waiting
    bool waiting = false;
    bool ok = false;  // the answer came (false: the store could not be had)
    limits::RateDecision decision;
  } quota;

  // Admission after routing, in steps; a pause (a filter's) resumes at `stage`: the
  // request_headers filters, reading the whole body, the request_body filters, the upstream's
  // admission, the upstream_request filters and the head.
  enum class Stage : uint8_t {
    kFilters,
    kRequestBody,
    kBodyFilters,
    kUpstream,
    kUpstreamRequest
  } stage = Stage::kFilters;

  // Tracing: ids of this request's server span and of each try's client span.
  struct Trace {
    static constexpr size_t kMaxTries = 8;  // client spans recorded per request
    bool on = false;                        // the snapshot traces; ids are set
    bool sampled = false;                   // head decision (exported even if not on error)
    bool has_parent = false;
    uint8_t trace_id[16] = {};
    uint8_t span_id[8] = {};
    uint8_t parent_id[8] = {};
    size_t header_at = std::string::npos;  // traceparent value in call.request
    struct Try {
      uint8_t span_id[8];
      uint64_t start_us;
      uint64_t end_us;
      const Target* target;
      int status;
      const char* error_type;  // null when the try got a response
    };
    Try tries[kMaxTries];
    uint32_t try_count = 0;
  } trace;
};

// An exchange: its state, and the members that keep their capacity from one request to the next
// (exchanges are recycled per worker, so the steady state allocates nothing).
struct Exchange : ExchangeState {
  // The request head, owned: its views point into head_bytes (a copy of the head as received),
  // so it outlives the connection's read buffer and a paused request is never parsed again.
  http::RequestHead head;
  std::string head_bytes;
  // What the route's filters see and edit.
  filter::Context ctx;
  // The call to the route's upstream that the response comes from: target, connection, tries.
  UpstreamCall call;
  http::ResponseHead response_head;  // owned copy while the response body is buffered
  std::string response_head_bytes;
  std::string response_extra;  // header lines for the gateway's answers (security headers on 404)
  // The log phase reads the request as the client sent it from `head` (filters edit the
  // context, not the head); this holds the path and query only when they are not contiguous
  // there (an absolute-form target without a path).
  std::string logged_target;

  // Back to the initial state, keeping the capacity of the strings.
  void reset() {
    static_cast<ExchangeState&>(*this) = ExchangeState();
    head.clear();
    head_bytes.clear();
    ctx.reset();
    response_head.clear();
    response_head_bytes.clear();
    call.reset();
    response_extra.clear();
    logged_target.clear();
  }
};

class ClientConnection : public core::IoHandler,
                         public core::Timer,
                         public core::Deferred,
                         public limits::QuotaWaiter,
                         public filter::Driver,
                         public filter::Services,
                         public CallOwner {
 public:
  // listener: index of the configured listener that accepted it (its TLS context, if any).
  ClientConnection(Worker& worker, int fd, const sockaddr_storage& peer, size_t listener = 0);
  ~ClientConnection() override;

  void on_io(uint32_t events) override;
  void on_timer() override;
  // A cluster rate-limit lease arrived (or could not be had) for the paused request.
  void on_quota(const limits::RateDecision& decision) override;
  void on_quota_unavailable() override;
  // A paused filter of the exchange's chain is done (or its delay passed).
  void resume_chain() override;
  void resume_chain_after(uint64_t ms) override;
  // What the chain's filters get of the worker and the connection.
  uint64_t unix_ms() const override { return worker_.unix_ms(); }
  const auth::JwtResult& verify_jwt(const auth::JwtProvider& provider, std::string_view token,
                                    uint64_t now_s) override {
    return worker_.verify_jwt(provider, token, now_s);
  }
  limits::QuotaResult take_quota(const limits::RatePolicy& policy, std::string_view key,
                                 limits::RateDecision* out) override;
  bool quota_answer(limits::RateDecision* out) const override;
  std::string_view verified_client_subject() const override {
    return client_cert_verified_ ? std::string_view(client_cert_subject_) : std::string_view();
  }

  // The exchange's upstream call (its connection, its retry timer).
  void on_call_readable(UpstreamCall& call) override;
  void on_call_writable(UpstreamCall& call) override;
  void on_call_failed(UpstreamCall& call, UpstreamFailure kind, const char* reason) override;
  void on_call_retry(UpstreamCall& call) override;
  // Worker-driven.
  void close_now();
  bool idle() const { return !exchange_ && in_.empty(); }
  // For ConnectionLimits: where it came from and whether it was counted per client.
  size_t listener() const { return listener_; }
  const sockaddr_storage& peer() const { return peer_; }
  bool counted_client() const { return counted_client_; }
  void set_counted_client(bool counted) { counted_client_ = counted; }
  void drain_notice();

  ListNode node{this};  // in Worker::clients_

 private:
  enum class TimerMode : uint8_t { kIdle, kHeader, kBody, kLinger };

  void drive();
  bool read_some();
  void note_tls_handshake(bool ok);  // counters; the client certificate's identity
  bool process();
  bool start_exchange();
  // After routing: security, rate limits, the route's filters, then the route's action. False
  // when the connection closes. Runs again (from Exchange::stage) after a pause.
  bool admit();
  // A request-side phase of the route's chain (or the paused one, resumed): false when it
  // answered or paused.
  bool run_request_filters(filter::Phase phase, bool* keep);
  // Runs `phase` of the chain, or goes on with the paused one (resumed, or timed out).
  filter::Status step_chain(filter::Phase phase);
  // A filter paused: `stopped` (the timer of what the exchange waited for) is cancelled and the
  // filter's own timeout armed.
  void wait_for_filter(core::Timer& stopped);
  // The upstream's admission (breaker, max_requests), consistent-hash key, sticky target: false
  // when the request was answered instead.
  bool select_upstream();
  // Renders the upstream head with the chain's edits and starts the first try.
  bool send_upstream_head();
  // A copy of the request for the route's mirror (sampled, bounded); sent once it is whole.
  void start_mirror();
  void dispatch_mirror();
  void send_chain_answer();  // the answer a filter (or a timed-out pause) made
  // Whole bodies for body filters: reads what has arrived into the context.
  enum class BodyRead : uint8_t { kDone, kNeedMore, kFailed };
  BodyRead buffer_request_body();
  bool buffer_response_body(UpstreamConnection* up);  // pump_response's, while buffering
  void finish_buffered_response();
  bool wants_body(filter::Phase p);  // a body filter applies to this request
  // The sticky cookie and the gateway's own lines (response_extra), in the worker's path
  // scratch.
  std::string_view gateway_response_headers();
  void on_chain_timeout();
  void on_send_timeout();  // the client took nothing for timeouts.client_send
  auth::IpAddress client_address(const http::RequestHead& head) const;
  void cancel_quota_wait();
  bool forward_request_body();
  bool pump_response();
  // Renders the response head with the chain's edits for the client and queues it.
  void send_response_head(const http::ResponseHead& head);
  void finish_exchange();
  void end_exchange();
  bool flush();
  // After the last answer: the write side is shut and what the client still sends is read and
  // dropped until it closes (or kLingerMs pass), so a reset does not destroy the answer on its
  // way (a client still uploading when it was refused).
  void linger();
  void on_linger_readable();
  void send_error(int status, const char* reason, bool close_after, uint16_t allow = 0);
  void send_local(std::string_view head_prefix, std::string_view body, bool close_after);
  void append_common_headers(std::string& out, bool close_after);
  bool try_upstream();  // the call's next try; false when it was answered instead
  void start_trace(const http::RequestHead& head);
  void begin_try_span();
  void end_try_span(int status, const char* error_type);
  void finish_trace();
  void write_access_log();
  void log_refusal(int status, const char* reason);  // a request refused before it parsed
  void settle_exchange();
  // A retry of the call, when the route allows one and no byte of the response went out.
  bool retry_call(UpstreamFailure kind, int status);
  void arm_body_timer();
  void abort_upstream();
  void arm(TimerMode mode, uint64_t ms);
  const char* peer_ip(char* buf, size_t len) const;

  Worker& worker_;
  int fd_;
  sockaddr_storage peer_{};
  std::unique_ptr<net::TlsStream> tls_;  // null on a plain listener
  size_t listener_ = 0;
  std::string client_cert_subject_;
  bool client_cert_verified_ = false;
  core::Buffer in_;
  core::Buffer out_;
  http::RequestParser parser_;
  std::unique_ptr<Exchange> exchange_;
  TimerMode timer_mode_ = TimerMode::kIdle;
  bool readable_ = true;
  bool writable_ = true;
  bool peer_eof_ = false;
  bool peer_closing_ = false;  // EPOLLRDHUP seen: read until EOF
  bool close_after_flush_ = false;
  bool lingering_ = false;
  bool counted_client_ = false;
  bool closed_ = false;
  bool in_drive_ = false;
  bool again_ = false;
  char refusal_id_[32] = {};  // X-Request-Id of the last answer given without an exchange

  // A filter's own delay, and the paused filter's timeout.
  struct ChainTimer : core::Timer {
    ClientConnection* conn = nullptr;
    bool timeout = false;
    void on_timer() override {
      if (timeout) {
        conn->on_chain_timeout();
      } else {
        conn->resume_chain();
      }
    }
  } chain_delay_, chain_timeout_;
  // timeouts.client_send: armed while bytes wait for a client that does not take them.
  struct SendTimer : core::Timer {
    ClientConnection* conn = nullptr;
    bool armed = false;
    void on_timer() override { conn->on_send_timeout(); }
  } send_timer_;
};

class UpstreamConnection : public core::IoHandler, public core::Timer, public core::Deferred {
 public:
  UpstreamConnection(Worker& worker, int fd, std::string key,
                     std::shared_ptr<UpstreamRuntime> runtime,
                     std::shared_ptr<balance::TargetState> state);
  ~UpstreamConnection() override;

  void on_io(uint32_t events) override;
  void on_timer() override;

  // Carries `call`'s try until detached; reports to its owner.
  void attach(UpstreamCall* call, uint64_t response_timeout_ms);
  void detach() { call_ = nullptr; }
  // Back to the pool (idle) or closed.
  void park(uint64_t idle_timeout_ms);
  void close_now();
  void flush();
  // TLS to the target (before the first byte is written); the handshake runs with the writes.
  void start_tls(std::unique_ptr<net::TlsStream> tls) { tls_ = std::move(tls); }
  bool tls() const { return tls_ != nullptr; }
  void arm_response_timer();
  void resume_reading();  // client's output drained: read more

  core::Buffer& in() { return in_; }
  core::Buffer& out() { return out_; }
  bool connected() const { return connected_; }
  uint64_t connected_at_us() const { return connected_us_; }  // loop clock; 0 while connecting
  bool eof() const { return eof_; }
  bool failed() const { return failed_; }
  bool closed() const { return closed_; }
  // The upstream reset the connection: nothing more is sent; what it wrote before the reset is
  // still read (an early answer). reset_reason() names the reset for a failure without one.
  const char* reset_reason() const { return reset_reason_; }
  // The connection ended in an error or a reset, not a close: a body delimited by the close is
  // cut, not whole. The reason for the failure.
  const char* aborted() const {
    if (reset_reason_ != nullptr) return reset_reason_;
    return failed_ ? "upstream connection reset" : nullptr;
  }
  const std::string& key() const { return key_; }
  void set_connect_timeout(uint64_t ms);
  void set_response_timeout(uint64_t ms) { response_timeout_ms_ = ms; }

  ListNode pool_node{this};  // in TargetPool::idle while parked

 private:
  void read_some();
  void fail(UpstreamFailure kind, const char* reason);
  void on_reset(const char* reason);

  Worker& worker_;
  int fd_;
  std::string key_;
  std::shared_ptr<UpstreamRuntime> runtime_;  // connection and pending counts
  std::shared_ptr<balance::TargetState> state_;
  std::unique_ptr<net::TlsStream> tls_;
  bool pending_ = false;  // counted in runtime_->pending until connected
  UpstreamCall* call_ = nullptr;
  core::Buffer in_;
  core::Buffer out_;
  uint64_t response_timeout_ms_ = 30000;
  bool connected_ = false;
  uint64_t connected_us_ = 0;
  bool readable_ = false;
  bool writable_ = false;
  bool eof_ = false;
  bool peer_closing_ = false;
  bool failed_ = false;
  bool closed_ = false;
  const char* reset_reason_ = nullptr;
  bool parked_ = false;
};

}  // namespace sluice::proxy
