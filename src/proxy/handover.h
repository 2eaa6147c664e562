// What an upgrading process hands the new one besides its sockets (proxy/upgrade.h): the local
// rate-limit counters of every route's policies, so that a binary upgrade does not give every
// client a fresh quota. A text of one record per line (keys hex-encoded):
//   sluice-state 1
//   P <route hex> <policy hex> <max_keys>
//   K <key hex> <algorithm> <time> <count> <carry> [<count>:<last> per sliding sub-window]
// Example:
//   std::string state = encode_rate_limits(old_registry);
//   size_t keys = restore_rate_limits(state, new_registry, &err);   // before workers start
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "proxy/runtime.h"

namespace sluice::proxy {

std::string encode_rate_limits(RuntimeRegistry& registry);
// Restores the keys of each policy the new registry has with the same route, policy and
// max_keys (the others are dropped: their config changed). Returns the keys restored; on a
// malformed text, what came before the bad line, with *error saying where.
size_t restore_rate_limits(std::string_view text, RuntimeRegistry& registry, std::string* error);

}  // namespace sluice::proxy
