// See reader.h.
#include "config/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <system_error>

#include "config/scalars.h"
#include "http/method.h"

namespace sluice::config {
namespace {

constexpr size_t kMaxSmallFileBytes = size_t{1} << 20;  // secret_file, pem_file, body files

}  // namespace

Mark mark_of(const Node& n, Mark fallback) {
  const Mark m = n.mark();
  return m.line > 0 ? m : fallback;
}

Mark value_mark(const Node& v, Mark key_mark) {
  if (v.is_null()) return key_mark;
  const Mark m = mark_of(v, key_mark);
  if (m.source != key_mark.source) return m;
  if (m.line < key_mark.line || (m.line == key_mark.line && m.col < key_mark.col)) return key_mark;
  return m;
}

std::string join(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out = path;
  out += '.';
  out += key;
  return out;
}

std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string quote(std::string_view s) {
  constexpr size_t kMax = 80;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += '\'';
  return out;
}

std::string describe(const Node& n) {
  switch (n.type()) {
    case NodeType::kScalar:
      return quote(n.scalar());
    case NodeType::kSequence:
      return "a list";
    case NodeType::kMap:
      return "a map";
    case NodeType::kNull:
    case NodeType::kUndefined:
      break;
  }
  return "nothing";
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return s;
}

std::string upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
  return s;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

bool is_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_header_value(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

std::string format_ms(uint64_t ms) {
  if (ms != 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

bool is_query_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '&' || c == '=' || c == '#' || c == '?') return false;
  }
  return true;
}

bool is_request_path(std::string_view s) {
  if (s.empty() || s.front() != '/') return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '#') return false;
  }
  return true;
}

std::string Reader::unique_name(const MapItem& m, const char* key, std::string_view what,
                                std::map<std::string, Mark>& seen, bool record_invalid,
                                std::string_view scope) {
  const Item* n = require(m, key);
  if (n == nullptr) return {};
  std::optional<std::string> name = string(*n);
  if (!name) return {};
  const bool valid = is_name(*name);
  if (!valid) {
    error(n->mark, n->path,
          "invalid " + std::string(what) + " " + quote(*name) +
              ": use letters, digits, '_', '.', '-'");
  }
  if (valid || record_invalid) {
    auto [prev, inserted] = seen.emplace(*name, n->mark);
    if (!inserted && valid) {
      error(n->mark, n->path,
            "duplicate " + std::string(what) + " " + quote(*name) + std::string(scope) +
                " (first defined at " + where(prev->second, n->mark) + ")");
    }
  }
  return std::move(*name);
}

std::optional<MapItem> Reader::map(const Item& it, std::initializer_list<std::string_view> known) {
  return map(it, std::span<const std::string_view>(known.begin(), known.size()));
}

std::optional<MapItem> Reader::map(const Item& it, std::span<const std::string_view> known) {
  MapItem out{it, {}};
  if (it.node.is_null()) return out;
  if (!it.node.is_map()) {
    error(it.mark, it.path, "expected a map, got " + describe(it.node));
    return std::nullopt;
  }
  std::map<std::string, Mark> seen;
  for (size_t i = 0; i < it.node.size(); ++i) {
    const Node k = it.node.key(i);
    const Node v = it.node.value(i);
    const Mark key_mark = mark_of(k, it.mark);
    if (!k.is_scalar()) {
      error(key_mark, it.path, "a key must be a plain string, got " + describe(k));
      continue;
    }
    const std::string_view key = k.scalar();
    const std::string path = join(it.path, key);
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string msg = "unknown key " + quote(key);
      const std::string_view best = suggest(key, known);
      if (!best.empty()) msg += " (did you mean '" + std::string(best) + "'?)";
      error(key_mark, path, std::move(msg));
      continue;
    }
    auto [prev, inserted] = seen.emplace(key, key_mark);
    if (!inserted) {
      error(key_mark, path,
            "duplicate key " + quote(key) + " (first at " + where(prev->second, key_mark) + ")");
      continue;
    }
    out.entries.emplace_back(key, Item{v, path, value_mark(v, key_mark)});
  }
  return out;
}

const Item* Reader::require(const MapItem& m, std::string_view key) {
  if (const Item* v = m.get(key)) return v;
  error(m.self.mark, join(m.self.path, key), "missing required key '" + std::string(key) + "'");
  return nullptr;
}

std::optional<std::vector<Item>> Reader::list(const Item& it) {
  std::vector<Item> out;
  if (it.node.is_null()) return out;
  if (!it.node.is_sequence()) {
    error(it.mark, it.path, "expected a list, got " + describe(it.node));
    return std::nullopt;
  }
  out.reserve(it.node.size());
  for (size_t i = 0; i < it.node.size(); ++i) {
    const Node n = it.node.at(i);
    out.push_back(Item{n, index(it.path, i), mark_of(n, it.mark)});
  }
  return out;
}

std::optional<std::string> Reader::string(const Item& it) {
  if (!it.node.is_scalar()) {
    error(it.mark, it.path, "expected a string, got " + describe(it.node));
    return std::nullopt;
  }
  return std::string(it.node.scalar());
}

