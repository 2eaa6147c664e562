#include "proxy/gateway.h"

#include <unistd.h>

#include <cstdio>

#include "core/clock.h"
#include "net/socket.h"
#include "proxy/worker.h"

namespace sluice::proxy {
namespace {

std::vector<std::string> to_strings(const std::vector<config::ConfigError>& errors) {
  std::vector<std::string> out;
  out.reserve(errors.size());
  for (const auto& e : errors) out.push_back(e.to_string());
  return out;
}

bool same_listeners(const config::Config& a, const config::Config& b) {
  if (a.listeners.size() != b.listeners.size()) return false;
  for (size_t i = 0; i < a.listeners.size(); ++i) {
    if (a.listeners[i].address.text != b.listeners[i].address.text) return false;
  }
  return true;
}

}  // namespace

Gateway::Gateway(std::string config_path) : config_path_(std::move(config_path)) {}

Gateway::~Gateway() {
  if (!threads_.empty()) {
    drain();
    join();
  }
}

std::shared_ptr<const Snapshot> Gateway::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

ReloadOutcome Gateway::last_reload() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_reload_;
}

void Gateway::publish(std::shared_ptr<const Snapshot> snap) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(snap);
    version_.store(current_->version, std::memory_order_release);
  }
  for (auto& w : workers_) w->notify();
}

bool Gateway::start(std::vector<std::string>* errors) {
  config::LoadResult loaded = config::load_config_file(config_path_);
  if (!loaded.ok()) {
    *errors = to_strings(loaded.errors);
    return false;
  }
  SnapshotResult built = build_snapshot(std::move(*loaded.config), 1);
  if (!built.snapshot) {
    *errors = to_strings(built.errors);
    return false;
  }
  const config::Config& cfg = built.snapshot->config;
  bound_ = cfg;
  int n = cfg.workers;
  if (n <= 0) n = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));

  // One SO_REUSEPORT socket per worker and listener: the kernel spreads connections, no
  // accept lock is shared between workers.
  std::vector<std::vector<int>> fds(static_cast<size_t>(n));
  for (const config::ListenerConfig& l : cfg.listeners) {
    net::SocketAddress addr;
    std::string err;
    if (!net::resolve_address(l.address.host, l.address.port, &addr, &err)) {
      errors->push_back(cfg.source_file + ":" + std::to_string(l.mark.line) + ":" +
                        std::to_string(l.mark.col) + ": listeners: " + err);
      continue;
    }
    // SO_REUSEPORT would let this process silently share a port another process listens on;
    // a plain bind first makes that an error.
    int probe = net::listen_tcp(addr, false, 1, &err);
    if (probe < 0) {
      errors->push_back(cfg.source_file + ":" + std::to_string(l.mark.line) + ":" +
                        std::to_string(l.mark.col) + ": listeners: " + l.address.text + ": " + err);
      continue;
    }
    close(probe);
    for (int w = 0; w < n; ++w) {
      int fd = net::listen_tcp(addr, true, 4096, &err);
      if (fd < 0) {
        errors->push_back(cfg.source_file + ":" + std::to_string(l.mark.line) + ":" +
                          std::to_string(l.mark.col) + ": listeners: " + l.address.text + ": " +
                          err);
        break;
      }
      fds[static_cast<size_t>(w)].push_back(fd);
    }
  }
  if (!errors->empty()) {
    for (auto& list : fds) {
      for (int fd : list) close(fd);
    }
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_reload_.ok = true;
    last_reload_.version = 1;
  }
  publish(built.snapshot);
  for (int w = 0; w < n; ++w) {
    workers_.push_back(std::make_unique<Worker>(*this, w, std::move(fds[static_cast<size_t>(w)])));
  }
  running_.store(static_cast<int>(workers_.size()));
  for (auto& w : workers_) {
    threads_.emplace_back([this, worker = w.get()] {
      worker->run();
      running_.fetch_sub(1, std::memory_order_acq_rel);
    });
  }
  return true;
}

ReloadOutcome Gateway::reload() {
  ReloadOutcome out;
  config::LoadResult loaded = config::load_config_file(config_path_);
  if (!loaded.ok()) {
    out.errors = to_strings(loaded.errors);
  } else {
    SnapshotResult built = build_snapshot(std::move(*loaded.config), version() + 1);
    if (!built.snapshot) {
      out.errors = to_strings(built.errors);
    } else {
      const config::Config& next = built.snapshot->config;
      if (!same_listeners(bound_, next) || bound_.workers != next.workers ||
          bound_.admin.address.text != next.admin.address.text) {
        out.warnings.push_back(
            "listeners, workers and admin take effect only after a restart; the rest is applied");
      }
      out.ok = true;
      out.version = built.snapshot->version;
      publish(std::move(built.snapshot));
    }
  }
  if (!out.ok) out.version = version();
  for (const std::string& e : out.errors) std::fprintf(stderr, "reload rejected: %s\n", e.c_str());
  for (const std::string& w : out.warnings) std::fprintf(stderr, "reload warning: %s\n", w.c_str());
  if (out.ok)
    std::fprintf(stderr, "reload: config version %llu in force\n",
                 static_cast<unsigned long long>(out.version));
  std::lock_guard<std::mutex> lock(mu_);
  last_reload_ = out;
  return out;
}

void Gateway::drain() {
  if (draining_.exchange(true)) return;
  std::shared_ptr<const Snapshot> snap = current();
  drain_deadline_ms_.store(core::monotonic_ms() + snap->config.timeouts.drain_ms);
  for (auto& w : workers_) w->notify();
}

void Gateway::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace sluice::proxy
