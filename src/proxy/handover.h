// What an upgrading process hands the new one besides its sockets (proxy/upgrade.h): the local
// rate-limit counters of every route's policies, so that a binary upgrade does not give every
// client a fresh quota. A text of one record per line (keys hex-encoded):
//   sluice-state 1
//   P <route hex> <policy hex> <max_keys>
//   K <key hex> <algorithm> <time> <count> <carry> [<count>:<last> per sliding sub-window]
// and the targets' health and ejections (encode_targets, after the rate limits):
//   T <upstream hex> <target hex> <health 0|1|2> <ejected_until_ms> <ejections> <failures>
// (CLOCK_MONOTONIC is the machine's, so an ejection's end means the same in both processes).
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

// The T lines; restore_targets sets the state of each target the new registry has (the others
// are dropped) and skips every other line. Returns the targets restored.
std::string encode_targets(RuntimeRegistry& registry);
size_t restore_targets(std::string_view text, RuntimeRegistry& registry, std::string* error);

}  // namespace sluice::proxy
