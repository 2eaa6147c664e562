// Builds large random route tables and checks every match against a naive linear matcher that
// states the precedence rules directly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "router/pattern.h"
#include "router/router.h"

namespace sluice::router {
namespace {

using http::Header;
using http::Method;

const char* const kStatics[] = {"a", "b", "api", "v1", "", "x%2Fy"};
const char* const kValues[] = {"a", "b", "api", "v1", "", "zz", "123", "x%2Fy"};
const char* const kRouteHosts[] = {"", "", "", "a.test", "b.a.test", "*.test", "*.a.test"};
const char* const kRequestHosts[] = {"",       "a.test", "A.TEST:8080", "b.a.test", "c.b.a.test",
                                     "x.test", "test",   "other.org",   "[::1]:80", "B.A.test."};
const Method kMethods[] = {Method::kGet, Method::kPost, Method::kPut, Method::kDelete};

struct NaiveMatch {
  MatchStatus status = MatchStatus::kNotFound;
  size_t route = 0;
  std::vector<std::pair<std::string, std::string>> params;
  uint16_t allowed = 0;
};

class Naive {
 public:
  explicit Naive(const std::vector<RouteSpec>& specs) : specs_(specs) {
    for (const RouteSpec& s : specs) {
      ParsedPattern p;
      EXPECT_EQ(parse_pattern(s.path, &p), "");
      patterns_.push_back(p);
    }
  }

  NaiveMatch match(std::string_view host, Method method, std::string_view path,
                   const std::vector<Header>& headers) const {
    std::string name = lower(host_name(host));
    std::vector<std::string> trees;  // host keys in lookup order
    if (!name.empty()) {
      trees.push_back(name);
      if (name.front() != '[') {
        for (size_t dot = name.find('.', 1); dot != std::string::npos;
             dot = name.find('.', dot + 1)) {
          trees.push_back("*" + name.substr(dot));
        }
      }
    }
    trees.push_back("");
    NaiveMatch out;
    for (const std::string& tree : trees) {
      std::optional<size_t> best;
      std::vector<int> best_kinds;
      std::vector<std::string> best_caps;
      for (size_t i = 0; i < specs_.size(); ++i) {
        if (specs_[i].host != tree) continue;
        std::vector<int> kinds;
        std::vector<std::string> caps;
        if (!matches(patterns_[i], path, &kinds, &caps)) continue;
        if (!headers_ok(specs_[i], headers)) continue;
        if (specs_[i].methods != 0 && !(specs_[i].methods & http::method_bit(method))) {
          out.allowed |= specs_[i].methods;
          continue;
        }
        if (!best || better(kinds, i, best_kinds, *best)) {
          best = i;
          best_kinds = kinds;
          best_caps = caps;
        }
      }
      if (best) {
        out.status = MatchStatus::kFound;
        out.route = *best;
        for (size_t k = 0; k < best_caps.size(); ++k) {
          out.params.emplace_back(patterns_[*best].param_names[k], best_caps[k]);
        }
        out.allowed = 0;
        return out;
      }
    }
    if (out.allowed) out.status = MatchStatus::kMethodNotAllowed;
    return out;
  }

 private:
  static std::string lower(std::string_view s) {
    std::string o(s);
    for (char& c : o) c = http::ascii_lower(c);
    return o;
  }

  static bool matches(const ParsedPattern& p, std::string_view path, std::vector<int>* kinds,
                      std::vector<std::string>* caps) {
    if (path.empty() || path[0] != '/') return false;
    std::vector<std::string> segs;
    std::vector<size_t> starts;
    size_t i = 0;
    while (i < path.size()) {
      size_t end = std::min(path.find('/', i + 1), path.size());
      starts.push_back(i + 1);
      segs.emplace_back(path.substr(i + 1, end - i - 1));
      i = end;
    }
    for (size_t k = 0; k < p.segments.size(); ++k) {
      const PatternSegment& s = p.segments[k];
      if (k >= segs.size()) return false;
      switch (s.kind) {
        case PatternSegment::Kind::kStatic:
          if (segs[k] != s.text) return false;
          kinds->push_back(0);
          break;
        case PatternSegment::Kind::kParam:
          if (segs[k].empty()) return false;
          kinds->push_back(1);
          caps->push_back(segs[k]);
          break;
        case PatternSegment::Kind::kCatchAll:
          kinds->push_back(2);
          caps->emplace_back(path.substr(starts[k]));
          return true;
      }
    }
    return segs.size() == p.segments.size();
  }

