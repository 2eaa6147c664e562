// Host handling for routing: the name part of a Host header value, and a case-insensitive table
// from configured host names to radix-tree roots, searched with string_views (no allocation).
// Example:
//   HostMap m;
//   m.insert("api.example.com", 3);
//   m.find(host_name("API.Example.com:8443"));  // 3
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "router/bytes.h"

namespace sluice::router {

// "Example.com:80" -> "Example.com", "[::1]:80" -> "[::1]"; a trailing dot (FQDN form) is dropped.
inline std::string_view host_name(std::string_view host) {
  size_t end;
  if (!host.empty() && host.front() == '[') {
    end = find_byte(host.data(), host.size(), ']');
    end = end < host.size() ? end + 1 : host.size();
  } else {
    end = find_byte(host.data(), host.size(), ':');
  }
  if (end > 0 && host[end - 1] == '.') --end;
  return host.substr(0, end);
}

class HostMap {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // `name` must be lower-case; a name already present keeps its first value.
  void insert(std::string name, uint32_t value);
  // Case-insensitive; kNone when absent.
  uint32_t find(std::string_view name) const {
    return has_length(name.size()) ? find_slow(name) : kNone;
  }
  bool empty() const { return entries_.empty(); }
  // The distinct name lengths, longest first: a caller trying suffixes of a host tries only these.
  const std::vector<uint32_t>& lengths() const { return lengths_desc_; }

 private:
  struct Entry {
    std::string name;
    uint32_t value;
    uint32_t hash;
  };
  uint32_t find_slow(std::string_view name) const;
  void rehash(size_t slot_count);
  bool has_length(size_t n) const {
    n = n < 255 ? n : 255;
    return (lengths_[n / 64] >> (n % 64)) & 1;
  }

  std::vector<Entry> entries_;
  std::vector<uint32_t> slots_;  // index into entries_, or kNone
  uint64_t lengths_[4] = {};     // which name lengths occur (255 = longer), to skip most misses
  std::vector<uint32_t> lengths_desc_;
};

}  // namespace sluice::router
