// Gateway's config changes after start: reload of the files, the admin API's and etcd's
// writes, the dry runs, and what each one logs and publishes (gateway.cc has start, publication
// and shutdown). Every load and build runs on the builder thread (at_low_priority), with the
// snapshot in force's RouteReuse so unchanged routes are kept as compiled.
#include <malloc.h>

#include <cstdio>

#include "observe/json.h"
#include "proxy/gateway.h"

namespace sluice::proxy {
namespace {

bool same_listeners(const config::Config& a, const config::Config& b) {
  if (a.listeners.size() != b.listeners.size()) return false;
  for (size_t i = 0; i < a.listeners.size(); ++i) {
    if (a.listeners[i].address.text != b.listeners[i].address.text) return false;
  }
  return true;
}

}  // namespace

ReloadOutcome Gateway::reload(const std::string& author) {
  return at_low_priority([&] {
    const std::shared_ptr<const Snapshot> now = current();
    const config::RouteReuse reuse = reuse_of(*now);
    config::Sources sources = load_sources(&reuse);
    return apply_loaded(std::move(sources.loaded), sources.text,
                        ConfigOrigin{"file", author, "yaml", 0}, now.get());
  });
}

ReloadOutcome Gateway::check(const std::string& text, const std::string& name) const {
  return at_low_priority([&] { return check_loaded(config::load_config_string(text, name)); });
}

ReloadOutcome Gateway::check_loaded(config::LoadResult loaded) const {
  ReloadOutcome out;
  out.version = version();
  if (loaded.ok()) {
    out.hash = loaded.config->hash;
    RuntimeRegistry registry;  // a scratch one: nothing in force is touched
    // Host-name targets are not resolved here (as `sluice validate`).
    SnapshotResult built = build_snapshot(std::move(*loaded.config), 1, 1, registry, {});
    out.errors = std::move(built.errors);
  } else {
    out.errors = std::move(loaded.errors);
  }
  out.ok = out.errors.empty();
  return out;
}

ReloadOutcome Gateway::check_etcd(const EtcdSync::Change& change) const {
  return at_low_priority([&] {
    config::Sources s = config::load_sources(config_paths_, etcd_->layers(&change));
    ReloadOutcome out = check_loaded(std::move(s.loaded));
    etcd_->name_keys(&out.errors);
    return out;
  });
}

ReloadOutcome Gateway::apply_etcd(const std::string& author) {
  ReloadOutcome same;
  same.ok = true;
  same.version = version();
  same.hash = current()->config.hash;
  if (!etcd_ || etcd_->revision() == etcd_->applied_revision()) return same;
  etcd_->set_applied(etcd_->revision());  // a refused revision is tried again only after a change
  return at_low_priority([&] {
    const std::shared_ptr<const Snapshot> now = current();
    const config::RouteReuse reuse = reuse_of(*now);
    config::Sources s = load_sources(&reuse);
    if (s.loaded.ok() && s.loaded.config->hash == same.hash) return same;
    return apply_loaded(std::move(s.loaded), s.text, ConfigOrigin{"etcd", author, "yaml", 0},
                        now.get());
  });
}

ReloadOutcome Gateway::apply(const std::string& text, const ConfigOrigin& origin) {
  return at_low_priority([&] {
    const std::shared_ptr<const Snapshot> now = current();
    const config::RouteReuse reuse = reuse_of(*now);
    return apply_loaded(config::load_config_string(
                            text, origin.source == "file" ? config_path_ : origin.source, &reuse),
                        text, origin, now.get());
  });
}

ReloadOutcome Gateway::apply_tree(const config::Node& root, const std::string& text,
                                  const ConfigOrigin& origin) {
  return at_low_priority([&] {
    const std::shared_ptr<const Snapshot> now = current();
    const config::RouteReuse reuse = reuse_of(*now);
    return apply_loaded(
        config::load_config_tree(root, {origin.source}, config::sha256_hex(text), &reuse), text,
        origin, now.get());
  });
}

ReloadOutcome Gateway::apply_loaded(config::LoadResult loaded, const std::string& text,
                                    const ConfigOrigin& origin, const Snapshot* previous) {
  ReloadOutcome out;
  if (!loaded.ok()) {
    out.errors = std::move(loaded.errors);
  } else {
    out.hash = loaded.config->hash;
    SnapshotResult built = build(std::move(*loaded.config), version() + 1, previous);
    if (!built.snapshot) {
      out.errors = std::move(built.errors);
    } else {
      const config::Config& next = built.snapshot->config;
      if (!same_listeners(bound_, next) || bound_.workers != next.workers ||
          bound_.admin.address.text != next.admin.address.text) {
        out.warnings.push_back(
            "listeners, workers and admin take effect only after a restart; the rest is applied");
      }
      if (next.tracing.enabled && bound_.tracing.enabled &&
          next.tracing.queue_size != bound_.tracing.queue_size) {
        out.warnings.push_back("tracing.queue_size takes effect only after a restart");
      }
      if (next.access_log.enabled && bound_.access_log.enabled &&
          next.access_log.buffer_bytes != bound_.access_log.buffer_bytes) {
        out.warnings.push_back("access_log.buffer_size takes effect only after a restart");
      }
      out.ok = true;
      out.version = built.snapshot->version;
      out.routes = built.snapshot->routes.size();
      out.routes_reused = built.reused;
      std::shared_ptr<const Snapshot> in_force = built.snapshot;
      record_version(*in_force, text, origin);
      publish(std::move(built.snapshot));
      apply_observability(in_force->config);
      ::malloc_trim(0);
    }
  }
  if (!out.ok) out.version = version();
  return finish_reload(std::move(out), origin);
}

ReloadOutcome Gateway::finish_reload(ReloadOutcome out, const ConfigOrigin& origin) {
  if (etcd_) etcd_->name_keys(&out.errors);
  (out.ok ? reloads_ok_ : reloads_failed_).fetch_add(1);
  for (const config::ConfigError& e : out.errors) {
    std::fprintf(stderr, "reload rejected: %s\n", e.to_string().c_str());
  }
  for (const std::string& w : out.warnings) std::fprintf(stderr, "reload warning: %s\n", w.c_str());
  if (out.ok) {
    std::fprintf(stderr,
                 "reload: config version %llu in force (%s by %s; %zu of %zu routes unchanged, "
                 "kept as compiled)\n",
                 static_cast<unsigned long long>(out.version), origin.source.c_str(),
                 origin.author.c_str(), out.routes_reused, out.routes);
  }
  publish_reload_event(out, origin);
  std::lock_guard<std::mutex> lock(mu_);
  last_reload_ = out;
  return out;
}

void Gateway::publish_reload_event(const ReloadOutcome& out, const ConfigOrigin& origin) {
  std::string fields = "\"version\":" + std::to_string(out.version) + ",\"source\":\"" +
                       observe::json_escape(origin.source) + "\",\"author\":\"" +
                       observe::json_escape(origin.author) + "\"";
  if (origin.rollback_of != 0) fields += ",\"rollback_of\":" + std::to_string(origin.rollback_of);
  if (out.ok) {
    fields += ",\"hash\":\"" + out.hash + "\"";
    events_.publish("config.applied", fields);
    return;
  }
  fields += ",\"errors\":[";
  for (size_t i = 0; i < out.errors.size(); ++i) {
    const config::ConfigError& e = out.errors[i];
    if (i > 0) fields += ",";
    fields += "{\"path\":\"" + observe::json_escape(e.key) + "\",\"message\":\"" +
              observe::json_escape(e.message) + "\",\"file\":\"" + observe::json_escape(e.file) +
              "\",\"line\":" + std::to_string(e.mark.line) + "}";
  }
  fields += "]";
  events_.publish("config.refused", fields);
}

}  // namespace sluice::proxy
