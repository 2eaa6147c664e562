// fault: fault injection for resilience tests. In the upstream_request phase (the request was
// admitted and is about to go upstream): a delay before it is sent, and/or an answer instead of
// sending it; in the response_headers phase: a delay before the upstream's answer goes to the
// client (its body waits in the upstream connection's buffer). Each for a share of requests. With
// `when:` (a header, say) only the requests a test marks are hurt. A delayed request keeps its
// place: its body waits in the connection's buffer and streams after the delay; the entry's
// `timeout` / `on_timeout` bound the delay as for any paused filter. Priority 750. Example:
//   filters:
//     fault: { delay: 200ms, delay_percent: 10, abort: 503, abort_percent: 1,
//              response_delay: 1s, response_delay_percent: 5, when: { headers: [x-chaos] } }
#pragma once

#include "filter/chain.h"

namespace sluice::filters {

extern const filter::Factory kFaultFactory;

}  // namespace sluice::filters
