// mock: answers from config, for teams that work against an API before its backend exists. The
// answer has a status, headers and a body (inline or from a file read at load; both templates
// with the request's variables), an optional delay, and named examples chosen per request by a
// header (default x-mock-example) or a query parameter. A route whose mock always answers needs
// no upstream (`mock:` may also be written at the route, as its action).
// Example:
//   mock:
//     status: 200
//     body: '{"id": "${path.id}", "name": "Ada"}'
//     delay: 50ms
//     examples:
//       missing: { status: 404, body: '{"error": "no such user"}' }
//     example_from: query:example
#pragma once

#include "filter/chain.h"

namespace sluice::filters {

extern const filter::Factory kMockFactory;

}  // namespace sluice::filters
