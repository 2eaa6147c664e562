// Runs one phase of a chain over a context, protocol-neutral: the HTTP/1 connection calls it
// today, an HTTP/2 stream will tomorrow. A Cursor remembers where a paused phase stopped, so a
// resumed chain calls the paused filter again and goes on from there; entries whose `when:`
// does not match are skipped.
// Example:
//   Cursor c;
//   switch (run_phase(chain, Phase::kRequestHeaders, ctx, c)) {
//     case Status::kContinue: forward(); break;
//     case Status::kRespond: answer(ctx.answer_status(), ctx.answer_body()); break;
//     case Status::kPause: wait();  // c.paused() names the entry (its timeout)
//   }
#pragma once

#include <cstdint>

#include "filter/chain.h"
#include "filter/context.h"

namespace sluice::filter {

struct Cursor {
  Phase phase = Phase::kRequestHeaders;
  uint16_t next = 0;     // position in the phase's list
  bool pausing = false;  // next is a filter that paused
  const Entry* paused(const Chain& chain) const {
    return pausing ? &chain.entry(chain.phase(phase)[next]) : nullptr;
  }
  void start(Phase p) {
    phase = p;
    next = 0;
    pausing = false;
  }
};

// Runs `c.phase` from where `c` stands. On kPause, c.next is the filter that paused; in the
// response_body phase and for local answers a kPause counts as kContinue.
// local_answer: the response phases run for an answer the gateway made itself, so only filters
// with on_local_answers() take part.
Status run_phase(const Chain& chain, Context& ctx, Cursor& c, bool local_answer = false);

// The paused entry's timeout passed: it is cancelled, and the phase continues (kContinue,
// kRespond, kPause from later filters) or, with on_timeout: <status>, answers with that status.
Status time_out(const Chain& chain, Context& ctx, Cursor& c);

// The log phase (never pauses or answers).
void run_log(const Chain& chain, Context& ctx);

}  // namespace sluice::filter
