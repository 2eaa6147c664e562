// A compiled set of header edits, the config of the request_headers and response_headers
// filters: `set` (replace every copy), `add` (one more copy), `remove` (drop every copy). Values
// are templates with variables. Framing and connection fields cannot be edited: the gateway
// owns them.
// Example:
//   request_headers: { set: { x-user-id: "${path.id}" }, add: { x-via: sluice }, remove: [x-debug]
//   }
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/reader.h"
#include "filter/chain.h"
#include "filter/template.h"

namespace sluice::filters {

struct HeaderEdit {
  std::vector<std::pair<std::string, filter::Template>> set;
  std::vector<std::pair<std::string, filter::Template>> add;
  std::vector<std::string> remove;

  bool reads_claims() const {
    for (const auto* list : {&set, &add}) {
      for (const auto& [name, t] : *list) {
        if (t.uses(filter::Var::kJwtClaim)) return true;
      }
    }
    return false;
  }

  // response_side: the response variables (${status}, ${upstream_addr}) are allowed.
  static std::optional<HeaderEdit> parse(config::Reader& r, const config::Item& item,
                                         bool response_side);
};

}  // namespace sluice::filters
