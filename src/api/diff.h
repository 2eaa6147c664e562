// What changed between two config documents, per object: the named objects of the four
// collections (routes, upstreams, consumers, jwt_providers) by name, every other top-level key
// as a "section". GET /api/v1/config/diff answers with it.
// Example:
//   Json d = diff_configs(v6, v7);
//   // {"added":[{"kind":"routes","name":"b"}],"removed":[],
//   //  "changed":[{"kind":"section","name":"redis","keys":["address"]}]}
#pragma once

#include <array>
#include <string_view>

#include "api/config_json.h"

namespace sluice::api {

// The collections whose entries the admin API addresses by name.
inline constexpr std::array<std::string_view, 4> kCollections = {"routes", "upstreams", "consumers",
                                                                 "jwt_providers"};
bool is_collection(std::string_view key);

// `keys` of a changed object: its top-level keys whose values differ (added, removed or
// changed), in the order of `to` then of `from`; empty when the object is not a map on both
// sides. A collection that is not a list of named maps is compared as a section.
Json diff_configs(const Json& from, const Json& to);

}  // namespace sluice::api
