#include "router/router.h"

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "router/bytes.h"
#include "router/pattern.h"

namespace sluice::router {
namespace {

static_assert(kMaxParams == kMaxPatternParams);

// Every method a route may list: kOther is routed only by routes without methods.
constexpr uint16_t kListableMethods =
    static_cast<uint16_t>(http::method_bit(http::Method::kOther) - 1);

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = http::ascii_lower(c);
  return out;
}

std::string describe(const RouteSpec& spec, size_t index) {
  return "route \"" + spec.name + "\" (#" + std::to_string(index) + ")";
}

// "" when the (lower-cased) host is acceptable.
std::string check_host(std::string_view host) {
  if (host.empty()) return {};
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == '?' || c == '#' || c == '@') {
      return "invalid character in host";
    }
  }
  if (host.front() == '[') {
    if (host.back() != ']') return "an IPv6 host must be written \"[address]\", without a port";
    return {};
  }
  if (host.find(':') != std::string_view::npos) return "host must not include a port";
  const size_t star = host.find('*');
  if (star != std::string_view::npos) {
    if (star != 0 || host.size() < 3 || host[1] != '.' ||
        host.find('*', 1) != std::string_view::npos) {
      return "a wildcard host must be \"*.domain\"";
    }
    if (host[2] == '.') return "a wildcard host must be \"*.domain\"";
  }
  return {};
}

