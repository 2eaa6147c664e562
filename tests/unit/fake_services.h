// Test helpers for filters made directly (no config, no chain): FakeServices, the worker's
// services with a settable clock, real JWT verification against a provider's inline keys, a
// scripted cluster quota and a settable TLS client subject; and FilterRequest, a context begun
// from raw request bytes with those services and the filter's state slot zeroed and entered
// (what the chain runner does before a phase).
// Example:
//   FakeServices svc;
//   svc.now_ms = 1'700'000'000'000;
//   std::unique_ptr<filter::Filter> f = make_rbac_filter(policy);
//   FilterRequest req;
//   req.begin("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &svc, f->state_size());
//   EXPECT_EQ(f->on_request_headers(req.ctx), filter::Status::kRespond);
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "auth/cidr.h"
#include "auth/credentials.h"
#include "auth/jwt.h"
#include "filter/context.h"
#include "filter/services.h"
#include "http/request_parser.h"
#include "limits/cluster_quota.h"
#include "limits/rate_policy.h"

namespace sluice::testing {

class FakeServices final : public filter::Services {
 public:
  uint64_t unix_ms() const override { return now_ms; }

  // Verifies with auth::verify_jwt against the provider's inline keys (no cache, no JWKS); a
  // provider without inline keys answers kUnknownKid, as the worker does.
  const auth::JwtResult& verify_jwt(const auth::JwtProvider& provider, std::string_view token,
                                    uint64_t now_s) override {
    ++jwt_calls;
    last_jwt_now_s = now_s;
    if (provider.inline_keys) {
      jwt_result_ = auth::verify_jwt(token, *provider.inline_keys, provider.policy, now_s);
    } else {
      jwt_result_ = auth::JwtResult{};
      jwt_result_.error = auth::JwtError::kUnknownKid;
    }
    return jwt_result_;
  }

  // Answers take_result, with take_decision when it is kDecided.
  limits::QuotaResult take_quota(const limits::RatePolicy& policy, std::string_view key,
                                 limits::RateDecision* out) override {
    ++quota_takes;
    last_quota_policy = policy.name;
    last_quota_key.assign(key);
    if (take_result == limits::QuotaResult::kDecided) *out = take_decision;
    return take_result;
  }
  // After a kWait: answer_ok with answer_decision.
  bool quota_answer(limits::RateDecision* out) const override {
    ++quota_answers;
    if (answer_ok) *out = answer_decision;
    return answer_ok;
  }

  std::string_view verified_client_subject() const override { return subject; }

  // The clock (Unix ms).
  uint64_t now_ms = 1'700'000'000'000;
  // The verified TLS client certificate's subject ("" for none).
  std::string subject;
  // The cluster quota's script.
  limits::QuotaResult take_result = limits::QuotaResult::kDecided;
  limits::RateDecision take_decision;
  bool answer_ok = true;
  limits::RateDecision answer_decision;

  // What the filters asked.
  int jwt_calls = 0;
  uint64_t last_jwt_now_s = 0;
  int quota_takes = 0;
  mutable int quota_answers = 0;
  std::string last_quota_policy;
  std::string last_quota_key;

 private:
  auth::JwtResult jwt_result_;
};

// One request for a directly made filter. The client is 192.0.2.7, the request id "rid-1".
class FilterRequest {
 public:
  // Parses `raw` (a head; bytes after it are ignored: set ctx.request_body() for a body phase),
  // begins the context on route `route` with `services`, zeroes `state_bytes` of state and enters
  // the slot at offset 0.
  void begin(std::string raw, filter::Services* services, size_t state_bytes,
             std::string_view route = "r") {
    raw_ = std::move(raw);
    http::RequestParser parser;
    ASSERT_EQ(parser.parse(raw_, head_), http::ParseStatus::kDone) << raw_;
    ctx.reset();
    ctx.begin(head_, head_.path, nullptr, route, *auth::IpAddress::parse("192.0.2.7"), "rid-1",
              nullptr, services);
    ctx.clear_state(state_bytes);
    ctx.enter(0);
  }

  const http::RequestHead& head() const { return head_; }

  filter::Context ctx;

 private:
  std::string raw_;
  http::RequestHead head_;
};

}  // namespace sluice::testing
