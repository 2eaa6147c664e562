// See query_filter.h.
#include "filters/query/query_filter.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/reader.h"
#include "filter/context.h"
#include "filter/template.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

bool unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void append_encoded(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : v) {
    if (unreserved(c)) {
      out.push_back(c);
    } else {
      const auto u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
}

class Query final : public filter::Filter {
 public:
  using Params = std::vector<std::pair<std::string, filter::Template>>;
  Query(Params set, Params add, std::vector<std::string> remove)
      : set_(std::move(set)), add_(std::move(add)), remove_(std::move(remove)) {}

  uint8_t phases() const override { return filter::phase_bit(Phase::kRequestHeaders); }
  bool reads_claims() const override {
    for (const Params* list : {&set_, &add_}) {
      for (const auto& [name, t] : *list) {
        if (t.uses(filter::Var::kJwtClaim)) return true;
      }
    }
    return false;
  }

  Status on_request_headers(Context& ctx) const override {
    thread_local std::string out;
    thread_local std::string value;
    out.clear();
    std::string_view q = ctx.query();
    while (!q.empty()) {
      const size_t amp = q.find('&');
      const std::string_view pair = q.substr(0, amp);
      q.remove_prefix(amp == std::string_view::npos ? q.size() : amp + 1);
      const std::string_view name = pair.substr(0, pair.find('='));
      if (dropped(name) || pair.empty()) continue;
      if (!out.empty()) out.push_back('&');
      out.append(pair);
    }
    for (const Params* list : {&set_, &add_}) {
      for (const auto& [name, t] : *list) {
        value.clear();
        t.expand(ctx, value);
        if (!out.empty()) out.push_back('&');
        append_encoded(out, name);
        out.push_back('=');
        append_encoded(out, value);
      }
    }
    ctx.set_query(out);
    return Status::kContinue;
  }

 private:
  bool dropped(std::string_view name) const {
    for (const std::string& r : remove_) {
      if (r == name) return true;
    }
    for (const auto& [n, t] : set_) {
      if (n == name) return true;
    }
    return false;
  }

  Params set_;
  Params add_;
  std::vector<std::string> remove_;
};

std::unique_ptr<filter::Filter> build(config::Reader& r, const config::Item& item,
                                      const filter::BuildContext& /*bc*/) {
  std::optional<config::MapItem> m = filter::filter_map(r, item, {"set", "add", "remove"});
  if (!m) return nullptr;
  const size_t errors = r.errors().size();
  Query::Params set;
  Query::Params add;
  for (const char* key : {"set", "add"}) {
    const config::Item* it = m->get(key);
    if (it == nullptr) continue;
    for (const config::MapEntry& e : r.entries(*it, "parameter names to values", "parameter")) {
      if (!config::is_query_name(e.key)) {
        r.error(e.value.mark, e.value.path, "invalid query parameter name " + config::quote(e.key));
        continue;
      }
      std::optional<std::string> text = r.string(e.value);
      if (!text) continue;
      std::string why;
      std::optional<filter::Template> t = filter::Template::compile(*text, &why, false);
      if (!t) {
        r.error(e.value.mark, e.value.path, why);
        continue;
      }
      (std::string_view(key) == "set" ? set : add).emplace_back(e.key, std::move(*t));
    }
  }
  std::vector<std::string> remove;
  if (const config::Item* it = m->get("remove")) {
    for (const config::Item& e : r.list_or_one(*it)) {
      std::optional<std::string> name = r.string(e);
      if (!name) continue;
      if (!config::is_query_name(*name)) {
        r.error(e.mark, e.path, "invalid query parameter name " + config::quote(*name));
        continue;
      }
      remove.push_back(std::move(*name));
    }
  }
  if (r.errors().size() != errors) return nullptr;
  return std::make_unique<Query>(std::move(set), std::move(add), std::move(remove));
}

}  // namespace

const filter::Factory kQueryFactory{"query", filter::priority::kQuery, &build};

}  // namespace sluice::filters
