// A route's compiled filter chain: the filters of the top-level `filters:` defaults merged with
// the route's own by name (a route's entry replaces the default's, `off` removes it), ordered by
// each filter's documented priority, and split per phase into lists of only the filters that
// implement that phase (a phase nobody uses costs nothing). Every entry may carry `when:`
// (methods, headers, path prefix) and, for filters that pause, `timeout` with `on_timeout`.
// Filters are built by named factories (src/filters/builtin.h) from their own config.
// Example:
//   std::vector<config::ConfigError> errors;
//   std::vector<std::shared_ptr<const Chain>> chains =
//       build_chains(cfg, filters::builtin_factories(), &errors);
//   for (uint16_t i : chains[r]->phase(Phase::kRequestHeaders)) ...
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/reader.h"
#include "filter/filter.h"

namespace sluice::filter {

class Context;

// `when:` of a chain entry: all given conditions must hold.
struct When {
  uint16_t methods = 0;  // bit per http::Method; 0 = any
  struct HeaderCondition {
    std::string name;                  // lower-case
    std::optional<std::string> value;  // exact value; none: present
  };
  std::vector<HeaderCondition> headers;
  std::string path_prefix;
  bool matches(const Context& ctx) const;
};

enum class OnTimeout : uint8_t { kContinue, kRespond };

struct Entry {
  std::string name;
  int priority = 0;
  const Filter* filter = nullptr;
  std::optional<When> when;
  uint64_t timeout_ms = 0;  // a pause longer than this ends as on_timeout says; 0 = none
  OnTimeout on_timeout = OnTimeout::kRespond;
  int timeout_status = 504;
  size_t state_offset = 0;
  bool from_default = false;  // came from the top-level `filters:`
};

class Chain {
 public:
  std::span<const uint16_t> phase(Phase p) const { return by_phase_[static_cast<size_t>(p)]; }
  const Entry& entry(size_t i) const { return entries_[i]; }
  std::span<const Entry> entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  size_t state_bytes() const { return state_bytes_; }
  uint64_t request_body_limit() const { return request_body_limit_; }
  uint64_t response_body_limit() const { return response_body_limit_; }
  bool reads_claims() const { return reads_claims_; }
  // The chain as JSON for the admin API: [{"name":…,"priority":…,"phases":[…],…}, …]
  std::string describe() const;

 private:
  friend class ChainBuilder;
  std::vector<std::unique_ptr<Filter>> owned_;
  std::vector<Entry> entries_;
  std::array<std::vector<uint16_t>, kPhaseCount> by_phase_;
  size_t state_bytes_ = 0;
  uint64_t request_body_limit_ = 0;
  uint64_t response_body_limit_ = 0;
  bool reads_claims_ = false;
};

// What a factory may need to know while building (the route it serves, the whole config).
struct BuildContext {
  const config::Config& config;
  const config::RouteConfig& route;
};

struct Factory {
  std::string_view name;
  int priority;
  // Parses the entry (its keys read with filter_map(), which also accepts when/timeout/
  // on_timeout) and builds the filter; null after reporting errors to the reader.
  std::unique_ptr<Filter> (*build)(config::Reader& r, const config::Item& item,
                                   const BuildContext& bc);
};

// reader.map() with the keys every chain entry takes besides the filter's own.
std::optional<config::MapItem> filter_map(config::Reader& r, const config::Item& item,
                                          std::initializer_list<std::string_view> known);

// A filter built from an older config key (e.g. `security.ip_rules`), added to a route's chain
// like an entry of its `filters:`.
struct Prebuilt {
  std::string name;
  int priority = 0;
  std::unique_ptr<Filter> filter;
  bool from_default = false;
};

// One chain per route of cfg (same order as cfg.routes), null for a route without filters or
// one compiled already (RouteConfig::reuse); errors carry file:line:key.
// prebuilt: per route (same order), filters to add; may be null.
// read_files: set per route (same order) to whether its filters read a file (Reader::files_read:
// such a route is compiled again at every reload); may be null.
std::vector<std::shared_ptr<const Chain>> build_chains(
    const config::Config& cfg, std::span<const Factory> factories,
    std::vector<config::ConfigError>* errors,
    std::vector<std::vector<Prebuilt>>* prebuilt = nullptr,
    std::vector<bool>* read_files = nullptr);

}  // namespace sluice::filter