bool headers_match(const std::vector<HeaderMatch>& wanted, std::span<const http::Header> have) {
  for (const HeaderMatch& w : wanted) {
    bool found = false;
    for (const http::Header& h : have) {
      if (h.value == w.value && http::iequals(h.name, w.name)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

struct Router::MatchContext {
  const Router* router;
  std::span<const http::Header> headers;
  uint16_t method_bit;
  uint16_t allowed;
  MatchResult* result;
};

std::unique_ptr<Router> Router::build(std::vector<RouteSpec> specs,
                                      std::vector<RouterError>* errors) {
  std::unique_ptr<Router> router(new Router());
  bool failed = false;
  auto fail = [&](size_t route, std::optional<size_t> other, std::string message) {
    failed = true;
    if (errors) errors->push_back(RouterError{route, other, std::move(message)});
  };

  // Routes that would match the same requests, by what makes them so (one string: a hash
  // lookup, where a map of tuples compared strings 14 times a route).
  std::unordered_map<std::string, size_t> seen;
  seen.reserve(specs.size());
  std::string dup_key;
  std::vector<ParsedPattern> parsed(specs.size());
  std::vector<std::string> hosts(specs.size());
  router->routes_.resize(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const RouteSpec& spec = specs[i];
    bool ok = true;
    if (std::string err = parse_pattern(spec.path, &parsed[i]); !err.empty()) {
      fail(i, std::nullopt, describe(spec, i) + ": invalid pattern \"" + spec.path + "\": " + err);
      ok = false;
    }
    hosts[i] = lower(spec.host);
    if (hosts[i].size() > 1 && hosts[i].back() == '.') hosts[i].pop_back();
    if (std::string err = check_host(hosts[i]); !err.empty()) {
      fail(i, std::nullopt, describe(spec, i) + ": invalid host \"" + spec.host + "\": " + err);
      ok = false;
    }
    if (spec.methods & ~kListableMethods) {
      fail(i, std::nullopt,
           describe(spec, i) + ": lists a method the router does not know; only " +
               allow_header_value(kListableMethods) +
               " can be listed (other methods are routed by routes without methods)");
      ok = false;
    }
    CompiledRoute& cr = router->routes_[i];
    cr.methods = spec.methods;
    cr.priority = spec.priority;
    cr.param_names = parsed[i].param_names;
    for (const HeaderMatch& h : spec.headers) {
      if (h.name.empty()) {
        fail(i, std::nullopt, describe(spec, i) + ": header match with an empty name");
        ok = false;
      }
      cr.headers.push_back(HeaderMatch{lower(h.name), h.value});
    }
    if (!ok) continue;
    std::vector<std::pair<std::string_view, std::string_view>> header_key;
    for (const HeaderMatch& h : cr.headers) header_key.emplace_back(h.name, h.value);
    std::sort(header_key.begin(), header_key.end());
    // Lengths before texts: no two different keys write the same string.
    auto add = [&dup_key](std::string_view part) {
      dup_key.append(std::to_string(part.size())).push_back(':');
      dup_key.append(part);
    };
    dup_key.clear();
    add(hosts[i]);
    add(parsed[i].canonical);
    add(std::to_string(spec.methods));
    add(std::to_string(spec.priority));
    for (const auto& [name, value] : header_key) {
      add(name);
      add(value);
    }
    auto [it, inserted] = seen.emplace(dup_key, i);
    if (!inserted) {
      const size_t other = it->second;
      fail(i, other,
           describe(spec, i) + " duplicates " + describe(specs[other], other) +
               ": same host, pattern, methods, headers and priority, so it could never be chosen");
    }
  }
  if (failed) return nullptr;

  // One tree per exact host, per wildcard host, and one for host-less routes.
  std::map<std::string, uint32_t> roots;
  std::vector<std::vector<uint32_t>> leaves;
  for (size_t i = 0; i < specs.size(); ++i) {
    auto [it, inserted] = roots.emplace(hosts[i], 0);
    if (inserted) it->second = router->tree_.add_root();
    const uint32_t leaf = router->tree_.insert(it->second, parsed[i].segments);
    if (leaf >= leaves.size()) leaves.resize(leaf + 1);
    leaves[leaf].push_back(static_cast<uint32_t>(i));
  }
  router->tree_.freeze();
  for (const auto& [host, root] : roots) {
    if (host.empty()) {
      router->default_root_ = root;
    } else if (host.front() == '*') {
      router->wildcard_hosts_.insert(host.substr(1), root);
    } else {
      router->exact_hosts_.insert(host, root);
    }
  }

  // Precedence among routes with one pattern: priority, then more header matches, then a method
  // restriction over "any", then config order.
  const auto& routes = router->routes_;
  auto better = [&routes](uint32_t a, uint32_t b) {
    const CompiledRoute& ra = routes[a];
    const CompiledRoute& rb = routes[b];
    if (ra.priority != rb.priority) return ra.priority > rb.priority;
    if (ra.headers.size() != rb.headers.size()) return ra.headers.size() > rb.headers.size();
    if ((ra.methods != 0) != (rb.methods != 0)) return ra.methods != 0;
    return a < b;
  };
  std::vector<uint32_t> names_of(routes.size());
  for (size_t i = 0; i < routes.size(); ++i) {
    names_of[i] = static_cast<uint32_t>(router->param_names_.size());
    for (const std::string& n : routes[i].param_names) router->param_names_.push_back(n);
  }
  std::vector<uint32_t> first_candidate(leaves.size());
  for (size_t l = 0; l < leaves.size(); ++l) {
    std::vector<uint32_t>& leaf = leaves[l];
    std::sort(leaf.begin(), leaf.end(), better);
    first_candidate[l] = static_cast<uint32_t>(router->candidates_.size());
    for (uint32_t i : leaf) {
      router->candidates_.push_back(Candidate{i, names_of[i], routes[i].methods,
                                              static_cast<uint16_t>(routes[i].headers.size()),
                                              i == leaf.back()});
    }
  }
  router->tree_.renumber_leaves(first_candidate);
  router->specs_ = std::move(specs);
  return router;
}

bool Router::select(MatchContext* ctx, uint32_t first, RadixTree::Capture* captures,
                    size_t count) const {
  for (const Candidate* c = &candidates_[first];; ++c) {
    if (c->header_count != 0 && !headers_match(routes_[c->route].headers, ctx->headers)) {
      if (c->last) return false;
      continue;
    }
    if (c->methods != 0 && !(c->methods & ctx->method_bit)) {
      ctx->allowed |= c->methods;
      if (c->last) return false;
      continue;
    }
    MatchResult& m = *ctx->result;
    m.status = MatchStatus::kFound;
    m.route = c->route;
    m.param_count = count;
    const std::string_view* names = param_names_.data() + c->names;
    for (size_t j = 0; j < count; ++j) {
      m.params[j] = Param{names[j], std::string_view(captures[j].data, captures[j].size)};
    }
    return true;
  }
}

MatchResult Router::match(std::string_view host, http::Method method, std::string_view path,
                          std::span<const http::Header> headers) const {
  MatchResult result;
  MatchContext ctx{this, headers, http::method_bit(method), 0, &result};
  auto visit = [](void* c, uint32_t leaf, RadixTree::Capture* captures, size_t count) {
    auto* mc = static_cast<MatchContext*>(c);
    return mc->router->select(mc, leaf, captures, count);
  };
  auto found_in = [&](uint32_t root) {
    return root != RadixTree::kNone && tree_.find(root, path, visit, &ctx);
  };
  const std::string_view name = host_name(host);
  if (!name.empty()) {
    if (found_in(exact_hosts_.find(name))) return result;
    if (!wildcard_hosts_.empty() && name.front() != '[') {
      // Longest suffix first, and only suffixes as long as a configured one. The suffix must
      // leave a label before it: "*.example.com" does not match the apex.
      for (const uint32_t len : wildcard_hosts_.lengths()) {
        if (len >= name.size() || name[name.size() - len] != '.') continue;
        if (found_in(wildcard_hosts_.find(name.substr(name.size() - len)))) return result;
      }
    }
  }
  if (found_in(default_root_)) return result;
  if (ctx.allowed != 0) {
    result.status = MatchStatus::kMethodNotAllowed;
    result.allowed_methods = ctx.allowed;
  }
  return result;
}

std::string allow_header_value(uint16_t methods) {
  std::string out;
  for (int m = 0; m < http::kMethodCount; ++m) {
    const auto method = static_cast<http::Method>(m);
    if (method == http::Method::kOther || !(methods & http::method_bit(method))) continue;
    if (!out.empty()) out.append(", ");
    out.append(http::method_name(method));
  }
  return out;
}

}  // namespace sluice::router
