// The gateway as the control thread sees it: loads and validates the config, publishes compiled
// snapshots to the workers (RCU: workers poll an atomic version each loop turn and copy the
// shared_ptr only when it changed), owns the listeners and the worker threads, and runs reloads
// and the graceful drain.
// The config comes from files (config/sources.h: several --config files merged in order, their
// includes, environment variables).
// Example:
//   Gateway gw({"config/base.yaml", "config/prod.yaml"}, loop);
//   if (!gw.start(&errors)) return 1;
//   gw.reload();  ...  gw.drain();  gw.join();
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/jwks_fetcher.h"
#include "balance/health_checker.h"
#include "config/config.h"
#include "config/history.h"
#include "config/sources.h"
#include "core/event_loop.h"
#include "core/low_priority.h"
#include "net/resolver.h"
#include "observe/access_log.h"
#include "observe/events.h"
#include "observe/metrics.h"
#include "observe/otlp_exporter.h"
#include "observe/span_ring.h"
#include "observe/webhooks.h"
#include "proxy/etcd_sync.h"
#include "proxy/overload.h"
#include "proxy/runtime.h"
#include "proxy/snapshot.h"
#include "proxy/upgrade.h"

namespace sluice::proxy {

class Worker;
class DnsRefresh;
class RateLimitSweep;
class MemoryWatch;
class EventWatch;

struct ReloadOutcome {
  bool ok = false;
  uint64_t version = 0;
  std::string hash;                         // of the text applied (ok) or checked
  std::vector<config::ConfigError> errors;  // to_string(): "FILE:LINE:COL: key: message"
  std::vector<std::string> warnings;
  size_t routes = 0;         // of the config applied
  size_t routes_reused = 0;  // of those, taken as the snapshot before compiled them
};

// Who changed the config and how, for its version record.
struct ConfigOrigin {
  std::string source = "file";  // "file", "api", "rollback"
  std::string author = "file";
  std::string format = "yaml";  // of the text: "yaml" or "json"
  uint64_t rollback_of = 0;
};

class Gateway {
 public:
  // The nice value config loads and snapshot builds run at (proxy/gateway.cc, builder_).
  static constexpr int kBuildNice = 10;
  // The control loop (the main thread's) runs DNS resolution and health checks.
  Gateway(std::vector<std::string> config_paths, core::EventLoop& control_loop);
  Gateway(std::string config_path, core::EventLoop& control_loop)
      : Gateway(std::vector<std::string>{std::move(config_path)}, control_loop) {}
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Loads the config, binds the listeners, starts the workers. On failure fills *errors.
  // `inherited`: what an upgrading process handed over (proxy/upgrade.h): its listening sockets
  // are used instead of new ones, its rate-limit counters restored.
  bool start(std::vector<std::string>* errors, Inherited* inherited = nullptr);
  // Re-reads the config files; a valid config becomes the new snapshot, an invalid one changes
  // nothing.
  ReloadOutcome reload(const std::string& author = "file");
  // Applies config text (the admin API's JSON, a version's text) as reload() applies the file:
  // validated, built, published and recorded as a new version; an invalid one changes nothing.
  ReloadOutcome apply(const std::string& text, const ConfigOrigin& origin);
  // The same with the text's tree given (the admin API makes it from JSON without parsing).
  ReloadOutcome apply_tree(const config::Node& root, const std::string& text,
                           const ConfigOrigin& origin);
  // What apply() would say, without applying anything (no runtime state is touched).
  ReloadOutcome check(const std::string& text, const std::string& name) const;
  // config_source etcd (null without it): the objects' layer and the admin API's writes.
  EtcdSync* etcd() { return etcd_.get(); }
  const EtcdSync* etcd() const { return etcd_.get(); }
  // The files with etcd's objects as they are now, applied as a new version (source "etcd");
  // nothing when etcd's revision was applied already or the result is the config in force.
  ReloadOutcome apply_etcd(const std::string& author);
  // What apply_etcd() would say with `change` made to etcd's objects (nothing is applied).
  ReloadOutcome check_etcd(const EtcdSync::Change& change) const;
  // The config versions; null when the admin API is off (nothing reads them then).
  const config::History* history() const { return history_.get(); }
  // The text of the version in force (nullopt without a history or when it cannot be read).
  std::optional<std::string> current_text() const;
  // Stops accepting, lets in-flight requests finish (up to timeouts.drain), then stops workers.
  // upgrade: the old process of a binary upgrade, which also waits for its keep-alive clients to
  // leave (they are told Connection: close on their next answer, or closed after 1 s idle).
  void drain(bool upgrade = false);
  bool upgrade_drain() const { return upgrade_drain_.load(std::memory_order_acquire); }
  // The listening sockets by listener address (an upgrade hands them over; valid until drain).
  const std::vector<std::pair<std::string, std::vector<int>>>& listen_fds() const {
    return listen_fds_;
  }
  // The local rate-limit counters in a memory file (proxy/handover.h), rewound; -1 on failure.
  int save_state();
  // Waits for the workers to exit (after drain()).
  void join();

