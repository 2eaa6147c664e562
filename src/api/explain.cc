#include "api/explain.h"

#include <memory>
#include <string>
#include <vector>

#include "http/header.h"
#include "http/method.h"
#include "router/path.h"
#include "router/pattern.h"
#include "router/router.h"

namespace sluice::api {
namespace {

struct Query {
  std::string method = "GET";
  std::string path;
  std::string host;
  std::vector<std::pair<std::string, std::string>> headers;  // name lower-case
};

// nullopt and *error for a query that does not describe a request.
std::optional<Query> parse_query(std::string_view q, std::string* error) {
  Query out;
  bool have_path = false;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    std::optional<std::string> value =
        percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value) {
      *error = "malformed %-escape in " + std::string(name);
      return std::nullopt;
    }
    if (name == "method") {
      out.method = *value;
    } else if (name == "path") {
      out.path = *value;
      have_path = true;
    } else if (name == "host") {
      out.host = *value;
    } else if (name == "header") {
      const size_t colon = value->find(':');
      if (colon == std::string::npos || colon == 0) {
        *error = "header must be name:value, got '" + *value + "'";
        return std::nullopt;
      }
      std::string hname = value->substr(0, colon);
      for (char& c : hname) c = http::ascii_lower(c);
      std::string_view v = std::string_view(*value).substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      out.headers.emplace_back(std::move(hname), std::string(v));
    } else {
      *error = "unknown parameter '" + std::string(name) + "' (method, path, host, header)";
      return std::nullopt;
    }
  }
  if (!have_path || out.path.empty()) {
    *error = "path is required (the request's path, e.g. path=/users/42)";
    return std::nullopt;
  }
  if (out.method.empty()) {
    *error = "method must not be empty";
    return std::nullopt;
  }
  return out;
}

std::vector<http::Header> header_views(const std::vector<std::pair<std::string, std::string>>& h) {
  std::vector<http::Header> out;
  out.reserve(h.size());
  for (const auto& [n, v] : h) out.push_back(http::Header{n, v});
  return out;
}

// The route alone, or only its path (and host) part, as a one-route router.
std::unique_ptr<router::Router> alone(const router::RouteSpec& spec, bool keep_host,
                                      bool keep_conditions) {
  router::RouteSpec s = spec;
  if (!keep_host) s.host.clear();
  if (!keep_conditions) {
    s.methods = 0;
    s.headers.clear();
  }
  return router::Router::build({std::move(s)}, nullptr);
}

bool path_matches(const router::RouteSpec& spec, std::string_view host, std::string_view path,
                  bool with_host) {
  std::unique_ptr<router::Router> r = alone(spec, with_host, false);
  return r && r->match(host, http::Method::kGet, path, {}).status == router::MatchStatus::kFound;
}

std::string methods_text(uint16_t methods) {
  return router::allow_header_value(methods);
}

// Why a route whose path matches does not take the request ("" when it would, alone).
std::string unmet(const router::RouteSpec& spec, const Query& q, http::Method method,
                  bool host_ok) {
  if (!host_ok) {
    if (q.host.empty()) return "needs host '" + spec.host + "' (the request names none)";
    return "host '" + q.host + "' does not match '" + spec.host + "'";
  }
  if (spec.methods != 0 && (spec.methods & http::method_bit(method)) == 0) {
    return "method " + q.method + " is not one of " + methods_text(spec.methods);
  }
  for (const router::HeaderMatch& h : spec.headers) {
    bool found = false;
    for (const auto& [n, v] : q.headers) found = found || (n == h.name && v == h.value);
    if (!found) return "needs header " + h.name + ": " + h.value;
  }
  return {};
}

// What makes `winner` rank above `other` (both match the request), as the router orders them.
std::string ranks_above(const router::RouteSpec& winner, size_t wi, const router::RouteSpec& other,
                        size_t oi) {
  const auto host_rank = [](const std::string& h) { return h.empty() ? 0 : h[0] == '*' ? 1 : 2; };
  if (host_rank(winner.host) != host_rank(other.host)) {
    return winner.host.empty() ? "any host" : "a more specific host ('" + winner.host + "')";
  }
  router::ParsedPattern a;
  router::ParsedPattern b;
  router::parse_pattern(winner.path, &a);
  router::parse_pattern(other.path, &b);
  if (a.canonical != b.canonical) {
    return "a more specific path pattern ('" + winner.path + "' over '" + other.path + "')";
  }
  if (winner.priority != other.priority) {
    return "a higher priority (" + std::to_string(winner.priority) + " over " +
           std::to_string(other.priority) + ")";
  }
  if (winner.headers.size() != other.headers.size()) return "more header conditions";
  if ((winner.methods != 0) != (other.methods != 0)) return "a method restriction";
  return wi < oi ? "an earlier place in the config" : "the router's order";
}

