// Host handling for routing: the name part of a Host header value, and a case-insensitive map from
// configured host names to radix-tree roots that is searched with string_views (no allocation).
// Example:
//   HostMap m;
//   m.insert("api.example.com", 3);
//   m.find(host_name("API.Example.com:8443"));  // 3
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/header.h"

namespace sluice::router {

// "Example.com:80" -> "Example.com", "[::1]:80" -> "[::1]"; a trailing dot (FQDN form) is dropped.
constexpr std::string_view host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

class HostMap {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  void insert(std::string lower_name, uint32_t value) {
    map_.emplace(std::move(lower_name), value);
  }
  uint32_t find(std::string_view name) const {
    if (map_.empty()) return kNone;
    const auto it = map_.find(name);
    return it == map_.end() ? kNone : it->second;
  }
  bool empty() const { return map_.empty(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      uint64_t h = 0xcbf29ce484222325ULL;
      for (char c : s)
        h = (h ^ static_cast<unsigned char>(http::ascii_lower(c))) * 0x100000001b3ULL;
      return static_cast<size_t>(h);
    }
  };
  struct Equal {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return http::iequals(a, b); }
  };
  std::unordered_map<std::string, uint32_t, Hash, Equal> map_;
};

}  // namespace sluice::router
