// See respond_filter.h.
#include "filters/respond/respond_filter.h"

#include <string>
#include <utility>
#include <vector>

#include "filter/context.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

class RespondFilter final : public filter::Filter {
 public:
  explicit RespondFilter(config::RespondConfig r) : r_(std::move(r)) {}
  uint8_t phases() const override { return filter::phase_bit(Phase::kRequestHeaders); }
  Status on_request_headers(Context& ctx) const override {
    ctx.respond(r_.status, r_.body, "");
    for (const auto& [name, value] : r_.headers) ctx.add_answer_header(name, value);
    return Status::kRespond;
  }

 private:
  config::RespondConfig r_;
};

}  // namespace

std::unique_ptr<filter::Filter> make_respond_filter(const config::RespondConfig& respond) {
  return std::make_unique<RespondFilter>(respond);
}

}  // namespace sluice::filters
