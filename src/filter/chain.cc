// See chain.h.
#include "filter/chain.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "config/scalars.h"
#include "filter/context.h"
#include "http/method.h"

namespace sluice::filter {
namespace {

constexpr std::string_view kCommonKeys[] = {"when", "timeout", "on_timeout"};
constexpr const char* kPhaseNames[kPhaseCount] = {"request_headers",  "request_body",
                                                  "upstream_request", "response_headers",
                                                  "response_body",    "log"};

}  // namespace

bool When::matches(const Context& ctx) const {
  if (methods != 0) {
    const auto m = static_cast<unsigned>(ctx.head().method);
    if (m >= 16 || (methods & (1U << m)) == 0) return false;
  }
  if (!path_prefix.empty() && !ctx.path().starts_with(path_prefix)) return false;
  for (const HeaderCondition& h : headers) {
    if (!ctx.has_request_header(h.name)) return false;
    if (h.value && ctx.request_header(h.name) != *h.value) return false;
  }
  return true;
}

std::optional<config::MapItem> filter_map(config::Reader& r, const config::Item& item,
                                          std::initializer_list<std::string_view> known) {
  std::vector<std::string_view> keys(known.begin(), known.end());
  keys.insert(keys.end(), std::begin(kCommonKeys), std::end(kCommonKeys));
  return r.map(item, std::span<const std::string_view>(keys));
}

class ChainBuilder {
 public:
  ChainBuilder(const config::Config& cfg, std::span<const Factory> factories)
      : cfg_(cfg),
        factories_(factories),
        reader_(cfg.source_files.empty() ? std::vector<std::string>{cfg.source_file}
                                         : cfg.source_files) {}

  std::shared_ptr<const Chain> build(const config::RouteConfig& route,
                                     std::vector<Prebuilt>* prebuilt) {
    // Merge by name: the route's entries replace the defaults', `off` removes one.
    std::vector<std::pair<const config::FilterSpec*, bool>> specs;  // spec, from default
    for (const config::FilterSpec& d : cfg_.filters) {
      if (!d.off) specs.emplace_back(&d, true);
    }
    for (const config::FilterSpec& f : route.filters) {
      auto same = std::find_if(specs.begin(), specs.end(),
                               [&](const auto& s) { return s.first->name == f.name; });
      if (same != specs.end()) specs.erase(same);
      if (!f.off) specs.emplace_back(&f, false);
      if (f.off) check_name(f);
    }
    auto chain = std::make_shared<Chain>();
    const BuildContext bc{cfg_, route};
    for (const auto& [spec, from_default] : specs) {
      const Factory* factory = check_name(*spec);
      if (factory == nullptr) continue;
      const config::Item item{spec->node, spec->path, spec->mark};
      Entry e;
      e.name = spec->name;
      e.priority = factory->priority;
      e.from_default = from_default;
      common(item, e);
      std::unique_ptr<Filter> f = factory->build(reader_, item, bc);
      if (!f) continue;
      e.filter = f.get();
      chain->owned_.push_back(std::move(f));
      chain->entries_.push_back(std::move(e));
    }
    if (prebuilt != nullptr) {
      for (Prebuilt& p : *prebuilt) {
        Entry e;
        e.name = p.name;
        e.priority = p.priority;
        e.from_default = p.from_default;
        // An older section written under `filters:` may give the keys every entry takes.
        for (const config::FilterSpec& a :
             p.from_default ? cfg_.filter_aliases : route.filter_aliases) {
          if (a.name == p.name) common(config::Item{a.node, a.path, a.mark}, e);
        }
        e.filter = p.filter.get();
        chain->owned_.push_back(std::move(p.filter));
        chain->entries_.push_back(std::move(e));
      }
    }
    std::stable_sort(chain->entries_.begin(), chain->entries_.end(),
                     [](const Entry& a, const Entry& b) { return a.priority < b.priority; });
    size_t offset = 0;
    for (size_t i = 0; i < chain->entries_.size(); ++i) {
      Entry& e = chain->entries_[i];
      const size_t n = e.filter->state_size();
      if (n != 0) {
        offset = (offset + alignof(std::max_align_t) - 1) & ~(alignof(std::max_align_t) - 1);
        e.state_offset = offset;
        offset += n;
      }
      for (size_t p = 0; p < kPhaseCount; ++p) {
        if (e.filter->phases() & (1U << p)) {
          chain->by_phase_[p].push_back(static_cast<uint16_t>(i));
        }
      }
      chain->request_body_limit_ =
          std::max(chain->request_body_limit_, e.filter->request_body_limit());
      chain->response_body_limit_ =
          std::max(chain->response_body_limit_, e.filter->response_body_limit());
      chain->reads_claims_ = chain->reads_claims_ || e.filter->reads_claims();
    }
    chain->state_bytes_ = offset;
    if (offset > Context::kStateBytes) {
      reader_.error(route.mark, "routes." + route.name + ".filters",
                    "the route's filters need " + std::to_string(offset) +
                        " bytes of per-request state, more than " +
                        std::to_string(Context::kStateBytes));
    }
    if (chain->entries_.empty()) return nullptr;  // most routes: no chain to hold
    return chain;
  }

