// query: edit the query string the upstream receives. `set` replaces every value of a parameter
// (or adds it), `add` appends one more, `remove` drops every value. Values are templates; what
// they expand to is percent-encoded.
// Example:
//   query: { set: { version: "2" }, remove: [debug] }
#pragma once

#include "filter/chain.h"

namespace sluice::filters {

extern const filter::Factory kQueryFactory;

}  // namespace sluice::filters
