// path_rewrite: the path the upstream receives, rewritten by an RE2 regular expression (linear
// time, so a user's pattern cannot be made to backtrack) or by replacing a prefix. The route is
// matched on the original path; `$1`…`$9` in `to` are the regex's groups.
// Example:
//   path_rewrite: { regex: "^/api/users/([0-9]+)$", to: "/v2/users/$1" }
//   path_rewrite: { prefix: /api, to: /v2 }
#pragma once

#include "filter/chain.h"

namespace sluice::filters {

extern const filter::Factory kPathRewriteFactory;

}  // namespace sluice::filters