  static bool headers_ok(const RouteSpec& s, const std::vector<Header>& headers) {
    for (const HeaderMatch& h : s.headers) {
      bool found = false;
      for (const Header& rh : headers)
        found |= http::iequals(rh.name, h.name) && rh.value == h.value;
      if (!found) return false;
    }
    return true;
  }

  // Static < param < catch-all at the first segment where two patterns differ; then the
  // tie-breaks among routes with the same pattern.
  bool better(const std::vector<int>& ka, size_t a, const std::vector<int>& kb, size_t b) const {
    if (ka != kb) return ka < kb;
    const RouteSpec& ra = specs_[a];
    const RouteSpec& rb = specs_[b];
    if (ra.priority != rb.priority) return ra.priority > rb.priority;
    if (ra.headers.size() != rb.headers.size()) return ra.headers.size() > rb.headers.size();
    if ((ra.methods != 0) != (rb.methods != 0)) return ra.methods != 0;
    return a < b;
  }

  const std::vector<RouteSpec>& specs_;
  std::vector<ParsedPattern> patterns_;
};

template <class T, size_t N>
const T& pick(std::mt19937& rng, const T (&arr)[N]) {
  return arr[std::uniform_int_distribution<size_t>(0, N - 1)(rng)];
}

// restricted_pct: share of routes with a method set; in `strict` tables the first segment is
// always static, so that some paths match nothing.
RouteSpec random_route(std::mt19937& rng, size_t index, int restricted_pct, bool strict) {
  std::uniform_int_distribution<int> pct(0, 99);
  RouteSpec s;
  s.name = "r" + std::to_string(index);
  const int segments = std::uniform_int_distribution<int>(1, 5)(rng);
  for (int k = 0; k < segments; ++k) {
    const int roll = pct(rng);
    s.path += "/";
    if (strict && k == 0) {
      s.path += pick(rng, kStatics);
    } else if (k == segments - 1 && roll < 12) {
      s.path += "{*rest}";
    } else if (roll < 35) {
      s.path += "{p" + std::to_string(k) + "}";
    } else {
      s.path += pick(rng, kStatics);
    }
  }
  s.host = pick(rng, kRouteHosts);
  if (pct(rng) < restricted_pct) {
    for (Method m : {Method::kGet, Method::kPost, Method::kPut}) {
      if (pct(rng) < 50) s.methods |= http::method_bit(m);
    }
  }
  const int h = pct(rng);
  if (h < 10)
    s.headers = {{"x-k", "1"}};
  else if (h < 15)
    s.headers = {{"x-k", "2"}};
  else if (h < 20)
    s.headers = {{"x-k", "1"}, {"x-j", "1"}};
  const int p = pct(rng);
  s.priority = p < 10 ? 1 : (p < 15 ? -1 : 0);
  return s;
}

std::string random_path(std::mt19937& rng, const std::vector<RouteSpec>& specs) {
  std::uniform_int_distribution<int> pct(0, 99);
  std::string path;
  if (pct(rng) < 60) {  // derived from a route, so that most paths hit something
    const RouteSpec& s = specs[std::uniform_int_distribution<size_t>(0, specs.size() - 1)(rng)];
    ParsedPattern p;
    parse_pattern(s.path, &p);
    for (const PatternSegment& seg : p.segments) {
      path += "/";
      if (seg.kind == PatternSegment::Kind::kStatic) {
        path += seg.text;
      } else if (seg.kind == PatternSegment::Kind::kParam) {
        path += pct(rng) < 10 ? "" : pick(rng, kValues);
      } else {
        const int rest = std::uniform_int_distribution<int>(0, 3)(rng);
        for (int k = 0; k < rest; ++k) path += std::string(k ? "/" : "") + pick(rng, kValues);
      }
    }
    if (pct(rng) < 5) path += "/";
    return path;
  }
  const int segments = std::uniform_int_distribution<int>(1, 6)(rng);
  for (int k = 0; k < segments; ++k) path += std::string("/") + pick(rng, kValues);
  return path;
}

struct Outcomes {
  int found = 0;
  int not_allowed = 0;
  int not_found = 0;
};

void check_against_naive(uint32_t seed, size_t route_count, int restricted_pct, bool strict,
                         int lookups, Outcomes* outcomes) {
  std::mt19937 rng(seed);
  std::vector<RouteSpec> specs;
  for (size_t i = 0; i < route_count; ++i)
    specs.push_back(random_route(rng, i, restricted_pct, strict));
  // Drop the duplicates the builder reports, then the rest must build.
  std::vector<RouterError> errors;
  EXPECT_EQ(Router::build(specs, &errors), nullptr);
  std::set<size_t> drop;
  for (const RouterError& e : errors) {
    ASSERT_TRUE(e.other.has_value()) << e.message;
    EXPECT_LT(*e.other, e.route);
    drop.insert(e.route);
  }
  std::vector<RouteSpec> unique;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!drop.count(i)) unique.push_back(specs[i]);
  }
  ASSERT_GE(unique.size(), 1000u);
  errors.clear();
  auto router = Router::build(unique, &errors);
  ASSERT_NE(router, nullptr) << errors.front().message;
  Naive naive(unique);

