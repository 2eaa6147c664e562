// What the worker running an exchange offers its filters: clocks, the worker's verified-token
// cache, its leases of cluster rate limits, and the client's TLS identity. Implemented by
// whoever drives the exchange (the HTTP/1 connection today), so filters reach no connection or
// worker type. Everything here runs on the exchange's worker.
// Example:
//   const auth::JwtResult& r = ctx.services().verify_jwt(provider, token, now_s);
//   switch (ctx.services().take_quota(policy, key, &decision)) { ... }
#pragma once

#include <cstdint>
#include <string_view>

#include "auth/credentials.h"
#include "auth/jwt.h"
#include "limits/cluster_quota.h"
#include "limits/rate_policy.h"

namespace sluice::filter {

class Services {
 public:
  // Unix time in ms for this loop turn (rate-limit windows, token expiry, HMAC freshness).
  virtual uint64_t unix_ms() const = 0;
  // Verifies a token with the worker's cache and copy of the provider's keys. The result lives
  // until this worker verifies again: copy what must outlive the running phase.
  virtual const auth::JwtResult& verify_jwt(const auth::JwtProvider& provider,
                                            std::string_view token, uint64_t now_s) = 0;
  // A cluster-scope policy's decision from the worker's lease. kWait: return Status::kPause;
  // the chain resumes when the store answered, and the paused filter reads it with
  // quota_answer(). The driver cancels the wait if the exchange ends or times out first.
  virtual limits::QuotaResult take_quota(const limits::RatePolicy& policy, std::string_view key,
                                         limits::RateDecision* out) = 0;
  // After a kWait: true with the decision, false when the store could not be had.
  virtual bool quota_answer(limits::RateDecision* out) const = 0;
  // A TLS client certificate that verified against the listener's client_ca: its subject
  // (RFC 2253, e.g. "CN=alice,O=Example"); "" otherwise.
  virtual std::string_view verified_client_subject() const = 0;

 protected:
  ~Services() = default;
};

}  // namespace sluice::filter
