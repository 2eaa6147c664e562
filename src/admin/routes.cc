// GET /routes: every route of the config in force with its match, action and effective filter
// chain in the order requests pass it: its `filters:` merged with the top-level defaults, and
// the filters that `security:`, `rate_limits:` and `respond:` build.
#include <nlohmann/json.hpp>

#include "admin/admin_server.h"
#include "http/method.h"

namespace sluice::admin {
using nlohmann::json;

std::string AdminServer::routes_json() {
  std::shared_ptr<const proxy::Snapshot> snap = gateway_.current();
  json routes = json::array();
  for (size_t i = 0; i < snap->routes.size(); ++i) {
    const proxy::Route& r = snap->routes[i];
    const router::RouteSpec& spec = snap->router->route(i);  // the config's routes are not kept
    json j;
    j["name"] = r.name;
    j["path"] = r.pattern;
    if (spec.methods != 0) {
      json methods = json::array();
      for (int m = 0; m < http::kMethodCount; ++m) {
        const auto method = static_cast<http::Method>(m);
        if ((spec.methods & http::method_bit(method)) != 0) {
          methods.push_back(std::string(http::method_name(method)));
        }
      }
      j["methods"] = std::move(methods);
    }
    if (!spec.host.empty()) j["host"] = spec.host;
    if (r.upstream >= 0) {
      j["upstream"] = snap->upstreams[static_cast<size_t>(r.upstream)].name;
    } else if (r.respond_status != 0) {
      j["respond"] = r.respond_status;
    }
    if (r.mirror) {
      const proxy::MirrorRoute& m = *r.mirror;
      j["mirror"] = {{"upstream", snap->upstreams[static_cast<size_t>(m.upstream)].name},
                     {"percent", m.percent},
                     {"max_body", m.max_body_bytes},
                     {"timeout_ms", m.timeout_ms},
                     {"max_in_flight", m.max_in_flight}};
    }
    // In the order requests pass them (by each filter's documented priority).
    json chain = r.chain ? json::parse(r.chain->describe()) : json::array();
    j["filters"] = std::move(chain);
    routes.push_back(std::move(j));
  }
  json out;
  out["version"] = snap->version;
  out["routes"] = std::move(routes);
  return out.dump() + "\n";
}

}  // namespace sluice::admin
