// See runner.h.
#include "filter/runner.h"

namespace sluice::filter {
namespace {

Status call(const Filter& f, Phase p, Context& ctx) {
  switch (p) {
    case Phase::kRequestHeaders:
      return f.on_request_headers(ctx);
    case Phase::kRequestBody:
      return f.on_request_body(ctx);
    case Phase::kUpstreamRequest:
      return f.on_upstream_request(ctx);
    case Phase::kResponseHeaders:
      return f.on_response_headers(ctx);
    case Phase::kResponseBody:
      return f.on_response_body(ctx);
    case Phase::kLog:
      f.on_log(ctx);
      return Status::kContinue;
  }
  return Status::kContinue;
}

}  // namespace

Status run_phase(const Chain& chain, Context& ctx, Cursor& c, bool local_answer) {
  const std::span<const uint16_t> list = chain.phase(c.phase);
  c.pausing = false;
  for (; c.next < list.size(); ++c.next) {
    const Entry& e = chain.entry(list[c.next]);
    if (local_answer && !e.filter->on_local_answers()) continue;
    if (e.when && !e.when->matches(ctx)) continue;
    ctx.enter(e.state_offset);
    const Status s = call(*e.filter, c.phase, ctx);
    if (s == Status::kContinue) continue;
    if (s == Status::kPause) {
      // The gateway's own answers and whole response bodies cannot wait.
      if (local_answer || c.phase >= Phase::kResponseBody) continue;
      c.pausing = true;
    }
    return s;
  }
  return Status::kContinue;
}

Status time_out(const Chain& chain, Context& ctx, Cursor& c) {
  const Entry* e = c.paused(chain);
  if (e == nullptr) return Status::kContinue;
  ctx.enter(e->state_offset);
  e->filter->on_cancel(ctx);
  c.pausing = false;
  if (e->on_timeout == OnTimeout::kRespond) {
    ctx.refuse(e->timeout_status, "filter timeout");
    return Status::kRespond;
  }
  ++c.next;
  return run_phase(chain, ctx, c, false);
}

void run_log(const Chain& chain, Context& ctx) {
  for (uint16_t i : chain.phase(Phase::kLog)) {
    const Entry& e = chain.entry(i);
    ctx.enter(e.state_offset);
    e.filter->on_log(ctx);
  }
}

}  // namespace sluice::filter