std::optional<int64_t> Reader::integer(const Item& it, int64_t lo, int64_t hi) {
  const std::string range = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  if (!it.node.is_scalar()) {
    error(it.mark, it.path, "expected " + range + ", got " + describe(it.node));
    return std::nullopt;
  }
  const std::string_view s = it.node.scalar();
  std::string_view digits = s;
  const bool negative = !digits.empty() && digits.front() == '-';
  if (negative || (!digits.empty() && digits.front() == '+')) digits.remove_prefix(1);
  // 18 digits cannot overflow int64_t; every range used here is far smaller.
  bool ok = !digits.empty() && digits.size() <= 18;
  int64_t v = 0;
  for (size_t i = 0; ok && i < digits.size(); ++i) {
    const char c = digits[i];
    ok = c >= '0' && c <= '9';
    v = v * 10 + (c - '0');
  }
  if (negative) v = -v;
  if (!ok || v < lo || v > hi) {
    error(it.mark, it.path, "expected " + range + ", got " + quote(s));
    return std::nullopt;
  }
  return v;
}

std::optional<uint64_t> Reader::duration(const Item& it, bool allow_zero) {
  if (!it.node.is_scalar()) {
    error(it.mark, it.path, "expected a duration like 10s or 250ms, got " + describe(it.node));
    return std::nullopt;
  }
  const std::string_view s = it.node.scalar();
  const std::optional<uint64_t> v = parse_duration_ms(s);
  if (!v) {
    error(it.mark, it.path, "expected a duration like 10s or 250ms, got " + quote(s));
    return std::nullopt;
  }
  if (*v == 0 && !allow_zero) {
    error(it.mark, it.path, "duration must be greater than 0");
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Reader::boolean(const Item& it) {
  if (it.node.is_scalar()) {
    const std::string_view s = it.node.scalar();
    if (s == "true") return true;
    if (s == "false") return false;
  }
  error(it.mark, it.path, "expected true or false, got " + describe(it.node));
  return std::nullopt;
}

std::optional<uint32_t> Reader::percent(const Item& it, uint32_t lo, uint32_t hi) {
  const std::string range = "a percentage from " + std::to_string(lo) + " to " +
                            std::to_string(hi) + " like " + std::to_string(hi / 2) + "% or " +
                            std::to_string(hi / 2);
  if (!it.node.is_scalar()) {
    error(it.mark, it.path, "expected " + range + ", got " + describe(it.node));
    return std::nullopt;
  }
  const std::optional<uint64_t> v = parse_percent(it.node.scalar());
  if (!v || *v < lo || *v > hi) {
    error(it.mark, it.path, "expected " + range + ", got " + quote(it.node.scalar()));
    return std::nullopt;
  }
  return static_cast<uint32_t>(*v);
}

std::vector<Item> Reader::list_or_one(const Item& it) {
  if (it.node.is_scalar()) return {it};
  std::optional<std::vector<Item>> l = list(it);
  return l ? std::move(*l) : std::vector<Item>{};
}

std::optional<uint64_t> Reader::size(const Item& it, uint64_t lo, uint64_t hi,
                                     std::string_view range) {
  if (!it.node.is_scalar()) {
    error(it.mark, it.path, "expected a size like 64KiB, 1MiB or 512KB, got " + describe(it.node));
    return std::nullopt;
  }
  const std::string_view s = it.node.scalar();
  const std::optional<uint64_t> v = parse_size_bytes(s);
  if (!v) {
    error(it.mark, it.path, "expected a size like 64KiB, 1MiB or 512KB, got " + quote(s));
    return std::nullopt;
  }
  if (*v < lo || *v > hi) {
    error(it.mark, it.path, "size must be " + std::string(range) + ", got " + quote(s));
    return std::nullopt;
  }
  return v;
}

std::optional<Address> Reader::address(const Item& it, bool listening) {
  const std::optional<std::string> s = string(it);
  if (!s) return std::nullopt;
  std::string why;
  std::optional<Address> a = parse_address_why(*s, &why);
  if (a && listening && !a->host.empty() && a->host != "localhost" && !is_ip_literal(a->host)) {
    why = "a listening address needs an IP address, 'localhost' or '*' as host";
    a.reset();
  }
  if (!a) error(it.mark, it.path, "invalid address " + quote(*s) + ": " + why);
  return a;
}

std::vector<MapEntry> Reader::entries(const Item& it, std::string_view contents,
                                      std::string_view key) {
  std::vector<MapEntry> out;
  if (it.node.is_null()) return out;
  if (!it.node.is_map()) {
    error(it.mark, it.path,
          "expected a map of " + std::string(contents) + ", got " + describe(it.node));
    return out;
  }
  for (size_t i = 0; i < it.node.size(); ++i) {
    const Node k = it.node.key(i);
    const Node v = it.node.value(i);
    const Mark key_mark = mark_of(k, it.mark);
    if (!k.is_scalar()) {
      error(key_mark, it.path, "a " + std::string(key) + " must be a string, got " + describe(k));
      continue;
    }
    out.push_back(MapEntry{std::string(k.scalar()), key_mark,
                           Item{v, join(it.path, k.scalar()), value_mark(v, key_mark)}});
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Reader::headers(const Item& it) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const MapEntry& e : entries(it, "header names to values", "header name")) {
    if (!is_token(e.key)) {
      error(e.key_mark, e.value.path, "invalid header name " + quote(e.key));
      continue;
    }
    std::string name = lower(e.key);
    const std::optional<std::string> text = string(e.value);
    if (!text) continue;
    if (!is_header_value(*text)) {
      error(e.value.mark, e.value.path, "header value must not contain control characters");
      continue;
    }
    const bool dup =
        std::any_of(out.begin(), out.end(), [&](const auto& h) { return h.first == name; });
    if (dup) {
      error(e.key_mark, e.value.path, "duplicate header " + quote(name));
      continue;
    }
    out.emplace_back(std::move(name), *text);
  }
  return out;
}

std::optional<std::vector<std::string>> Reader::strings(const Item& it) {
  std::optional<std::vector<Item>> items = list(it);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  for (const Item& e : *items) {
    std::optional<std::string> v = string(e);
    if (!v) return std::nullopt;
    if (v->empty()) {
      error(e.mark, e.path, "must not be empty");
      return std::nullopt;
    }
    out.push_back(std::move(*v));
  }
  return out;
}

bool Reader::durations(const Item* a, uint64_t* a_ms, const Item* b, uint64_t* b_ms) {
  bool ok = true;
  for (auto [item, out] : {std::pair{a, a_ms}, std::pair{b, b_ms}}) {
    if (item == nullptr) continue;
    const std::optional<uint64_t> d = duration(*item);
    if (d) {
      *out = *d;
    } else {
      ok = false;
    }
  }
  return ok;
}

std::optional<double> Reader::ratio(const Item& it) {
  std::optional<double> v = it.node.is_scalar() ? parse_ratio(it.node.scalar()) : std::nullopt;
  if (!v)
    error(it.mark, it.path,
          "expected a ratio from 0 to 1 like 0.01 or 1%, got " + describe(it.node));
  return v;
}

void Reader::note_file_read(std::string_view path, std::string_view bytes) {
  ++files_read_;
  files_digest_ =
      fingerprint_mix(fingerprint_mix(files_digest_, std::hash<std::string_view>{}(path)),
                      std::hash<std::string_view>{}(bytes));
}

std::optional<std::string> Reader::read_small_file(const Item& at, const std::string& path) {
  if (path.empty()) {
    error(at.mark, at.path, "must name a file");
    return std::nullopt;
  }
  // O_NONBLOCK: a FIFO named here must not hang the load (it is refused below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    error(at.mark, at.path,
          "cannot open " + quote(path) + ": " + std::system_category().message(err));
    return std::nullopt;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error(at.mark, at.path, quote(path) + " is not a regular file");
    return std::nullopt;
  }
  std::string bytes;
  char buf[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      error(at.mark, at.path,
            "cannot read " + quote(path) + ": " + std::system_category().message(err));
      return std::nullopt;
    }
    if (n == 0) break;
    if (bytes.size() + static_cast<size_t>(n) > kMaxSmallFileBytes) {
      error(at.mark, at.path, quote(path) + " is larger than 1MiB");
      return std::nullopt;
    }
    bytes.append(buf, static_cast<size_t>(n));
  }
  note_file_read(path, bytes);
  return bytes;
}

