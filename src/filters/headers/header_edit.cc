// See header_edit.h.
#include "filters/headers/header_edit.h"

#include <algorithm>

#include "config/scalars.h"

namespace sluice::filters {
namespace {

// Fields whose meaning is the message's framing or the connection: the gateway writes them.
constexpr std::string_view kReserved[] = {"content-length", "transfer-encoding", "connection",
                                          "keep-alive",     "upgrade",           "te",
                                          "trailer",        "proxy-connection"};
// Request fields the gateway writes itself after the filters: a copy from a filter would be a
// second field, not a replacement.
constexpr std::string_view kGatewayRequest[] = {"x-forwarded-for", "x-forwarded-proto",
                                                "x-forwarded-host", "x-request-id", "traceparent"};

bool reserved(std::string_view name, bool response_side) {
  if (std::find(std::begin(kReserved), std::end(kReserved), name) != std::end(kReserved)) {
    return true;
  }
  return !response_side && std::find(std::begin(kGatewayRequest), std::end(kGatewayRequest),
                                     name) != std::end(kGatewayRequest);
}

}  // namespace

std::optional<HeaderEdit> HeaderEdit::parse(config::Reader& r, const config::Item& item,
                                            bool response_side) {
  std::optional<config::MapItem> m = filter::filter_map(r, item, {"set", "add", "remove"});
  if (!m) return std::nullopt;
  const size_t errors = r.errors().size();
  HeaderEdit edit;
  for (const char* key : {"set", "add"}) {
    const config::Item* it = m->get(key);
    if (it == nullptr) continue;
    auto& out = std::string_view(key) == "set" ? edit.set : edit.add;
    for (auto& [name, value] : r.headers(*it)) {
      const config::Item at{it->node, config::join(it->path, name), it->mark};
      if (reserved(name, response_side)) {
        r.error(at.mark, at.path, config::quote(name) + " is set by the gateway");
        continue;
      }
      std::string why;
      std::optional<filter::Template> t = filter::Template::compile(value, &why, response_side);
      if (!t) {
        r.error(at.mark, at.path, why);
        continue;
      }
      out.emplace_back(name, std::move(*t));
    }
  }
  if (const config::Item* it = m->get("remove")) {
    for (const config::Item& e : r.list_or_one(*it)) {
      std::optional<std::string> name = r.string(e);
      if (!name) continue;
      if (!config::is_token(*name)) {
        r.error(e.mark, e.path, "invalid header name " + config::quote(*name));
        continue;
      }
      std::string lower = config::lower(*name);
      if (reserved(lower, response_side)) {
        r.error(e.mark, e.path, config::quote(lower) + " is set by the gateway");
        continue;
      }
      edit.remove.push_back(std::move(lower));
    }
  }
  if (r.errors().size() != errors) return std::nullopt;
  return edit;
}

}  // namespace sluice::filters
