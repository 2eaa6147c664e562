// request_headers and response_headers: edit the headers the upstream receives, or the headers
// the client receives (the gateway's own answers included).
// Example:
//   filters:
//     request_headers:  { set: { x-client-ip: "${client_ip}" }, remove: [x-debug] }
//     response_headers: { set: { x-served-by: sluice }, remove: [server] }
#pragma once

#include "filter/chain.h"

namespace sluice::filters {

extern const filter::Factory kRequestHeadersFactory;
extern const filter::Factory kResponseHeadersFactory;

}  // namespace sluice::filters
