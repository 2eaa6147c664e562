// See cors_filter.h.
#include "filters/cors/cors_filter.h"

#include <string>
#include <utility>

#include "filter/context.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

constexpr std::string_view kPrefix = "access-control-";

class CorsFilter final : public filter::Filter {
 public:
  explicit CorsFilter(auth::CorsPolicy policy) : policy_(std::move(policy)) {}

  uint8_t phases() const override {
    return filter::phase_bit(Phase::kRequestHeaders) | filter::phase_bit(Phase::kResponseHeaders);
  }
  bool on_local_answers() const override { return true; }

  Status on_request_headers(Context& ctx) const override {
    if (!auth::CorsPolicy::is_preflight(ctx.method(), ctx.has_request_header("origin"),
                                        ctx.has_request_header("access-control-request-method"))) {
      return Status::kContinue;
    }
    thread_local std::string lines;
    lines.clear();
    int status = 204;
    policy_.preflight_response(
        ctx.request_header("origin"), ctx.request_header("access-control-request-method"),
        ctx.request_header("access-control-request-headers"), lines, &status);
    if (status != 204) {
      ctx.refuse(403, "CORS preflight refused");
      return Status::kRespond;
    }
    ctx.respond(204, "", "");
    filter::for_each_header_line(lines, [&](std::string_view name, std::string_view value) {
      ctx.add_answer_header(name, value);
    });
    return Status::kRespond;
  }

  Status on_response_headers(Context& ctx) const override {
    ctx.remove_response_headers_with_prefix(kPrefix);
    // A preflight's answer (204 or 403) carries only its own lines.
    if (auth::CorsPolicy::is_preflight(ctx.method(), ctx.has_request_header("origin"),
                                       ctx.has_request_header("access-control-request-method"))) {
      return Status::kContinue;
    }
    const std::string_view origin = ctx.request_header("origin");
    if (origin.empty() || !policy_.origin_allowed(origin)) return Status::kContinue;
    thread_local std::string lines;
    lines.clear();
    policy_.actual_response_headers(origin, lines);
    ctx.add_response_lines(lines);
    return Status::kContinue;
  }

 private:
  auth::CorsPolicy policy_;
};

}  // namespace

std::unique_ptr<filter::Filter> make_cors_filter(auth::CorsPolicy policy) {
  return std::make_unique<CorsFilter>(std::move(policy));
}

}  // namespace sluice::filters
