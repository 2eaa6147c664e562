// See headers_filter.h.
#include "filters/headers/headers_filter.h"

#include <memory>
#include <string>

#include "filter/context.h"
#include "filters/headers/header_edit.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

// One scratch string per worker thread for expanded values: no allocation per request.
std::string& scratch() {
  thread_local std::string s;
  return s;
}

class RequestHeaders final : public filter::Filter {
 public:
  explicit RequestHeaders(HeaderEdit edit) : edit_(std::move(edit)) {}
  uint8_t phases() const override { return filter::phase_bit(Phase::kRequestHeaders); }
  bool reads_claims() const override { return edit_.reads_claims(); }
  Status on_request_headers(Context& ctx) const override {
    for (const std::string& name : edit_.remove) ctx.remove_request_header(name);
    std::string& v = scratch();
    for (const auto& [name, t] : edit_.set) {
      v.clear();
      t.expand(ctx, v);
      // A value that expands to nothing is not sent (the original copies still go).
      if (v.empty()) {
        ctx.remove_request_header(name);
      } else {
        ctx.set_request_header(name, v);
      }
    }
    for (const auto& [name, t] : edit_.add) {
      v.clear();
      t.expand(ctx, v);
      if (!v.empty()) ctx.add_request_header(name, v);
    }
    return Status::kContinue;
  }

 private:
  HeaderEdit edit_;
};

class ResponseHeaders final : public filter::Filter {
 public:
  explicit ResponseHeaders(HeaderEdit edit) : edit_(std::move(edit)) {}
  uint8_t phases() const override { return filter::phase_bit(Phase::kResponseHeaders); }
  bool on_local_answers() const override { return true; }
  bool reads_claims() const override { return edit_.reads_claims(); }
  Status on_response_headers(Context& ctx) const override {
    for (const std::string& name : edit_.remove) ctx.remove_response_header(name);
    std::string& v = scratch();
    for (const auto& [name, t] : edit_.set) {
      v.clear();
      t.expand(ctx, v);
      // A value that expands to nothing is not sent (the original copies still go).
      if (v.empty()) {
        ctx.remove_response_header(name);
      } else {
        ctx.set_response_header(name, v);
      }
    }
    for (const auto& [name, t] : edit_.add) {
      v.clear();
      t.expand(ctx, v);
      if (!v.empty()) ctx.add_response_header(name, v);
    }
    return Status::kContinue;
  }

 private:
  HeaderEdit edit_;
};

template <typename F, bool kResponse>
std::unique_ptr<filter::Filter> build(config::Reader& r, const config::Item& item,
                                      const filter::BuildContext& /*bc*/) {
  std::optional<HeaderEdit> edit = HeaderEdit::parse(r, item, kResponse);
  if (!edit) return nullptr;
  return std::make_unique<F>(std::move(*edit));
}

}  // namespace

const filter::Factory kRequestHeadersFactory{"request_headers", filter::priority::kRequestHeaders,
                                             &build<RequestHeaders, false>};
const filter::Factory kResponseHeadersFactory{
    "response_headers", filter::priority::kResponseHeaders, &build<ResponseHeaders, true>};

}  // namespace sluice::filters
