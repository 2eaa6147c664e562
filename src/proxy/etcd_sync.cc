#include "proxy/etcd_sync.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string_view>

#include "proxy/gateway.h"

namespace sluice::proxy {
namespace {

using Json = nlohmann::ordered_json;

// The collections etcd may hold, in the order their layer lists them.
constexpr std::string_view kKinds[] = {"upstreams", "consumers", "jwt_providers", "routes"};

std::vector<etcd::Endpoint> endpoints_of(const config::EtcdSourceConfig& cfg) {
  std::vector<etcd::Endpoint> out;
  for (const config::Address& a : cfg.endpoints) out.push_back(etcd::Endpoint{a.host, a.port});
  return out;
}

}  // namespace

EtcdSync::EtcdSync(Gateway& gateway, core::EventLoop& loop, const config::EtcdSourceConfig& cfg)
    : gateway_(gateway),
      loop_(loop),
      prefix_(cfg.prefix),
      layer_name_("etcd:" + cfg.prefix),
      source_(etcd::SourceOptions{endpoints_of(cfg), cfg.prefix, cfg.timeout_ms},
              [this] {
                const uint64_t one = 1;
                if (event_fd_ >= 0) (void)::write(event_fd_, &one, sizeof one);
              }),
      writer_(endpoints_of(cfg), cfg.timeout_ms) {
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ >= 0) loop_.add(event_fd_, EPOLLIN, this);
}

EtcdSync::~EtcdSync() {
  source_.stop();  // its thread writes to event_fd_
  if (event_fd_ >= 0) {
    loop_.remove(event_fd_);
    ::close(event_fd_);
  }
}

bool EtcdSync::load(std::string* error) {
  return source_.load(error);
}

void EtcdSync::start() {
  source_.start();
}

int64_t EtcdSync::revision() const {
  std::shared_ptr<const etcd::Objects> o = source_.objects();
  return o ? o->revision : 0;
}

void EtcdSync::on_io(uint32_t /*events*/) {
  uint64_t n = 0;
  while (::read(event_fd_, &n, sizeof n) > 0) {
  }
  const bool up = source_.connected();
  if (up != was_connected_) {
    was_connected_ = up;
    if (up) {
      std::fprintf(stderr, "etcd: connected (revision %lld)\n", static_cast<long long>(revision()));
    } else {
      std::fprintf(stderr, "etcd: unreachable (%s): the last good config stays in force\n",
                   source_.last_error().c_str());
    }
  }
  gateway_.apply_etcd("etcd");
}

std::vector<config::TextLayer> EtcdSync::layers(const Change* change) const {
  std::shared_ptr<const etcd::Objects> objects = source_.objects();
  if (!objects && change == nullptr) return {};
  std::map<std::string, std::string> kvs;
  if (objects) kvs = objects->kvs;
  if (change != nullptr) {
    const std::string key = key_of(change->kind, change->name);
    if (change->json) {
      kvs[key] = *change->json;
    } else {
      kvs.erase(key);
    }
  }
  std::string text;
  size_t line = 0;
  lines_.clear();
  for (std::string_view kind : kKinds) {
    const std::string start = prefix_ + std::string(kind) + "/";
    bool header = false;
    for (auto it = kvs.lower_bound(start); it != kvs.end() && it->first.starts_with(start); ++it) {
      const std::string name = it->first.substr(start.size());
      if (name.empty() || name.find('/') != std::string::npos) continue;  // not an object key
      if (!header) {
        text += std::string(kind) + ":\n";
        ++line;
        header = true;
      }
      Json obj = Json::parse(it->second, nullptr, false);
      if (obj.is_discarded() || !obj.is_object()) {
        // Left for the loader to refuse ("expected a map"), at this key.
        text += "- " + Json(it->second).dump() + "\n";
      } else {
        Json named = Json::object();  // the key names it
        named["name"] = name;
        for (auto& [k, v] : obj.items()) {
          if (k != "name") named[k] = v;
        }
        text += "- " + named.dump() + "\n";
      }
      lines_[++line] = it->first;
    }
  }
  if (text.empty()) text = "{}\n";
  return {config::TextLayer{layer_name_, std::move(text)}};
}

void EtcdSync::name_keys(std::vector<config::ConfigError>* errors) const {
  for (config::ConfigError& e : *errors) {
    if (e.file != layer_name_) continue;
    auto it = lines_.find(e.mark.line);
    if (it == lines_.end()) continue;
    e.file = "etcd:" + it->second;
    e.mark.line = 1;
  }
}

bool EtcdSync::holds(const std::string& kind, const std::string& name) const {
  std::shared_ptr<const etcd::Objects> o = source_.objects();
  return o && o->kvs.contains(key_of(kind, name));
}

bool EtcdSync::write(const Change& change, std::string* error) {
  const std::string key = key_of(change.kind, change.name);
  std::optional<int64_t> rev =
      change.json ? writer_.put(key, *change.json, error) : writer_.remove(key, error);
  if (!rev) return false;
  // The watch brings it back; the answer waits for it so that it can name the version.
  if (!source_.wait_for_revision(*rev, source_.options().timeout_ms)) {
    *error = "etcd took the change (revision " + std::to_string(*rev) +
             ") but the watch has not brought it back yet";
    return false;
  }
  return true;
}

}  // namespace sluice::proxy