// A request like q that also meets other's method and header conditions, when the chosen route
// would still take it alone; nullopt when the two never compete.
std::optional<std::pair<http::Method, std::vector<std::pair<std::string, std::string>>>> variant(
    const router::RouteSpec& chosen, const router::RouteSpec& other, http::Method method) {
  uint16_t bit = http::method_bit(method);
  if (other.methods != 0 && (other.methods & bit) == 0) {
    const uint16_t both = chosen.methods == 0 ? other.methods : (other.methods & chosen.methods);
    if (both == 0) return std::nullopt;
    bit = static_cast<uint16_t>(both & -both);
    for (int m = 0; m < http::kMethodCount; ++m) {
      if (http::method_bit(static_cast<http::Method>(m)) == bit) {
        method = static_cast<http::Method>(m);
      }
    }
  }
  std::vector<std::pair<std::string, std::string>> headers;
  for (const router::HeaderMatch& h : other.headers) headers.emplace_back(h.name, h.value);
  return std::make_pair(method, std::move(headers));
}

}  // namespace

Response explain_response(const proxy::Snapshot& snap, std::string_view query) {
  std::string error;
  std::optional<Query> q = parse_query(query, &error);
  if (!q) return error_response(400, error);
  std::string raw_path = q->path;
  if (const size_t qm = raw_path.find('?'); qm != std::string::npos) raw_path.resize(qm);
  std::string scratch;
  bool ok = false;
  std::string path(router::normalize_path(raw_path, scratch, &ok));
  if (!ok)
    return error_response(400, "invalid request path (the gateway answers such a request 400)");
  const http::Method method = http::parse_method(q->method);
  const std::vector<http::Header> headers = header_views(q->headers);
  const router::Router& router = *snap.router;
  const router::MatchResult m = router.match(q->host, method, path, headers);

  Json body = Json::object();
  body["path"] = path;
  body["matched"] = m.status == router::MatchStatus::kFound;
  body["status"] = m.status == router::MatchStatus::kFound      ? "found"
                   : m.status == router::MatchStatus::kNotFound ? "not_found"
                                                                : "method_not_allowed";
  body["route"] = nullptr;
  body["params"] = Json::object();
  body["allowed_methods"] = Json::array();
  const bool found = m.status == router::MatchStatus::kFound;
  if (found) {
    body["route"] = router.route(m.route).name;
    for (size_t i = 0; i < m.param_count; ++i) {
      body["params"][std::string(m.params[i].name)] = std::string(m.params[i].value);
    }
  }
  if (m.status == router::MatchStatus::kMethodNotAllowed) {
    std::string allow = router::allow_header_value(m.allowed_methods);
    size_t start = 0;
    while (start < allow.size()) {
      const size_t comma = std::min(allow.find(", ", start), allow.size());
      body["allowed_methods"].push_back(allow.substr(start, comma - start));
      start = comma + 2;
    }
  }

  Json candidates = Json::array();
  Json shadows = Json::array();
  Json shadowed_by = Json::array();
  for (size_t i = 0; i < router.size(); ++i) {
    const router::RouteSpec& spec = router.route(i);
    if (!path_matches(spec, q->host, path, false)) continue;
    Json c = Json::object();
    c["route"] = spec.name;
    const bool host_ok = path_matches(spec, q->host, path, true);
    const std::string why_not = unmet(spec, *q, method, host_ok);
    c["matched"] = why_not.empty();
    if (found && i == m.route) {
      c["reason"] = "chosen: host, path, method and headers match, and nothing ranks above it";
    } else if (!why_not.empty()) {
      c["reason"] = why_not;
      if (found) {
        const router::RouteSpec& chosen = router.route(m.route);
        if (auto v = variant(chosen, spec, method)) {
          std::vector<std::pair<std::string, std::string>> h = q->headers;
          h.insert(h.end(), v->second.begin(), v->second.end());
          const std::vector<http::Header> hv = header_views(h);
          std::vector<router::RouteSpec> pair = i < m.route
                                                    ? std::vector<router::RouteSpec>{spec, chosen}
                                                    : std::vector<router::RouteSpec>{chosen, spec};
          std::unique_ptr<router::Router> two = router::Router::build(std::move(pair), nullptr);
          if (two && host_ok) {
            const router::MatchResult vm = two->match(q->host, v->first, path, hv);
            if (vm.status == router::MatchStatus::kFound &&
                two->route(vm.route).name == spec.name) {
              shadowed_by.push_back(spec.name);
              c["reason"] = why_not + "; with it, it would take the request (" +
                            ranks_above(spec, i, chosen, m.route) + ")";
            }
          }
        }
      }
    } else if (found) {
      const router::RouteSpec& chosen = router.route(m.route);
      c["reason"] = "matches too, but '" + chosen.name +
                    "' ranks above it: " + ranks_above(chosen, m.route, spec, i);
      shadows.push_back(spec.name);
    } else {
      c["reason"] = "matches";
    }
    candidates.push_back(std::move(c));
  }
  if (found) {
    body["reason"] =
        "route '" + router.route(m.route).name + "' takes it" +
        (shadows.empty() ? ""
                         : " over " + std::to_string(shadows.size()) + " other matching route(s)");
  } else if (m.status == router::MatchStatus::kMethodNotAllowed) {
    body["reason"] = "routes match the host and path but not the method " + q->method +
                     " (the gateway answers 405)";
  } else {
    body["reason"] = candidates.empty()
                         ? "no route's path pattern matches (the gateway answers 404)"
                         : "routes match the path but not the host or headers (the gateway "
                           "answers 404)";
  }
  body["candidates"] = std::move(candidates);
  body["shadows"] = std::move(shadows);
  body["shadowed_by"] = std::move(shadowed_by);
  Response r;
  r.body = body.dump() + "\n";
  return r;
}

}  // namespace sluice::api
