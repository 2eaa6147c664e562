// The gateway's side of `config_source: {etcd: …}`: the objects kept in etcd under the prefix
// (<prefix>routes/<name>, <prefix>upstreams/<name>, <prefix>consumers/<name>,
// <prefix>jwt_providers/<name>, each a JSON object: the YAML structure of docs/configuration.md
// written as JSON) become one more config layer after the files (config::TextLayer), so they
// are added to the file's objects or replace those of the same name. A change seen by the watch
// (etcd/source.h) reloads the config on the control thread (source "etcd"); an invalid one
// changes nothing and is reported like an invalid file, its errors naming the key
// ("etcd:/sluice/routes/a:1:31: routes[2].upstream: …"). Admin API writes of these objects go to
// etcd (put_object / delete_object), so every instance sees them.
// Example (control thread):
//   EtcdSync sync(gateway, control_loop, cfg.etcd);
//   if (!sync.load(&err)) log(err);  sync.start();
//   config::load_sources(paths, sync.layers());
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/sources.h"
#include "core/event_loop.h"
#include "etcd/source.h"

namespace sluice::proxy {

class Gateway;

class EtcdSync : public core::IoHandler {
 public:
  EtcdSync(Gateway& gateway, core::EventLoop& loop, const config::EtcdSourceConfig& cfg);
  ~EtcdSync() override;
  EtcdSync(const EtcdSync&) = delete;
  EtcdSync& operator=(const EtcdSync&) = delete;

  // Start-up: the first read (blocking for at most the timeout).
  bool load(std::string* error);
  void start();
  void on_io(uint32_t events) override;

  // The layer of the objects read last (empty before any read); a change (kind, name, and the
  // object's JSON or nullopt to remove it) applied on top when given.
  struct Change {
    std::string kind;
    std::string name;
    std::optional<std::string> json;
  };
  std::vector<config::TextLayer> layers(const Change* change = nullptr) const;
  // Errors in the etcd layer get the file "etcd:<key>" and line 1 of its object.
  void name_keys(std::vector<config::ConfigError>* errors) const;
  // Writes one object (its JSON) or removes it; then waits (at most the timeout) until the watch
  // has seen it. False with *error when etcd refused or could not be reached.
  bool write(const Change& change, std::string* error);
  // Whether etcd holds that object (the API cannot remove what only a file defines).
  bool holds(const std::string& kind, const std::string& name) const;

  bool connected() const { return source_.connected(); }
  std::string last_error() const { return source_.last_error(); }
  uint64_t failures() const { return source_.failures(); }
  int64_t revision() const;
  // The revision the config in force was built from.
  int64_t applied_revision() const { return applied_; }
  void set_applied(int64_t revision) { applied_ = revision; }
  const std::string& prefix() const { return prefix_; }
  // Objects in the layer made last.
  size_t object_count() const { return lines_.size(); }

 private:
  std::string key_of(const std::string& kind, const std::string& name) const {
    return prefix_ + kind + "/" + name;
  }

  Gateway& gateway_;
  core::EventLoop& loop_;
  std::string prefix_;
  std::string layer_name_;  // "etcd:<prefix>"
  etcd::EtcdSource source_;
  etcd::EtcdClient writer_;  // the API's writes, on the control thread
  int event_fd_ = -1;
  int64_t applied_ = -1;
  bool was_connected_ = false;  // for the log of each change
  // line of each object in the last layer made -> its key (name_keys)
  mutable std::map<size_t, std::string> lines_;
};

}  // namespace sluice::proxy
