// See fault_filter.h.
#include "filters/fault/fault_filter.h"

#include <cstdint>
#include <memory>

#include "config/reader.h"
#include "filter/context.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

constexpr uint64_t kMaxDelayMs = 60000;

struct State {
  bool delayed;           // the request's delay (if drawn) is over
  bool response_delayed;  // the response's delay (if drawn) is over
};

// A per-thread xorshift draw in [0, 100): cheap, and good enough to pick a share of requests.
uint32_t percent_draw() {
  thread_local uint64_t s = 0x9e3779b97f4a7c15ULL ^ reinterpret_cast<uintptr_t>(&s);
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return static_cast<uint32_t>(s % 100);
}

class FaultFilter final : public filter::Filter {
 public:
  FaultFilter(uint64_t delay_ms, uint32_t delay_percent, int abort, uint32_t abort_percent,
              uint64_t response_delay_ms, uint32_t response_delay_percent)
      : delay_ms_(delay_ms),
        delay_percent_(delay_percent),
        abort_(abort),
        abort_percent_(abort_percent),
        response_delay_ms_(response_delay_ms),
        response_delay_percent_(response_delay_percent) {}
  uint8_t phases() const override {
    return filter::phase_bit(Phase::kUpstreamRequest) |
           (response_delay_ms_ != 0 ? filter::phase_bit(Phase::kResponseHeaders) : 0);
  }
  size_t state_size() const override { return sizeof(State); }

  Status on_upstream_request(Context& ctx) const override {
    State& st = ctx.state<State>();
    if (!st.delayed) {
      st.delayed = true;
      if (delay_ms_ != 0 && percent_draw() < delay_percent_) {
        ctx.resume_after(delay_ms_);
        return Status::kPause;
      }
    }
    if (abort_ != 0 && percent_draw() < abort_percent_) {
      ctx.refuse(abort_, "fault injected");
      return Status::kRespond;
    }
    return Status::kContinue;
  }

  // The upstream's answer waits before it goes to the client (a slow upstream, as seen by it).
  Status on_response_headers(Context& ctx) const override {
    State& st = ctx.state<State>();
    if (st.response_delayed) return Status::kContinue;
    st.response_delayed = true;
    if (percent_draw() >= response_delay_percent_) return Status::kContinue;
    ctx.resume_after(response_delay_ms_);
    return Status::kPause;
  }

 private:
  uint64_t delay_ms_;
  uint32_t delay_percent_;
  int abort_;
  uint32_t abort_percent_;
  uint64_t response_delay_ms_;
  uint32_t response_delay_percent_;
};

std::unique_ptr<filter::Filter> build(config::Reader& r, const config::Item& item,
                                      const filter::BuildContext& /*bc*/) {
  std::optional<config::MapItem> m =
      filter::filter_map(r, item,
                         {"delay", "delay_percent", "abort", "abort_percent", "response_delay",
                          "response_delay_percent"});
  if (!m) return nullptr;
  const size_t errors = r.errors().size();
  uint64_t delay_ms = 0;
  int abort = 0;
  uint64_t response_delay_ms = 0;
  uint32_t delay_percent = 100;
  uint32_t abort_percent = 100;
  uint32_t response_delay_percent = 100;
  for (auto [key, out] :
       {std::pair{"delay", &delay_ms}, std::pair{"response_delay", &response_delay_ms}}) {
    const config::Item* d = m->get(key);
    if (d == nullptr) continue;
    if (auto ms = r.duration(*d)) {
      if (*ms > kMaxDelayMs) {
        r.error(d->mark, d->path, "at most 60s");
      } else {
        *out = *ms;
      }
    }
  }
  if (const config::Item* a = m->get("abort")) {
    if (auto s = r.integer(*a, 200, 599)) abort = static_cast<int>(*s);
  }
  for (auto [key, out] :
       {std::pair{"delay_percent", &delay_percent}, std::pair{"abort_percent", &abort_percent}}) {
    if (const config::Item* p = m->get(key)) {
      if (auto v = r.integer(*p, 0, 100)) *out = static_cast<uint32_t>(*v);
    }
  }
  if (m->get("delay") == nullptr && m->get("abort") == nullptr &&
      m->get("response_delay") == nullptr) {
    r.error(item.mark, item.path, "give 'delay', 'abort', 'response_delay' or several");
  }
  if (r.errors().size() != errors) return nullptr;
  return std::make_unique<FaultFilter>(delay_ms, delay_percent, abort, abort_percent,
                                       response_delay_ms, response_delay_percent);
}

}  // namespace

const filter::Factory kFaultFactory{"fault", filter::priority::kFault, &build};

}  // namespace sluice::filters
