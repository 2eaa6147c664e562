// GET /routes: every route of the config in force with its match, action and effective filter
// chain in the order requests pass it: the security and rate-limit steps the route has (from
// `security:` and `rate_limits:`), then its `filters:` merged with the top-level defaults.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "admin/admin_server.h"
#include "filter/filter.h"

namespace sluice::admin {
namespace {

using nlohmann::json;

json step(std::string_view name, int priority, std::string_view source,
          std::initializer_list<const char*> phases) {
  json j;
  j["name"] = name;
  j["priority"] = priority;
  j["source"] = source;
  j["phases"] = json::array();
  for (const char* p : phases) j["phases"].push_back(p);
  return j;
}

}  // namespace

std::string AdminServer::routes_json() {
  std::shared_ptr<const proxy::Snapshot> snap = gateway_.current();
  json routes = json::array();
  for (size_t i = 0; i < snap->routes.size(); ++i) {
    const proxy::Route& r = snap->routes[i];
    const config::RouteConfig& rc = snap->config.routes[i];
    json j;
    j["name"] = r.name;
    j["path"] = r.pattern;
    if (!rc.methods.empty()) j["methods"] = rc.methods;
    if (!rc.host.empty()) j["host"] = rc.host;
    if (r.upstream >= 0) {
      j["upstream"] = snap->upstreams[static_cast<size_t>(r.upstream)].name;
    } else if (r.respond_status != 0) {
      j["respond"] = r.respond_status;
    }
    json chain = json::array();
    if (snap->security && i < snap->security->routes.size()) {
      const proxy::RouteSecurity& sec = snap->security->routes[i];
      const char* src = rc.security.auth ? "route" : "default";
      namespace pr = filter::priority;
      if (sec.auth) {
        chain.push_back(step("auth", pr::kAuth, src, {"request_headers", "request_body"}));
        if (!sec.roles.empty() || sec.has_method_roles) {
          chain.push_back(step("rbac", pr::kRbac, src, {"request_headers"}));
        }
      }
    }
    for (const proxy::RatePolicy& p : r.rate_limits) {
      json s = step("rate_limit", filter::priority::kRateLimit, "route", {"request_headers"});
      s["policy"] = p.name;
      chain.push_back(std::move(s));
    }
    if (r.chain) {
      for (json& e : json::parse(r.chain->describe())) chain.push_back(std::move(e));
    }
    // In the order requests pass them (the built-in steps by their documented priority).
    std::stable_sort(chain.begin(), chain.end(), [](const json& a, const json& b) {
      return a["priority"].get<int>() < b["priority"].get<int>();
    });
    j["filters"] = std::move(chain);
    routes.push_back(std::move(j));
  }
  json out;
  out["version"] = snap->version;
  out["routes"] = std::move(routes);
  return out.dump() + "\n";
}

}  // namespace sluice::admin