  std::shared_ptr<const Snapshot> current() const;
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // Changes with every publication (reload or DNS change): what workers poll.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Re-resolves host-name targets; republishes the snapshot when an address changed.
  void refresh_dns();
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  uint64_t drain_deadline_ms() const { return drain_deadline_ms_.load(); }
  const std::string& config_path() const { return config_path_; }  // the first --config file
  const std::vector<std::string>& config_paths() const { return config_paths_; }
  // Every file the last load (start or file reload, valid or not) read or tried, with the hash
  // of its bytes: what config_watch.h watches.
  std::vector<config::SourceFile> source_files() const;
  ReloadOutcome last_reload() const;
  size_t worker_count() const { return workers_.size(); }
  // For /metrics (control thread): each worker's shard, the route names by slot, reload counts.
  const observe::WorkerMetrics& worker_metrics(size_t i) const;
  std::vector<std::string> route_names() const { return registry_.route_names(); }
  size_t route_slot_count() const { return registry_.route_slot_count(); }
  uint64_t reloads_ok() const { return reloads_ok_.load(); }
  uint64_t reloads_failed() const { return reloads_failed_.load(); }
  // While draining, each worker reports whether it still has requests in flight; all stop when
  // none has, so an idle keep-alive client of one worker is still answered (with Connection:
  // close) while another worker finishes its requests.
  void set_worker_drained(bool drained) { drained_workers_.fetch_add(drained ? 1 : -1); }
  bool all_drained() const { return drained_workers_.load() == static_cast<int>(workers_.size()); }
  // True once every worker thread has returned (after drain()).
  bool finished() const { return running_.load(std::memory_order_acquire) == 0; }
  // Frees the snapshots no worker uses any more (control thread; every 250 ms and at publish).
  void release_retired();
  // SIGUSR1: the access log file is reopened (after logrotate moved it).
  void reopen_logs();
  // After join(): exports the spans still queued (waiting at most a few seconds for the
  // collector) and writes what the access log still holds.
  void flush_observability();
  // For /metrics; null while the feature was never on.
  const observe::OtlpExporter* exporter() const { return exporter_.get(); }
  const observe::AccessLogWriter* access_log() const { return access_log_.get(); }
  // The JWKS fetcher of a provider's URL and refresh settings, made and started on first use
  // (control thread) and kept for the life of the process; null with *error when the URL is bad.
  auth::JwksFetcher* jwks_fetcher(const config::JwtProviderConfig& p, std::string* error);
  // The event stream (config applied or refused, breakers, health, ejections, JWKS): what
  // GET /api/v1/events serves; webhooks are fed from it. Control thread.
  observe::EventBus& events() { return events_; }
  // Null until a config names a webhook.
  const observe::WebhookSender* webhooks() const { return webhooks_.get(); }
  // Connection limits and the memory verdict (made by start(); workers and /metrics read them).
  ConnectionLimits& connection_limits() { return *limits_; }
  const ConnectionLimits* connection_limits_or_null() const { return limits_.get(); }

 private:
  void publish(std::shared_ptr<const Snapshot> snap);
  // Resolves the names not yet in book_ (blocking the control loop for at most the DNS timeout).
  void resolve_missing(const config::Config& cfg);
  // previous: the snapshot whose reuse_of() the config was loaded with, or null.
  SnapshotResult build(config::Config cfg, uint64_t version, const Snapshot* previous = nullptr);
  void configure_health_checks(const Snapshot& snap);
  // The counters of save_state() read from fd (closed), before the workers start.
  void restore_state(int fd);
  // Creates the span rings and access-log buffers a config needs (before its snapshot is built,
  // so the snapshot can point at them); checks that the access log file can be opened.
  bool prepare_sinks(const config::Config& cfg, size_t workers,
                     std::vector<config::ConfigError>* errors);
  // After a config is in force: exporter and access-log file follow it.
  void apply_observability(const config::Config& cfg);

