// The route table: compiles RouteSpecs (host, path pattern, methods, header matches, priority) into
// radix trees once per config snapshot, then picks the route for each request without allocating.
// Example:
//   std::vector<RouterError> errors;
//   auto router = Router::build({{.name = "user", .path = "/users/{id}",
//                                 .methods = http::method_bit(http::Method::kGet)}}, &errors);
//   MatchResult m = router->match("api.example.com", http::Method::kGet, "/users/42", {});
//   // m.status == MatchStatus::kFound, m.route == 0, m.params[0] == {"id", "42"}
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/header.h"
#include "http/method.h"
#include "router/host.h"
#include "router/radix_tree.h"

namespace sluice::router {

inline constexpr size_t kMaxParams = 16;

struct HeaderMatch {
  std::string name;   // lower-case
  std::string value;  // exact value match
};

struct RouteSpec {
  std::string name;
  std::string path;      // pattern: "/users/{id}", "/static/{*rest}", "/hello"
  uint16_t methods = 0;  // bit set of http::method_bit(); 0 = any method
  // "" = any host; "api.example.com" exact; "*.example.com" any subdomain (not the apex).
  // lower-case
  std::string host;
  std::vector<HeaderMatch> headers;
  int priority = 0;  // higher wins among otherwise equal candidates
};

// One problem found by Router::build; route and other index into the specs.
struct RouterError {
  size_t route;
  std::optional<size_t> other;
  std::string message;
};

struct Param {
  std::string_view name;
  std::string_view value;
};

enum class MatchStatus : uint8_t { kFound, kNotFound, kMethodNotAllowed };

struct MatchResult {
  MatchStatus status = MatchStatus::kNotFound;
  size_t route = 0;  // index into the specs given to build(), when kFound
  std::array<Param, kMaxParams>
      params{};  // names view into the Router's own strings, values into `path`
  size_t param_count = 0;
  uint16_t allowed_methods = 0;  // when kMethodNotAllowed: union of methods that would match
};

class Router {
 public:
  // Compiles the specs. On error returns nullptr and appends every problem to *errors: bad pattern
  // syntax (message says what), and two routes that would match exactly the same requests (same
  // host, equivalent pattern — parameter names do not matter —, same method set, same header
  // matches, same priority): RouterError{route=later index, other=earlier index, message naming
  // both routes by name}. `errors` may be null.
  static std::unique_ptr<Router> build(std::vector<RouteSpec> specs,
                                       std::vector<RouterError>* errors);

  // host: Host header value (may have ":port", any case — strip port and compare
  // case-insensitively; IPv6 "[::1]:80" too). path: an already-normalised path. headers: the
  // request's header fields. No allocation.
  MatchResult match(std::string_view host, http::Method method, std::string_view path,
                    std::span<const http::Header> headers) const;

  const RouteSpec& route(size_t index) const { return specs_[index]; }
  size_t size() const { return specs_.size(); }

  Router(const Router&) = delete;  // match results view into the Router's own strings
  Router& operator=(const Router&) = delete;

 private:
  struct CompiledRoute {
    uint16_t methods = 0;
    int priority = 0;
    std::vector<HeaderMatch> headers;  // names lower-case
    std::vector<std::string> param_names;
  };
  // One route at a leaf of the tree, with what select() needs first, packed together.
  struct Candidate {
    uint32_t route;
    uint32_t names;  // first of its param names in param_names_
    uint16_t methods;
    uint16_t header_count;
    bool last;  // the leaf's candidates end here
  };
  struct MatchContext;

  Router() = default;
  bool select(MatchContext* ctx, uint32_t first, RadixTree::Capture* captures, size_t count) const;

  std::vector<RouteSpec> specs_;
  std::vector<CompiledRoute> routes_;
  // The candidates of each leaf, best first; the tree's leaf values index the first.
  std::vector<Candidate> candidates_;
  std::vector<std::string_view> param_names_;  // views into routes_[].param_names
  RadixTree tree_;
  HostMap exact_hosts_;
  HostMap wildcard_hosts_;  // "*.example.com" is kept as ".example.com"
  uint32_t default_root_ = RadixTree::kNone;
};

// "GET, HEAD, POST" for an Allow header from a method bit set, in enum order.
std::string allow_header_value(uint16_t methods);

// Validates a path pattern alone; "" when fine, else the message.
std::string check_pattern(std::string_view pattern);

}  // namespace sluice::router