  size_t files_read() const { return reader_.files_read(); }

  std::vector<config::ConfigError> take_errors() {
    // Default entries are built once per route: report each problem once.
    std::vector<config::ConfigError> out;
    std::set<std::string> seen;
    for (config::ConfigError& e : reader_.errors()) {
      if (seen.insert(e.to_string()).second) out.push_back(std::move(e));
    }
    return out;
  }

 private:
  const Factory* check_name(const config::FilterSpec& spec) {
    for (const Factory& f : factories_) {
      if (f.name == spec.name) return &f;
    }
    std::vector<std::string_view> names;
    for (const Factory& f : factories_) names.push_back(f.name);
    std::string msg = "unknown filter " + config::quote(spec.name);
    const std::string_view best = config::suggest(spec.name, names);
    if (!best.empty()) msg += " (did you mean '" + std::string(best) + "'?)";
    reader_.error(spec.key_mark, spec.path, std::move(msg));
    return nullptr;
  }

  // when / timeout / on_timeout, the keys every entry takes.
  void common(const config::Item& item, Entry& e) {
    if (!item.node.is_map()) return;
    for (size_t i = 0; i < item.node.size(); ++i) {
      const config::Node k = item.node.key(i);
      const config::Node val = item.node.value(i);
      if (!k.is_scalar()) continue;
      const std::string_view key = k.scalar();
      if (std::find(std::begin(kCommonKeys), std::end(kCommonKeys), key) == std::end(kCommonKeys)) {
        continue;
      }
      const config::Item v{val, config::join(item.path, key),
                           config::value_mark(val, config::mark_of(k, item.mark))};
      if (key == "when") {
        e.when = when(v);
      } else if (key == "timeout") {
        if (auto d = reader_.duration(v)) e.timeout_ms = *d;
      } else if (v.node.is_scalar() && v.node.scalar() == "continue") {
        e.on_timeout = OnTimeout::kContinue;
      } else if (auto s = v.node.is_scalar() ? std::optional<std::string>(v.node.scalar())
                                             : std::nullopt;
                 s && !s->empty() && std::all_of(s->begin(), s->end(), ::isdigit)) {
        if (auto st = reader_.integer(v, 200, 599)) {
          e.on_timeout = OnTimeout::kRespond;
          e.timeout_status = static_cast<int>(*st);
        }
      } else {
        reader_.error(v.mark, v.path,
                      "expected 'continue' or a status from 200 to 599 like 503, got " +
                          config::describe(v.node));
      }
    }
  }