  // Opens the version history of a config with the admin API on. The config to start with is
  // the file's, or the latest version's when that came from the API on top of this very file
  // (API changes survive a restart; an edited file wins).
  // `loaded` and `text` are the file's; they become the version's when it resumes one. Sets
  // the version to start with and whether it is a new one to record.
  void open_history(config::LoadResult& loaded, std::string& text, uint64_t* version, bool* record);
  // Counts and logs an outcome of reload()/apply() and keeps it as the last one.
  ReloadOutcome finish_reload(ReloadOutcome out, const ConfigOrigin& origin);
  // apply() of a config already loaded from `text`.
  // previous: as build()'s.
  ReloadOutcome apply_loaded(config::LoadResult loaded, const std::string& text,
                             const ConfigOrigin& origin, const Snapshot* previous = nullptr);
  // The config files read again: their files become source_files(), their hash file_hash_.
  config::Sources load_sources(const config::RouteReuse* reuse = nullptr);
  // Loading and compiling a config runs on builder_ (nice 19) while this thread waits: the
  // workers get the CPU first (docs/performance.md, "Reloads under load").
  template <typename F>
  ReloadOutcome at_low_priority(F&& f) const {
    ReloadOutcome out;
    builder_->run([&] { out = f(); });
    return out;
  }
  // check(): the loaded config built against a scratch registry.
  ReloadOutcome check_loaded(config::LoadResult loaded) const;
  // The files with etcd's objects when etcd answers at start; the files alone when it does not
  // (or its objects are refused), logged.
  void start_etcd(const config::EtcdSourceConfig& cfg, config::Sources* sources);
  // config.applied or config.refused on the event stream.
  void publish_reload_event(const ReloadOutcome& out, const ConfigOrigin& origin);
  void record_version(const Snapshot& snap, const std::string& text, const ConfigOrigin& origin);

  std::string config_path_;
  std::vector<std::string> config_paths_;
  std::string file_hash_;  // of the config files (and variables) as last read
  std::vector<config::SourceFile> source_files_;  // guarded by mu_
  std::unique_ptr<config::History> history_;
  core::EventLoop& control_loop_;
  RuntimeRegistry registry_;
  AddressBook book_;  // control thread only
  std::unique_ptr<net::Resolver> resolver_;
  std::unique_ptr<balance::HealthChecker> health_;
  std::unique_ptr<DnsRefresh> dns_refresh_;
  std::unique_ptr<RateLimitSweep> rate_limit_sweep_;
  std::unique_ptr<MemoryWatch> memory_watch_;
  observe::EventBus events_;
  std::unique_ptr<observe::WebhookSender> webhooks_;
  std::unique_ptr<EventWatch> event_watch_;
  std::unique_ptr<EtcdSync> etcd_;
  std::unique_ptr<core::LowPriorityRunner> builder_ =
      std::make_unique<core::LowPriorityRunner>(kBuildNice);
  std::unique_ptr<ConnectionLimits> limits_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> reloads_ok_{0};
  std::atomic<uint64_t> reloads_failed_{0};
  mutable std::mutex mu_;  // guards current_ and last_reload_ (control plane only)
  std::shared_ptr<const Snapshot> current_;
  // Snapshots replaced but maybe still used by a worker: freed here, never on a worker.
  std::vector<std::shared_ptr<const Snapshot>> retired_;
  // The listeners, workers, admin, tracing and access log the process was started with.
  config::Config bound_;
  ReloadOutcome last_reload_;
  std::atomic<uint64_t> version_{0};
  std::atomic<bool> draining_{false};
  std::atomic<bool> upgrade_drain_{false};
  std::vector<std::pair<std::string, std::vector<int>>> listen_fds_;
  std::atomic<uint64_t> drain_deadline_ms_{0};
  std::atomic<int> running_{0};
  std::atomic<int> drained_workers_{0};
  std::vector<std::unique_ptr<observe::SpanRing>> span_rings_;
  std::unique_ptr<observe::OtlpExporter> exporter_;
  std::map<std::string, std::unique_ptr<auth::JwksFetcher>> jwks_;
  std::unique_ptr<observe::AccessLogWriter> access_log_;
  std::string access_log_path_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

}  // namespace sluice::proxy
