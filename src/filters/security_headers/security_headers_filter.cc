// See security_headers_filter.h.
#include "filters/security_headers/security_headers_filter.h"

#include <string>
#include <utility>
#include <vector>

#include "filter/context.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

class SecurityHeadersFilter final : public filter::Filter {
 public:
  explicit SecurityHeadersFilter(const auth::SecurityHeaders& policy) : owned_(policy.names()) {
    // The policy's lines, as name/value pairs, in its fixed order.
    filter::for_each_header_line(policy.block(), [&](std::string_view name, std::string_view v) {
      lines_.emplace_back(std::string(name), std::string(v));
    });
  }

  uint8_t phases() const override { return filter::phase_bit(Phase::kResponseHeaders); }
  bool on_local_answers() const override { return true; }

  Status on_response_headers(Context& ctx) const override {
    for (const std::string& name : owned_) ctx.remove_response_header(name);
    for (const auto& [name, value] : lines_) ctx.add_response_header(name, value);
    return Status::kContinue;
  }

 private:
  std::vector<std::string> owned_;  // lower-case names whose upstream copies are dropped
  std::vector<std::pair<std::string, std::string>> lines_;
};

}  // namespace

std::unique_ptr<filter::Filter> make_security_headers_filter(const auth::SecurityHeaders& policy) {
  return std::make_unique<SecurityHeadersFilter>(policy);
}

}  // namespace sluice::filters