  std::optional<When> when(const config::Item& it) {
    std::optional<config::MapItem> m = reader_.map(it, {"methods", "headers", "path_prefix"});
    if (!m) return std::nullopt;
    When w;
    if (const config::Item* ms = m->get("methods")) {
      for (const config::Item& e : reader_.list_or_one(*ms)) {
        if (std::optional<std::string> name = reader_.route_method(e)) {
          const auto bit = static_cast<unsigned>(http::parse_method(*name));
          if (bit < 16) w.methods = static_cast<uint16_t>(w.methods | (1U << bit));
        }
      }
    }
    if (const config::Item* hs = m->get("headers")) {
      if (hs->node.is_sequence()) {
        for (const config::Item& e : reader_.list_or_one(*hs)) {
          if (auto n = reader_.string(e)) w.headers.push_back({config::lower(*n), std::nullopt});
        }
      } else {
        // name: value (exact), or name: ~ (present with any value).
        for (const config::MapEntry& h :
             reader_.entries(*hs, "header names to values (~: present)", "header name")) {
          if (!config::is_token(h.key)) {
            reader_.error(h.key_mark, h.value.path, "invalid header name " + config::quote(h.key));
            continue;
          }
          if (h.value.node.is_null()) {
            w.headers.push_back({config::lower(h.key), std::nullopt});
          } else if (auto value = reader_.string(h.value)) {
            w.headers.push_back({config::lower(h.key), std::move(*value)});
          }
        }
      }
    }
    if (const config::Item* p = m->get("path_prefix")) {
      if (auto s = reader_.string(*p)) {
        if (!config::is_request_path(*s)) {
          reader_.error(p->mark, p->path,
                        "must be a path starting with '/', got " + config::quote(*s));
        }
        w.path_prefix = std::move(*s);
      }
    }
    return w;
  }

  const config::Config& cfg_;
  std::span<const Factory> factories_;
  config::Reader reader_;
};

std::string Chain::describe() const {
  nlohmann::json out = nlohmann::json::array();
  for (const Entry& e : entries_) {
    nlohmann::json j;
    j["name"] = e.name;
    j["priority"] = e.priority;
    j["source"] = e.from_default ? "default" : "route";
    nlohmann::json phases = nlohmann::json::array();
    for (size_t p = 0; p < kPhaseCount; ++p) {
      if (e.filter->phases() & (1U << p)) phases.push_back(kPhaseNames[p]);
    }
    j["phases"] = std::move(phases);
    if (e.when) {
      nlohmann::json w = nlohmann::json::object();
      if (e.when->methods != 0) {
        nlohmann::json ms = nlohmann::json::array();
        for (unsigned b = 0; b < 16; ++b) {
          if (e.when->methods & (1U << b)) {
            ms.push_back(std::string(http::method_name(static_cast<http::Method>(b))));
          }
        }
        w["methods"] = std::move(ms);
      }
      for (const When::HeaderCondition& h : e.when->headers) {
        w["headers"][h.name] = h.value ? nlohmann::json(*h.value) : nlohmann::json(nullptr);
      }
      if (!e.when->path_prefix.empty()) w["path_prefix"] = e.when->path_prefix;
      j["when"] = std::move(w);
    }
    if (e.timeout_ms != 0) {
      j["timeout_ms"] = e.timeout_ms;
      j["on_timeout"] = e.on_timeout == OnTimeout::kContinue ? nlohmann::json("continue")
                                                             : nlohmann::json(e.timeout_status);
    }
    // What the filter says of its own settings (a JSON object's members), e.g. its policies.
    const std::string own = e.filter->describe();
    if (!own.empty()) {
      const nlohmann::json members = nlohmann::json::parse(own);  // outlives the loop below
      for (const auto& [k, v] : members.items()) j[k] = v;
    }
    out.push_back(std::move(j));
  }
  return out.dump();
}

std::vector<std::shared_ptr<const Chain>> build_chains(const config::Config& cfg,
                                                       std::span<const Factory> factories,
                                                       std::vector<config::ConfigError>* errors,
                                                       std::vector<std::vector<Prebuilt>>* prebuilt,
                                                       std::vector<bool>* read_files) {
  ChainBuilder b(cfg, factories);
  std::vector<std::shared_ptr<const Chain>> out;
  out.reserve(cfg.routes.size());
  if (read_files != nullptr) read_files->assign(cfg.routes.size(), false);
  for (size_t i = 0; i < cfg.routes.size(); ++i) {
    if (cfg.routes[i].reuse >= 0) {  // compiled already
      out.push_back(nullptr);
      continue;
    }
    std::vector<Prebuilt>* p =
        prebuilt != nullptr && i < prebuilt->size() ? &(*prebuilt)[i] : nullptr;
    const size_t files_before = b.files_read();
    out.push_back(b.build(cfg.routes[i], p));
    if (read_files != nullptr) (*read_files)[i] = b.files_read() != files_before;
  }
  for (config::ConfigError& e : b.take_errors()) errors->push_back(std::move(e));
  return out;
}

}  // namespace sluice::filter
