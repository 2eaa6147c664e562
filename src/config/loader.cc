// load_config_file / load_config_string: YAML -> Config, with every error collected (file, line,
// column, key path) instead of stopping at the first one.
//
// The walk is driven by the schema, never by the document: only known keys are visited, so
// anchors, aliases and odd nesting cannot make it recurse or loop. Values are read from scalar
// text with our own strict parsers (src/config/scalars.h), so "1_000" or "0x10" are errors, not
// numbers.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/document.h"
#include "config/parser.h"
#include "config/reader.h"
#include "http/char_class.h"

namespace sluice::config {

std::string ConfigError::to_string() const {
  std::string out = file;
  if (mark.line > 0) {
    out += ':';
    out += std::to_string(mark.line);
    out += ':';
    out += std::to_string(mark.col);
  }
  out += ": ";
  if (!key.empty()) {
    out += key;
    out += ": ";
  }
  out += message;
  return out;
}

namespace {

constexpr size_t kMaxFileBytes = 64 * kMiB;
constexpr int kMaxWorkers = 256;
constexpr uint64_t kMaxDebounceMs = 60000;

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) return "";
  return http::hex_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

void Parser::parse(const Item& root, Config& cfg) {
  std::optional<MapItem> m =
      map(root, {"workers",    "dns",       "listeners", "admin",     "limits",
                 "timeouts",   "upstreams", "routes",    "metrics",   "tracing",
                 "access_log", "redis",     "client_ip", "consumers", "jwt_providers",
                 "security",   "filters",   "events",    "reload",    "config_source"});
  if (!m) return;
  if (const Item* w = m->get("workers")) {
    if (std::optional<int64_t> v = integer(*w, 0, kMaxWorkers)) cfg.workers = static_cast<int>(*v);
  }
  if (const Item* d = m->get("dns")) parse_dns(*d, cfg.dns);
  if (const Item* l = require(*m, "listeners")) parse_listeners(*l, cfg);
  if (const Item* a = m->get("admin")) parse_admin(*a, cfg);
  if (const Item* l = m->get("limits")) parse_limits(*l, cfg.limits);
  if (const Item* t = m->get("timeouts")) parse_timeouts(*t, cfg.timeouts);
  if (const Item* mc = m->get("metrics")) {
    if (std::optional<MapItem> mm = map(*mc, {"enabled"})) {
      if (const Item* e = mm->get("enabled")) {
        if (auto b = boolean(*e)) cfg.metrics.enabled = *b;
      }
    }
  }
  if (const Item* r = m->get("reload")) {
    if (std::optional<MapItem> rm = map(*r, {"watch", "debounce"})) {
      if (const Item* w = rm->get("watch")) {
        if (auto b = boolean(*w)) cfg.reload.watch = *b;
      }
      if (const Item* d = rm->get("debounce")) {
        std::optional<uint64_t> ms = duration(*d, true);
        if (ms && *ms > kMaxDebounceMs) {
          error(d->mark, d->path, "at most " + format_ms(kMaxDebounceMs));
        } else if (ms) {
          cfg.reload.debounce_ms = *ms;
        }
      }
    }
  }
  if (const Item* r = m->get("redis")) parse_redis(*r, cfg.redis);
  if (const Item* c = m->get("client_ip")) parse_client_ip(*c, cfg.client_ip);
  if (const Item* t = m->get("tracing")) parse_tracing(*t, cfg.tracing);
  if (const Item* a = m->get("access_log")) parse_access_log(*a, cfg.access_log);
  if (const Item* e = m->get("events")) parse_events(*e, cfg.events);
  if (const Item* c = m->get("config_source")) parse_config_source(*c, cfg.etcd);
  if (const Item* c = m->get("consumers")) parse_consumers(*c, cfg);
  if (const Item* j = m->get("jwt_providers")) parse_jwt_providers(*j, cfg);
  if (const Item* s = m->get("security")) parse_security(*s, cfg.security);
  if (const Item* f = m->get("filters")) {
    parse_filters(*f, cfg.filters);
    take_filter_aliases(cfg.filters, cfg.filter_aliases, cfg.security, nullptr, nullptr);
  }
  if (const Item* u = m->get("upstreams")) parse_upstreams(*u, cfg);
  // Everything a route's compilation may depend on has been read: the tree but the routes, and
  // the files it named (credentials).
  constexpr std::string_view kRoutes[] = {"routes"};
  const uint64_t tree = fingerprint(root.node, kRoutes);
  cfg.context_fingerprint = tree == 0 ? 0 : fingerprint_mix(tree, files_digest());
  if (reuse_ != nullptr &&
      (cfg.context_fingerprint == 0 || reuse_->context != cfg.context_fingerprint)) {
    reuse_ = nullptr;
  }
  if (const Item* r = m->get("routes")) parse_routes(*r, cfg);
  finish(cfg);
}

void Parser::finish(Config& cfg) {
  finish_security(cfg);
  if (!cfg.redis.enabled) {
    for (const Item& at : cluster_policies_) {
      error(at.mark, at.path, "scope: cluster needs a top-level 'redis' section");
    }
  }
  for (const Item& ref : upstream_refs_) {
    const std::string name(ref.node.scalar());
    if (!upstream_names_.contains(name)) {
      error(ref.mark, ref.path, "upstream " + quote(name) + " is not defined");
    }
  }
  for (size_t i = 0; i < cfg.upstreams.size() && i < upstream_defaults_.size(); ++i) {
    if (upstream_defaults_[i].first) {
      cfg.upstreams[i].connect_timeout_ms = cfg.timeouts.upstream_connect_ms;
    }
    if (upstream_defaults_[i].second) {
      cfg.upstreams[i].response_timeout_ms = cfg.timeouts.upstream_response_ms;
    }
  }
  if (has_admin_address_) {
    for (const ListenerConfig& l : cfg.listeners) {
      if (l.address.host == cfg.admin.address.host && l.address.port == cfg.admin.address.port) {
        error(admin_address_item_.mark, admin_address_item_.path,
              "admin address " + quote(cfg.admin.address.text) + " is also a listener (line " +
                  std::to_string(l.mark.line) + ")");
        break;
      }
    }
  }
}

namespace {

LoadResult load(const std::string& yaml, const std::string& file, const RouteReuse* reuse) {
  // One document; syntax errors, tags (`!secret value` would be dropped silently: what it
  // asks for is not done), a second document and too deep a nesting are refused here.
  ParseResult doc;
  try {
    doc = parse_document(yaml);
  } catch (const std::exception& e) {
    doc.error = std::string("internal error: ") + e.what();
  } catch (...) {
    doc.error = "internal error";
  }
  if (!doc.error.empty()) {
    LoadResult result;
    result.errors.push_back(ConfigError{file, doc.error_mark, "", std::move(doc.error)});
    return result;
  }
  return load_config_tree(doc.root, {file}, sha256_hex(yaml), reuse);
}

}  // namespace

LoadResult load_config_tree(const Node& root, std::vector<std::string> files, std::string hash,
                            const RouteReuse* reuse) {
  LoadResult result;
  const std::string file = files.empty() ? std::string() : files.front();
  try {
    // A comment-only file is a null document.
    if (!root.is_defined() || root.is_null()) {
      result.errors.push_back(ConfigError{file, {}, "", "the config is empty"});
      return result;
    }
    if (!root.is_map()) {
      result.errors.push_back(ConfigError{file, mark_of(root, {1, 1}), "",
                                          "the top level must be a map, got " + describe(root)});
      return result;
    }
    Config cfg;
    Parser parser(files);
    parser.set_reuse(reuse);
    parser.parse(Item{root, "", mark_of(root, {1, 1})}, cfg);
    result.errors = std::move(parser.errors());
    if (result.errors.empty()) {
      cfg.source_file = file;
      cfg.source_files = std::move(files);
      cfg.hash = std::move(hash);
      result.config = std::move(cfg);
    } else {
      // Read in file order, whatever the order of the checks.
      std::stable_sort(result.errors.begin(), result.errors.end(),
                       [](const ConfigError& a, const ConfigError& b) {
                         return std::tuple(a.mark.source, a.mark.line, a.mark.col) <
                                std::tuple(b.mark.source, b.mark.line, b.mark.col);
                       });
    }
  } catch (const std::exception& e) {
    result.config.reset();
    result.errors.push_back(ConfigError{file, {}, "", std::string("internal error: ") + e.what()});
  } catch (...) {
    result.config.reset();
    result.errors.push_back(ConfigError{file, {}, "", "internal error"});
  }
  return result;
}

LoadResult load_config_string(const std::string& yaml, const std::string& file_name,
                              const RouteReuse* reuse) {
  return load(yaml, file_name, reuse);
}

std::optional<ConfigError> read_config_file(const std::string& path, std::string* bytes) {
  auto fail = [&](const char* what, int err) {
    std::string msg = what;
    if (err != 0) msg += ": " + std::system_category().message(err);
    return ConfigError{path, {}, "", std::move(msg)};
  };
  try {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("cannot open config file", errno);
    bytes->clear();
    int err = 0;
    bool too_big = false;
    try {
      char buf[64 * 1024];
      for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          err = errno;
          break;
        }
        if (n == 0) break;
        if (bytes->size() + static_cast<size_t>(n) > kMaxFileBytes) {
          too_big = true;
          break;
        }
        bytes->append(buf, static_cast<size_t>(n));
      }
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    if (err != 0) return fail("cannot read config file", err);
    if (too_big) return fail("config file is larger than 64MiB", 0);
    return std::nullopt;
  } catch (...) {
    return fail("cannot read config file: out of memory", 0);
  }
}

LoadResult load_config_file(const std::string& path) {
  std::string bytes;
  if (std::optional<ConfigError> e = read_config_file(path, &bytes)) {
    LoadResult r;
    r.errors.push_back(std::move(*e));
    return r;
  }
  return load(bytes, path, nullptr);
}

}  // namespace sluice::config
