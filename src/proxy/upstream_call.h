// One call to an upstream: admission (the upstream's breaker and max_requests), a target for each
// try (balancer, the targets' breakers, the targets already tried), the connection of the try, the
// state of the response being read, retries with back-off, and the accounting once it is over
// (in-flight counts, retry budget, breaker verdicts, outlier ejection).
//
// A call knows nothing of who made it: its connection reports to a CallOwner, naming the call.
// An exchange's response comes from its primary call; a mirrored copy of the request is a call of
// its own with another owner (proxy/mirror.h), and so will be aggregation legs. A call is plain
// state plus capacity (the serialized request): recycled with its owner, it allocates nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/timer_wheel.h"
#include "http/chunked.h"
#include "http/request_parser.h"
#include "http/response_parser.h"
#include "proxy/snapshot.h"

namespace sluice::proxy {

class UpstreamCall;
class UpstreamConnection;
class Worker;

// Why a try at an upstream failed (decides the status and whether a retry is allowed).
enum class UpstreamFailure : uint8_t {
  kConnect,         // refused, unreachable: no byte reached the upstream (502)
  kConnectTimeout,  // (503)
  kReset,           // closed or reset before the response head (502)
  kTimeout,         // per-try response timeout (504)
  kProtocol,        // an invalid response (502)
};

// What an upstream call's connection and timer report to. Each callback names the call, so one
// owner may hold several.
class CallOwner {
 public:
  // Response bytes wait in call.conn->in() (or its EOF).
  virtual void on_call_readable(UpstreamCall& call) = 0;
  // The connection's output drained below the high-water mark: more of the body may go.
  virtual void on_call_writable(UpstreamCall& call) = 0;
  // The try failed; the connection is detached from the call and closed after this returns.
  virtual void on_call_failed(UpstreamCall& call, UpstreamFailure kind, const char* reason) = 0;
  // A retry's back-off passed: start the next try (UpstreamCall::connect).
  virtual void on_call_retry(UpstreamCall& call) = 0;

 protected:
  ~CallOwner() = default;
};

// The plain part of a call, set back to these values by one assignment.
struct UpstreamCallState {
  const Snapshot* snapshot = nullptr;  // the upstream's config (its owner keeps it alive)
  int upstream_index = -1;
  const Upstream* upstream = nullptr;  // admitted to (null before admit())
  const Target* target = nullptr;      // of the current (or last) try
  UpstreamConnection* conn = nullptr;  // of the current try, while it is attached
  const config::RetryConfig* retry = nullptr;
  uint64_t response_timeout_ms = 0;  // per try
  uint64_t deadline_ms = 0;          // all tries end by then (0: no total timeout)

  // Target choice across tries.
  int target_index = -1;
  uint64_t tried_mask = 0;
  uint32_t tries = 0;
  uint64_t hash = 0;           // consistent_hash key hash
  int sticky_index = -1;       // target named by a valid sticky cookie
  bool reused = false;         // the try's connection came from the pool
  bool stale_retried = false;  // the one free replay after a pooled connection went stale

  // Accounting.
  bool counted = false;        // counted in the upstream's active requests and retry budget
  bool target_active = false;  // counted in the current target's in-flight requests
  bool breaker_probe = false;  // the upstream breaker let this call through as a probe
  bool target_probe = false;   // the current target's breaker let this try through as a probe
  bool retrying = false;       // a retry is in flight (retry budget)
  bool failed = false;         // the final try failed (for the upstream's breaker)

  // Timing of the last try (loop clock, microseconds).
  uint64_t sent_us = 0;      // the try started
  uint64_t response_us = 0;  // sent → response head
  int64_t connect_us = -1;   // connect time (0 on a pooled connection)

  // The response being read.
  http::ResponseParser parser;
  http::BodyKind response_in = http::BodyKind::kNone;
  uint64_t response_remaining = 0;
  http::ChunkedDecoder response_chunked;
  bool keep_alive = true;  // the response allows reusing the connection
};

class UpstreamCall : public UpstreamCallState {
 public:
  UpstreamCall() { retry_timer_.call = this; }
  UpstreamCall(const UpstreamCall&) = delete;
  UpstreamCall& operator=(const UpstreamCall&) = delete;

  // Who the call works for; set before admit().
  void bind(Worker& worker, CallOwner& owner) {
    worker_ = &worker;
    owner_ = &owner;
  }
  CallOwner& owner() const { return *owner_; }

  // Admission to upstream `index` of `snap`: its breaker and max_requests. Null when admitted;
  // otherwise why not (the caller answers 503; nothing is left counted).
  const char* admit(const Snapshot& snap, int index, const config::RetryConfig& retry,
                    uint64_t response_timeout_ms, uint64_t total_timeout_ms);
  // The balancer's inputs from the request: the consistent-hash key and the sticky cookie.
  // Only these read the request (keys_request()); client_ip only consistent_hash
  // (hashes_request()), so a caller may skip working either out.
  bool hashes_request() const { return upstream->algorithm == balance::Algorithm::kConsistentHash; }
  bool keys_request() const { return hashes_request() || upstream->sticky.enabled; }
  void key_request(const http::RequestHead& head, std::string_view client_ip,
                   std::string_view matched_path);

  // A target and a connection for the next try, attached to this call; send() then sends
  // `request` (or what a failed connect left unsent).
  enum class Connect : uint8_t { kOk, kNoTarget, kLimited, kFailed };
  Connect connect();
  void send();
  uint64_t try_timeout_ms() const;  // the per-try timeout, bounded by the deadline

  // The try's verdict for its target (breaker, passive health).
  void report_try(bool success);
  // The try's connection failed (before on_call_failed returns): detaches it, keeps what the
  // upstream never saw for the next try, and counts the failure. False when it is instead the one
  // free replay of a pooled connection the upstream had closed (nothing of the response came and
  // nothing is lost): the try is forgotten, connect again.
  bool fail_try(UpstreamFailure kind, bool response_started, bool request_has_body);
  // Schedules a retry (on_call_retry after the back-off) when the route allows one for this
  // failure (status: the response's, 0 when none came); false when not.
  bool may_retry(UpstreamFailure kind, int status, bool replayable, uint64_t seed);
  // Detaches the connection and closes it.
  void abort();
  // Detaches the connection: back to the pool after a clean, complete exchange, else closed.
  void release(bool request_done);
  // The end: in-flight counts, the retry budget and the upstream breaker's verdict
  // (final_status 0: the client left, no verdict). Leaves the call ready to be reset().
  void settle(int final_status);

  // Back to the initial state, keeping the capacity of the request.
  void reset() {
    static_cast<UpstreamCallState&>(*this) = UpstreamCallState();
    request.clear();
    carried.clear();
  }

  std::string request;  // the serialized request head (and a buffered body): each try sends it
  std::string carried;  // bytes a failed connect never delivered, sent by the next try instead

 private:
  struct RetryTimer : core::Timer {
    UpstreamCall* call = nullptr;
    void on_timer() override { call->owner_->on_call_retry(*call); }
  } retry_timer_;
  Worker* worker_ = nullptr;
  CallOwner* owner_ = nullptr;
};

}  // namespace sluice::proxy
