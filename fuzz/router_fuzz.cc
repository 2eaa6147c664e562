// Fuzz target for the router: pattern parsing, Router::build, match and normalize_path. No crash,
// no out-of-bounds access, and:
//   - normalize_path is idempotent (normalising a normalised path gives it back unchanged, by the
//     fast path), and rejects exactly the paths that do not start with '/' or hold a bad escape;
//   - Router::build fails exactly when some pattern fails check_pattern or two routes duplicate;
//   - match() agrees with a naive linear matcher that states the precedence rules directly.
// Input: lines. Every line but the last is a route: an optional "@" plus one control byte
// (methods, host, priority, header match) and then the pattern. The last line is the request: one
// control byte (host, method, headers) and then the path.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "router/host.h"
#include "router/path.h"
#include "router/pattern.h"
#include "router/router.h"

using namespace sluice::router;
using sluice::http::Header;
using sluice::http::Method;
using sluice::http::method_bit;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

const char* const kRouteHosts[] = {"", "a.test", "*.test", "b.a.test"};
const char* const kRequestHosts[] = {"", "a.test", "X.A.TEST:80", "b.a.test"};
const Method kMethods[] = {Method::kGet, Method::kPost, Method::kPut, Method::kDelete};

bool hex_ok(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

void check_normalize(std::string_view path) {
  bool valid = !path.empty() && path[0] == '/';
  for (size_t i = 0; valid && i < path.size(); ++i) {
    if (path[i] == '%') {
      valid = i + 2 < path.size() && hex_ok(path[i + 1]) && hex_ok(path[i + 2]);
    }
  }
  std::string s1;
  bool ok1 = !valid;
  const std::string_view n1 = normalize_path(path, s1, &ok1);
  check(ok1 == valid);
  if (!ok1) {
    check(n1.empty());
    return;
  }
  check(!n1.empty() && n1[0] == '/' && n1.size() <= path.size());
  const std::string once(n1);
  std::string s2;
  bool ok2 = false;
  const std::string_view n2 = normalize_path(once, s2, &ok2);
  check(ok2 && n2 == once && n2.data() == once.data());  // idempotent, and by the fast path
}

struct Naive {
  const std::vector<RouteSpec>& specs;
  std::vector<ParsedPattern> patterns;

  static bool matches(const ParsedPattern& p, std::string_view path, std::vector<int>* kinds,
                      std::vector<std::string_view>* caps) {
    if (path.empty() || path[0] != '/') return false;
    size_t pos = 0;  // the '/' before the next segment
    for (const PatternSegment& s : p.segments) {
      if (pos >= path.size()) return false;
      const size_t begin = pos + 1;
      size_t end = path.find('/', begin);
      if (end == std::string_view::npos) end = path.size();
      const std::string_view seg = path.substr(begin, end - begin);
      if (s.kind == PatternSegment::Kind::kStatic) {
        if (seg != s.text) return false;
        kinds->push_back(0);
      } else if (s.kind == PatternSegment::Kind::kParam) {
        if (seg.empty()) return false;
        kinds->push_back(1);
        caps->push_back(seg);
      } else {
        kinds->push_back(2);
        caps->push_back(path.substr(begin));
        return true;
      }
      pos = end;
    }
    return pos == path.size();
  }

  static bool headers_ok(const RouteSpec& s, const std::vector<Header>& hs) {
    for (const HeaderMatch& h : s.headers) {
      bool found = false;
      for (const Header& rh : hs)
        found |= sluice::http::iequals(rh.name, h.name) && rh.value == h.value;
      if (!found) return false;
    }
    return true;
  }

  bool better(const std::vector<int>& ka, size_t a, const std::vector<int>& kb, size_t b) const {
    if (ka != kb) return ka < kb;
    const RouteSpec& ra = specs[a];
    const RouteSpec& rb = specs[b];
    if (ra.priority != rb.priority) return ra.priority > rb.priority;
    if (ra.headers.size() != rb.headers.size()) return ra.headers.size() > rb.headers.size();
    if ((ra.methods != 0) != (rb.methods != 0)) return ra.methods != 0;
    return a < b;
  }

  MatchResult match(std::string_view host, Method method, std::string_view path,
                    const std::vector<Header>& hs) const {
    std::string name(host_name(host));
    for (char& c : name) c = sluice::http::ascii_lower(c);
    std::vector<std::string> trees;
    if (!name.empty()) {
      trees.push_back(name);
      for (size_t dot = name.find('.', 1); dot != std::string::npos;
           dot = name.find('.', dot + 1)) {
        trees.push_back("*" + name.substr(dot));
      }
    }
    trees.push_back("");
    MatchResult out;
    for (const std::string& tree : trees) {
      std::optional<size_t> best;
      std::vector<int> best_kinds;
      std::vector<std::string_view> best_caps;
      for (size_t i = 0; i < specs.size(); ++i) {
        std::vector<int> kinds;
        std::vector<std::string_view> caps;
        if (specs[i].host != tree || !matches(patterns[i], path, &kinds, &caps) ||
            !headers_ok(specs[i], hs)) {
          continue;
        }
        if (specs[i].methods != 0 && !(specs[i].methods & method_bit(method))) {
          out.allowed_methods |= specs[i].methods;
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
        out.allowed_methods = 0;
        out.param_count = best_caps.size();
        for (size_t k = 0; k < best_caps.size(); ++k) {
          out.params[k] = Param{patterns[*best].param_names[k], best_caps[k]};
        }
        return out;
      }
    }
    if (out.allowed_methods) out.status = MatchStatus::kMethodNotAllowed;
    return out;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  for (size_t pos = 0;;) {
    const size_t nl = in.find('\n', pos);
    lines.push_back(
        in.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (lines.size() > 64) return 0;  // keep the naive matcher cheap
  std::string_view request = lines.back();
  lines.pop_back();

  std::vector<RouteSpec> specs;
  bool patterns_ok = true;
  for (std::string_view line : lines) {
    RouteSpec spec;
    spec.name = "r" + std::to_string(specs.size());
    if (line.size() >= 2 && line[0] == '@') {
      const auto c = static_cast<uint8_t>(line[1]);
      for (int b = 0; b < 3; ++b) {
        if (c & (1 << b)) spec.methods |= method_bit(kMethods[b]);
      }
      spec.host = kRouteHosts[(c >> 3) & 3];
      spec.priority = (c >> 5) & 1;
      if (c & 0x40) spec.headers.push_back({"x-k", "1"});
      line.remove_prefix(2);
    }
    spec.path = std::string(line);
    patterns_ok &= check_pattern(spec.path).empty();
    specs.push_back(std::move(spec));
  }

  std::vector<RouterError> errors;
  const auto router = Router::build(specs, &errors);
  check((router != nullptr) == errors.empty());
  if (!patterns_ok) check(router == nullptr);
  for (const RouterError& e : errors) {
    check(e.route < specs.size() && !e.message.empty());
    if (e.other) check(*e.other < e.route);
  }

  uint8_t control = 0;
  if (!request.empty()) {
    control = static_cast<uint8_t>(request[0]);
    request.remove_prefix(1);
  }
  check_normalize(request);
  if (!router) return 0;

  const std::string_view host = kRequestHosts[control & 3];
  const Method method = kMethods[(control >> 2) & 3];
  std::vector<Header> headers;
  if (control & 0x10) headers.push_back({"X-K", "1"});
  if (control & 0x20) headers.push_back({"x-k", "2"});

  Naive naive{specs, {}};
  for (const RouteSpec& s : specs) {
    naive.patterns.emplace_back();
    check(parse_pattern(s.path, &naive.patterns.back()).empty());
  }
  std::string scratch;
  bool ok = false;
  const std::string_view normalized = normalize_path(request, scratch, &ok);
  for (std::string_view path : {request, ok ? normalized : std::string_view("/")}) {
    const MatchResult got = router->match(host, method, path, headers);
    const MatchResult want = naive.match(host, method, path, headers);
    check(got.status == want.status);
    check(got.allowed_methods == want.allowed_methods);
    if (got.status != MatchStatus::kFound) continue;
    check(got.route == want.route && got.param_count == want.param_count);
    for (size_t k = 0; k < got.param_count; ++k) {
      check(got.params[k].name == want.params[k].name);
      check(got.params[k].value == want.params[k].value);
      check(got.params[k].value.data() >= path.data() &&
            got.params[k].value.data() + got.params[k].value.size() <= path.data() + path.size());
    }
  }
  return 0;
}