std::optional<uint64_t> Reader::seconds(const Item& it, bool allow_zero) {
  const std::optional<uint64_t> d = duration(it, allow_zero);
  if (!d) return std::nullopt;
  if (*d % 1000 != 0) {
    error(it.mark, it.path, "must be a whole number of seconds, got " + quote(it.node.scalar()));
    return std::nullopt;
  }
  return *d / 1000;
}

std::optional<std::string> Reader::route_method(const Item& e) {
  std::optional<std::string> s = string(e);
  if (!s) return std::nullopt;
  if (!is_token(*s)) {
    error(e.mark, e.path, "invalid method " + quote(*s));
    return std::nullopt;
  }
  std::string method = upper(std::move(*s));
  const http::Method known = http::parse_method(method);
  if (known == http::Method::kOther || known == http::Method::kConnect) {
    error(e.mark, e.path,
          "method " + quote(method) +
              " cannot be routed (known: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH)");
    return std::nullopt;
  }
  return method;
}

std::vector<std::string> Reader::unique_strings(const Item& it) {
  std::vector<std::string> out;
  for (const Item& e : list_or_one(it)) {
    std::optional<std::string> s = string(e);
    if (!s) continue;
    if (s->empty()) {
      error(e.mark, e.path, "must not be empty");
      continue;
    }
    if (std::find(out.begin(), out.end(), *s) == out.end()) out.push_back(std::move(*s));
  }
  return out;
}

bool Reader::is_off(const Item& it) {
  const std::string_view s = it.node.scalar();
  if (s == "off" || s == "false") return true;
  error(it.mark, it.path, "expected a map or 'off', got " + quote(s));
  return false;
}

}  // namespace sluice::config
