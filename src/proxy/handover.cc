#include "proxy/handover.h"

#include <charconv>
#include <vector>

#include "http/char_class.h"

namespace sluice::proxy {
namespace {

constexpr std::string_view kMagic = "sluice-state 1";

std::string hex(std::string_view s) {
  return s.empty() ? "-" : http::hex_encode(s);  // "-": empty (a field is never blank)
}

bool unhex(std::string_view s, std::string* out) {
  out->clear();
  if (s == "-") return true;
  if (s.size() % 2 != 0) return false;
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = http::hex_value(s[i]);
    const int lo = http::hex_value(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
  }
  return true;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    const size_t sp = line.find(' ');
    out.push_back(line.substr(0, sp));
    line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  }
  return out;
}

template <typename T>
bool number(std::string_view s, T* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::string encode_rate_limits(RuntimeRegistry& registry) {
  std::string out(kMagic);
  out += '\n';
  registry.for_each_rate_limit([&](const std::string& route, const std::string& policy,
                                   size_t max_keys, RateLimitRuntime& rt) {
    out += "P " + hex(route) + " " + hex(policy) + " " + std::to_string(max_keys) + "\n";
    rt.store.for_each(
        [&](std::string_view key, limits::RateAlgorithm a, const limits::RateState& st) {
          out += "K " + hex(key) + " " + std::to_string(static_cast<int>(a)) + " " +
                 std::to_string(st.time) + " " + std::to_string(st.count) + " " +
                 std::to_string(st.carry);
          if (st.slots) {
            for (const limits::SlidingSlot& slot : st.slots->slot) {
              out += " " + std::to_string(slot.count) + ":" + std::to_string(slot.last);
            }
          }
          out += "\n";
        });
  });
  return out;
}

size_t restore_rate_limits(std::string_view text, RuntimeRegistry& registry, std::string* error) {
  size_t restored = 0;
  size_t line_no = 0;
  limits::LimiterStore* store = nullptr;  // of the last P line, null when it is dropped
  std::vector<std::pair<std::pair<std::string, std::string>, size_t>> wanted;
  registry.for_each_rate_limit(
      [&](const std::string& route, const std::string& policy, size_t max_keys, RateLimitRuntime&) {
        wanted.push_back({{route, policy}, max_keys});
      });
  auto fail = [&](const char* why) {
    *error = "line " + std::to_string(line_no) + ": " + why;
    return restored;
  };
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line_no == 1) {
      if (line != kMagic) return fail("not a sluice state");
      continue;
    }
    const std::vector<std::string_view> f = fields(line);
    if (f.empty()) continue;
    if (f[0] == "P") {
      std::string route;
      std::string policy;
      size_t max_keys = 0;
      if (f.size() != 4 || !unhex(f[1], &route) || !unhex(f[2], &policy) ||
          !number(f[3], &max_keys)) {
        return fail("malformed policy");
      }
      store = nullptr;
      for (const auto& w : wanted) {
        if (w.first.first == route && w.first.second == policy && w.second == max_keys) {
          store = &registry.rate_limit(route, policy, max_keys)->store;
        }
      }
      continue;
    }
    if (f[0] == "T") continue;  // restore_targets'
    if (f[0] != "K" || f.size() < 6) return fail("malformed key");
    std::string key;
    int algorithm = 0;
    limits::RateState st;
    if (!unhex(f[1], &key) || !number(f[2], &algorithm) || algorithm < 0 || algorithm > 2 ||
        !number(f[3], &st.time) || !number(f[4], &st.count) || !number(f[5], &st.carry)) {
      return fail("malformed key");
    }
    if (f.size() > 6) {
      if (f.size() != 6 + limits::kSlidingSubWindows + 1) return fail("malformed sub-windows");
      st.slots = std::make_unique<limits::SlidingSlots>();
      for (size_t i = 6; i < f.size(); ++i) {
        const size_t colon = f[i].find(':');
        limits::SlidingSlot& slot = st.slots->slot[i - 6];
        if (colon == std::string_view::npos || !number(f[i].substr(0, colon), &slot.count) ||
            !number(f[i].substr(colon + 1), &slot.last)) {
          return fail("malformed sub-window");
        }
      }
    }
    if (store != nullptr) {
      store->restore(key, static_cast<limits::RateAlgorithm>(algorithm), st);
      ++restored;
    }
  }
  return restored;
}

std::string encode_targets(RuntimeRegistry& registry) {
  std::string out;
  registry.for_each_target([&](balance::TargetState& t) {
    out += "T " + hex(t.upstream) + " " + hex(t.key) + " " +
           std::to_string(static_cast<int>(t.health.load(std::memory_order_relaxed))) + " " +
           std::to_string(t.ejected_until_ms.load(std::memory_order_relaxed)) + " " +
           std::to_string(t.ejections.load(std::memory_order_relaxed)) + " " +
           std::to_string(t.consecutive_failures.load(std::memory_order_relaxed)) + "\n";
  });
  return out;
}

size_t restore_targets(std::string_view text, RuntimeRegistry& registry, std::string* error) {
  size_t restored = 0;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    const std::vector<std::string_view> f = fields(line);
    if (f.empty() || f[0] != "T") continue;
    std::string upstream;
    std::string key;
    int health = 0;
    uint64_t ejected_until = 0;
    uint32_t ejections = 0;
    uint32_t failures = 0;
    if (f.size() != 7 || !unhex(f[1], &upstream) || !unhex(f[2], &key) || !number(f[3], &health) ||
        health < 0 || health > 2 || !number(f[4], &ejected_until) || !number(f[5], &ejections) ||
        !number(f[6], &failures)) {
      *error = "line " + std::to_string(line_no) + ": malformed target";
      return restored;
    }
    std::shared_ptr<balance::TargetState> t = registry.find_target(upstream, key);
    if (!t) continue;  // no longer configured
    t->health.store(static_cast<balance::Health>(health), std::memory_order_relaxed);
    t->ejected_until_ms.store(ejected_until, std::memory_order_relaxed);
    t->ejections.store(ejections, std::memory_order_relaxed);
    t->consecutive_failures.store(failures, std::memory_order_relaxed);
    ++restored;
  }
  return restored;
}

}  // namespace sluice::proxy
