// respond: the route answers from config (status, headers, body) and nothing goes upstream; the
// request body, if any, is read and dropped. The last request_headers filter (priority 900), so
// the chain's identity, limits and edits run first. A route's `respond:` builds it.
// Example:
//   routes:
//     - { name: health, match: { path: /healthz }, respond: { status: 200, body: "ok" } }
#pragma once

#include <memory>

#include "config/config.h"
#include "filter/filter.h"

namespace sluice::filters {

std::unique_ptr<filter::Filter> make_respond_filter(const config::RespondConfig& respond);

}  // namespace sluice::filters
