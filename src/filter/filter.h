// The filter interface: a named step of a route's request path. A filter implements only the
// phases it needs and answers each with Continue, Respond (the chain stops and the gateway sends
// the answer the filter put in the context) or Pause (async work; the filter arranges for
// Context::resume() to be called later on the same worker, and the chain then calls the same
// phase of the same filter again, whose per-request state says what it waited for). Every phase
// may pause but two: response_body (a whole buffered body) and the response phases of the
// gateway's own answers; there a kPause counts as kContinue.
//
// Filters are immutable once built (they belong to a config snapshot and are shared by the
// workers); per-request data lives in the Context and in the filter's state slot there.
// Example (the whole of a small filter):
//   class AddVia final : public Filter {
//    public:
//     uint8_t phases() const override { return phase_bit(Phase::kRequestHeaders); }
//     Status on_request_headers(Context& ctx) const override {
//       ctx.add_request_header("via", "sluice");
//       return Status::kContinue;
//     }
//   };
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice::filter {

class Context;

// The phases of one exchange, in the order they run.
enum class Phase : uint8_t {
  kRequestHeaders,   // the head arrived and was routed; identity, limits, edits, answers
  kRequestBody,      // the whole body, when a filter of the chain buffers it
  kUpstreamRequest,  // admitted: just before the head for the upstream is rendered (once)
  kResponseHeaders,  // the upstream's head (or the gateway's own answer's) before it is sent
  kResponseBody,     // the whole response body, when a filter of the chain buffers it
  kLog,              // the exchange is over (whatever happened)
};
inline constexpr size_t kPhaseCount = 6;

constexpr uint8_t phase_bit(Phase p) {
  return static_cast<uint8_t>(1U << static_cast<unsigned>(p));
}

enum class Status : uint8_t { kContinue, kRespond, kPause };

// Filter priorities: the documented order of the chain (lower runs first on the request side).
namespace priority {
inline constexpr int kIpRules = 100;
inline constexpr int kCors = 200;
inline constexpr int kSecurityHeaders = 250;
inline constexpr int kAuth = 300;
inline constexpr int kRbac = 400;
inline constexpr int kRateLimit = 500;
inline constexpr int kMock = 600;
inline constexpr int kPathRewrite = 700;
inline constexpr int kQuery = 710;
inline constexpr int kRequestHeaders = 720;
inline constexpr int kRequestBody = 730;
inline constexpr int kFault = 750;
inline constexpr int kResponseHeaders = 800;
inline constexpr int kResponseBody = 810;
inline constexpr int kRespond = 900;  // the route answers from config: last on the request side
}  // namespace priority

class Filter {
 public:
  Filter() = default;
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;
  virtual ~Filter() = default;

  // The phases this filter implements (phase_bit()s): the chain lists it only there, so a phase
  // no filter of the route implements costs nothing.
  virtual uint8_t phases() const = 0;

  virtual Status on_request_headers(Context& /*ctx*/) const { return Status::kContinue; }
  virtual Status on_request_body(Context& /*ctx*/) const { return Status::kContinue; }
  virtual Status on_upstream_request(Context& /*ctx*/) const { return Status::kContinue; }
  virtual Status on_response_headers(Context& /*ctx*/) const { return Status::kContinue; }
  virtual Status on_response_body(Context& /*ctx*/) const { return Status::kContinue; }
  virtual void on_log(Context& /*ctx*/) const {}

  // A paused phase ran out of time (its `timeout`): drop what it waits for; the chain goes on
  // as `on_timeout` says.
  virtual void on_cancel(Context& /*ctx*/) const {}

  // Whole bodies: the request body is read (up to the limit, else 413) before on_request_body;
  // the response body (up to the limit, else 502) before on_response_body. 0: not buffered.
  virtual uint64_t request_body_limit() const { return 0; }
  virtual uint64_t response_body_limit() const { return 0; }
  // Whether this request's body is needed (after on_request_headers; e.g. only a signed request
  // needs its body for the digest check). Reached with the filter's state entered.
  virtual bool wants_request_body(Context& /*ctx*/) const { return true; }

  // Bytes of per-request state (a trivially copyable type, zeroed when the exchange starts),
  // reached with Context::state<T>(). At most Context::kStateBytes for a whole chain.
  virtual size_t state_size() const { return 0; }
  // Whether it reads the verified JWT's claims (${jwt.X}): only then does the exchange keep a
  // copy of them for the chain.
  virtual bool reads_claims() const { return false; }
  // A JSON object whose members GET /routes shows beside the entry (e.g. {"policies":[…]}), or
  // "" for nothing more than the chain knows.
  virtual std::string describe() const { return {}; }
  // Whether the filter also runs for answers the gateway gives itself (404s excepted, which
  // have no route): response-header edits do, body transforms do not.
  virtual bool on_local_answers() const { return false; }
};

}  // namespace sluice::filter