  std::uniform_int_distribution<int> pct(0, 99);
  Outcomes& o = *outcomes;
  for (int n = 0; n < lookups; ++n) {
    const std::string path = random_path(rng, unique);
    const std::string_view host = pick(rng, kRequestHosts);
    const Method method = pick(rng, kMethods);
    std::vector<Header> headers;
    if (pct(rng) < 30) headers.push_back({"X-K", pct(rng) < 70 ? "1" : "2"});
    if (pct(rng) < 20) headers.push_back({"x-j", "1"});
    const NaiveMatch want = naive.match(host, method, path, headers);
    const MatchResult got = router->match(host, method, path, headers);
    const std::string where = "path=" + path + " host=" + std::string(host) +
                              " method=" + std::string(http::method_name(method));
    ASSERT_EQ(got.status, want.status) << where;
    if (want.status == MatchStatus::kFound) {
      ++o.found;
      ASSERT_EQ(got.route, want.route)
          << where << " got " << unique[got.route].path << " want " << unique[want.route].path;
      ASSERT_EQ(got.param_count, want.params.size()) << where;
      for (size_t k = 0; k < got.param_count; ++k) {
        EXPECT_EQ(got.params[k].name, want.params[k].first) << where;
        EXPECT_EQ(got.params[k].value, want.params[k].second) << where;
      }
      EXPECT_EQ(got.allowed_methods, 0) << where;
    } else if (want.status == MatchStatus::kMethodNotAllowed) {
      ++o.not_allowed;
      EXPECT_EQ(got.allowed_methods, want.allowed) << where;
    } else {
      ++o.not_found;
      EXPECT_EQ(got.allowed_methods, 0) << where;
    }
  }
}

TEST(RouterRandom, MatchesNaiveMatcherSmallAlphabet) {
  Outcomes o;
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(seed);
    check_against_naive(seed, 1500, 40, false, 2500, &o);
  }
  for (uint32_t seed : {4u, 5u}) {
    SCOPED_TRACE(seed);
    check_against_naive(seed, 1200, 97, true, 2500, &o);
  }
  std::printf("found=%d 405=%d 404=%d\n", o.found, o.not_allowed, o.not_found);
  // The generator must exercise every outcome.
  EXPECT_GT(o.found, 3000);
  EXPECT_GT(o.not_allowed, 50);
  EXPECT_GT(o.not_found, 200);
}

TEST(RouterRandom, MatchesNaiveMatcherManyRoutes) {
  Outcomes o;
  check_against_naive(99, 4000, 60, false, 1500, &o);
  EXPECT_GT(o.found, 1000);
}

}  // namespace
}  // namespace sluice::router
