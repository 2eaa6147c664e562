// The filters built into sluice, by name: what `filters:` entries may name. The list is explicit
// (no static registration), so a filter's factory is linked in because it is listed here.
// Example:
//   auto chains = filter::build_chains(cfg, filters::builtin_factories(), &errors);
#pragma once

#include <span>

#include "filter/chain.h"

namespace sluice::filters {

std::span<const filter::Factory> builtin_factories();

}  // namespace sluice::filters
