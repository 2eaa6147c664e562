#include "proxy/gateway.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>

#include "core/clock.h"
#include "net/socket.h"
#include "proxy/event_watch.h"
#include "proxy/handover.h"
#include "proxy/worker.h"

namespace sluice::proxy {
namespace {

std::vector<std::string> to_strings(const std::vector<config::ConfigError>& errors) {
  std::vector<std::string> out;
  out.reserve(errors.size());
  for (const auto& e : errors) out.push_back(e.to_string());
  return out;
}

size_t worker_count_for(const config::Config& cfg) {
  if (cfg.workers > 0) return static_cast<size_t>(cfg.workers);
  return static_cast<size_t>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
}

}  // namespace

// Re-resolves host-name targets every dns_refresh (the shortest of the upstreams that have any).
class DnsRefresh : public core::Timer {
 public:
  explicit DnsRefresh(Gateway& gw) : gw_(gw) {}
  void on_timer() override { gw_.refresh_dns(); }

 private:
  Gateway& gw_;
};

// Every second: forgets the idle keys of local rate-limit stores, a bounded amount per store, so
// that memory follows the active keys rather than every key ever seen.
class RateLimitSweep : public core::Timer {
 public:
  explicit RateLimitSweep(Gateway& gw, core::EventLoop& loop) : gw_(gw), loop_(loop) {}
  void on_timer() override {
    std::shared_ptr<const Snapshot> snap = gw_.current();
    timespec wall{};
    clock_gettime(CLOCK_REALTIME, &wall);
    const uint64_t unix_ms =
        static_cast<uint64_t>(wall.tv_sec) * 1000 + static_cast<uint64_t>(wall.tv_nsec) / 1000000;
    for (const Route& r : snap->routes) {
      for (const RatePolicy& p : r.rate_limits()) {
        if (!p.cluster) p.runtime->store.sweep(p.params, unix_ms, 4096);
      }
    }
    loop_.timers().schedule(*this, loop_.now_ms() + 1000);
  }

 private:
  Gateway& gw_;
  core::EventLoop& loop_;
};

// Every 250 ms while limits.memory_budget is set: the resident set against it. Over it, new
// connections get 503 (ConnectionLimits::admit); each crossing is logged once.
class MemoryWatch : public core::Timer {
 public:
  MemoryWatch(Gateway& gw, core::EventLoop& loop) : gw_(gw), loop_(loop) {}
  void on_timer() override {
    const uint64_t budget = gw_.current()->config.limits.memory_budget;
    const uint64_t rss = budget != 0 ? resident_bytes() : 0;
    const bool over = budget != 0 && rss > budget;
    ConnectionLimits& limits = gw_.connection_limits();
    if (over != limits.over_memory()) {
      limits.set_over_memory(over);
      if (over) {
        std::fprintf(stderr,
                     "memory: resident %llu MiB is over limits.memory_budget (%llu MiB): new "
                     "connections get 503 until it is back under\n",
                     static_cast<unsigned long long>(rss >> 20),
                     static_cast<unsigned long long>(budget >> 20));
      } else {
        std::fprintf(stderr, "memory: back under limits.memory_budget; accepting connections\n");
      }
    }
    gw_.release_retired();
    loop_.timers().schedule(*this, loop_.now_ms() + 250);
  }

 private:
  Gateway& gw_;
  core::EventLoop& loop_;
};

Gateway::Gateway(std::vector<std::string> config_paths, core::EventLoop& control_loop)
    : config_path_(config_paths.empty() ? std::string() : config_paths.front()),
      config_paths_(std::move(config_paths)),
      control_loop_(control_loop) {
  registry_.set_jwks_lookup([this](const config::JwtProviderConfig& p, std::string* error) {
    return jwks_fetcher(p, error);
  });
}

auth::JwksFetcher* Gateway::jwks_fetcher(const config::JwtProviderConfig& p, std::string* error) {
  const std::string key = p.jwks_url + "|" + std::to_string(p.jwks_refresh_ms) + "|" +
                          std::to_string(p.jwks_min_refresh_ms) + "|" + p.jwks_ca_file;
  auto it = jwks_.find(key);
  if (it != jwks_.end()) return it->second.get();
  auth::JwksFetcherOptions o;
  o.url = p.jwks_url;
  o.ca_file = p.jwks_ca_file;
  o.refresh_interval_ms = p.jwks_refresh_ms;
  o.min_refresh_interval_ms = p.jwks_min_refresh_ms;
  auto f = std::make_unique<auth::JwksFetcher>(control_loop_, o);
  if (!f->start(error)) return nullptr;
  return jwks_.emplace(key, std::move(f)).first->second.get();
}

Gateway::~Gateway() {
  if (!threads_.empty()) {
    drain();
    join();
  }
}

void Gateway::resolve_missing(const config::Config& cfg) {
  std::vector<std::pair<std::string, uint16_t>> names = target_host_names(cfg);
  if (names.empty()) return;
  if (!resolver_) {
    std::string err;
    resolver_ = std::make_unique<net::Resolver>(control_loop_, cfg.dns.servers, &err);
    if (!err.empty()) std::fprintf(stderr, "dns: %s\n", err.c_str());
  }
  // Shared with the callbacks: one may come after the wait below gave up.
  auto waiting = std::make_shared<size_t>(0);
  for (const auto& [host, port] : names) {
    if (book_.contains(host)) continue;
    ++*waiting;
    book_[host];  // resolved or not, asked once here; the refresh retries
    resolver_->resolve(host, port,
                       [this, host = host, waiting](bool ok, std::vector<net::SocketAddress> addrs,
                                                    const std::string& error) {
                         --*waiting;
                         if (ok && !addrs.empty()) {
                           book_[host] = std::move(addrs);
                         } else {
                           std::fprintf(stderr, "dns: %s: %s\n", host.c_str(), error.c_str());
                         }
                       });
  }
  const uint64_t deadline = core::monotonic_ms() + cfg.dns.timeout_ms + 500;
  while (*waiting > 0 && core::monotonic_ms() < deadline) control_loop_.run_once(50);
}

SnapshotResult Gateway::build(config::Config cfg, uint64_t version, const Snapshot* previous) {
  resolve_missing(cfg);
  SnapshotResult r;
  if (!prepare_sinks(cfg, workers_.empty() ? worker_count_for(cfg) : workers_.size(), &r.errors)) {
    return r;
  }
  return build_snapshot(std::move(cfg), version, generation() + 1, registry_, book_, previous);
}

bool Gateway::prepare_sinks(const config::Config& cfg, size_t workers,
                            std::vector<config::ConfigError>* errors) {
  ObserveSinks sinks = registry_.sinks();
  if (cfg.tracing.enabled) {
    net::SocketAddress addr;
    std::string err;
    if (!net::resolve_address(cfg.tracing.host, cfg.tracing.port, &addr, &err)) {
      errors->push_back({cfg.source_file, {}, "tracing.endpoint", err});
    }
    if (span_rings_.empty()) {
      for (size_t i = 0; i < workers; ++i) {
        span_rings_.push_back(std::make_unique<observe::SpanRing>(cfg.tracing.queue_size));
        sinks.span_rings.push_back(span_rings_.back().get());
      }
    }
  }
  if (cfg.access_log.enabled) {
    const std::string& path = cfg.access_log.path;
    if (!access_log_) {
      auto writer = std::make_unique<observe::AccessLogWriter>(path);
      std::vector<observe::AccessLogBuffer*> buffers;
      for (size_t i = 0; i < workers; ++i) {
        buffers.push_back(writer->add_buffer(cfg.access_log.buffer_bytes));
      }
      std::string err;
      if (!writer->start(&err)) {
        errors->push_back({cfg.source_file, {}, "access_log.path", err});
      } else {
        sinks.access_logs = std::move(buffers);
        access_log_ = std::move(writer);
        access_log_path_ = path;
      }
    } else if (path != access_log_path_ && path != "-") {
      // Refuse a file the writer could not open rather than lose the log after the reload.
      int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) {
        errors->push_back(
            {cfg.source_file, {}, "access_log.path", path + ": " + std::strerror(errno)});
      } else {
        ::close(fd);
      }
    }
  }
  registry_.set_sinks(std::move(sinks));
  return errors->empty();
}

void Gateway::apply_observability(const config::Config& cfg) {
  events_.set_capacity(cfg.events.history);
  if (!cfg.events.webhooks.empty() && !webhooks_) {
    webhooks_ = std::make_unique<observe::WebhookSender>();
    events_.add_listener(
        [sender = webhooks_.get()](const observe::Event& e) { sender->enqueue(e); });
  }
  if (webhooks_) webhooks_->configure(cfg.events.webhooks);
  if (cfg.tracing.enabled) {
    observe::OtlpExporterOptions o;
    std::string err;
    net::resolve_address(cfg.tracing.host, cfg.tracing.port, &o.address, &err);
    o.host_header = cfg.tracing.host + ":" + std::to_string(cfg.tracing.port);
    o.path = cfg.tracing.path;
    o.headers = cfg.tracing.headers;
    o.flush_interval_ms = cfg.tracing.flush_interval_ms;
    o.max_batch = cfg.tracing.max_batch;
    o.timeout_ms = cfg.tracing.timeout_ms;
    o.resource.service_name = cfg.tracing.service_name;
    o.resource.service_version = SLUICE_VERSION;
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0) o.resource.host_name = host;
    if (!exporter_) {
      std::vector<observe::SpanRing*> rings;
      for (auto& r : span_rings_) rings.push_back(r.get());
      exporter_ =
          std::make_unique<observe::OtlpExporter>(control_loop_, std::move(rings), std::move(o));
    } else {
      exporter_->reconfigure(std::move(o));
    }
  }
  if (cfg.access_log.enabled && access_log_ && cfg.access_log.path != access_log_path_) {
    access_log_->set_path(cfg.access_log.path);
    access_log_path_ = cfg.access_log.path;
  }
}

void Gateway::reopen_logs() {
  if (access_log_) access_log_->reopen();
}

void Gateway::flush_observability() {
  if (exporter_) {
    const uint64_t deadline = core::monotonic_ms() + 3000;
    exporter_->flush_now();
    auto queued = [this] {
      size_t n = 0;
      for (const auto& r : span_rings_) n += r->size_approx();
      return n;
    };
    while ((exporter_->busy() || queued() > 0) && core::monotonic_ms() < deadline) {
      control_loop_.run_once(20);
      if (!exporter_->busy()) exporter_->flush_now();
    }
  }
  if (access_log_) access_log_->stop();
}

void Gateway::refresh_dns() {
  std::shared_ptr<const Snapshot> snap = current();
  std::vector<std::pair<std::string, uint16_t>> names = target_host_names(snap->config);
  uint64_t interval = 0;
  for (const config::UpstreamConfig& u : snap->config.upstreams) {
    for (const config::TargetConfig& t : u.targets) {
      for (const auto& n : names) {
        if (n.first == t.address.host && (interval == 0 || u.dns_refresh_ms < interval)) {
          interval = u.dns_refresh_ms;
        }
      }
    }
  }
  if (names.empty() || !resolver_) return;
  auto pending = std::make_shared<size_t>(names.size());
  auto changed = std::make_shared<bool>(false);
  for (const auto& [host, port] : names) {
    resolver_->resolve(
        host, port,
        [this, host = host, pending, changed](bool ok, std::vector<net::SocketAddress> addrs,
                                              const std::string& error) {
          if (ok && !addrs.empty()) {
            std::vector<net::SocketAddress>& known = book_[host];
            bool same = known.size() == addrs.size();
            for (size_t i = 0; same && i < addrs.size(); ++i) {
              same = known[i].length == addrs[i].length &&
                     std::memcmp(&known[i].storage, &addrs[i].storage, addrs[i].length) == 0;
            }
            if (!same) {
              std::string list;
              for (const net::SocketAddress& a : addrs) list += " " + net::ip_string(a.storage);
              std::fprintf(stderr, "dns: %s now resolves to%s\n", host.c_str(), list.c_str());
              known = std::move(addrs);
              *changed = true;
            }
          } else {
            // The last good addresses stay in use.
            std::fprintf(stderr, "dns: %s: %s (keeping the last good addresses)\n", host.c_str(),
                         error.c_str());
          }
          if (--*pending == 0 && *changed) {
            // Only the targets change: the routes and their chains are shared.
            publish(with_addresses(*current(), generation() + 1, registry_, book_));
          }
        });
  }
  if (interval > 0 && dns_refresh_) {
    control_loop_.timers().schedule(*dns_refresh_, control_loop_.now_ms() + interval);
  }
}

void Gateway::configure_health_checks(const Snapshot& snap) {
  if (!health_) health_ = std::make_unique<balance::HealthChecker>(control_loop_);
  std::vector<balance::HealthCheckTarget> checks;
  for (const Upstream& u : snap.upstreams) {
    if (!u.health_check.enabled) continue;
    for (const Target& t : u.targets) {
      if (t.addresses.empty()) continue;
      balance::HealthCheckTarget c;
      c.state = t.state;
      c.address = t.addresses.front();
      c.host_header = u.health_check.host.empty() ? t.key : u.health_check.host;
      c.config = u.health_check;
      c.uneject = u.outlier.enabled && u.outlier.uneject_on_health_check;
      checks.push_back(std::move(c));
    }
  }
  health_->configure(std::move(checks));
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
  release_retired();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_) retired_.push_back(current_);
    current_ = std::move(snap);
    version_.store(current_->version, std::memory_order_release);
    generation_.store(current_->generation, std::memory_order_release);
  }
  for (auto& w : workers_) w->notify();
  configure_health_checks(*current());
  registry_.prune();
}

void Gateway::release_retired() {
  // Only this list still refers to them once every worker (and every request that started on
  // them) moved on: freeing 10,000 routes then costs this thread, not a worker's loop turn.
  std::erase_if(retired_,
                [](const std::shared_ptr<const Snapshot>& s) { return s.use_count() == 1; });
}

void Gateway::open_history(config::LoadResult& loaded, std::string& text, uint64_t* version,
                           bool* record) {
  const config::AdminConfig& admin = loaded.config->admin;
  history_ = std::make_unique<config::History>(
      admin.state_dir.empty() ? config_path_ + ".state" : admin.state_dir, admin.history);
  std::string err;
  if (!history_->open(&err)) {
    std::fprintf(stderr, "config history: %s; versions are kept in memory only\n", err.c_str());
  }
  const config::VersionRecord* last = history_->latest();
  *version = history_->last_version() + 1;
  *record = true;
  if (last == nullptr) return;
  if (last->hash == file_hash_) {  // the file is the latest version: nothing new
    *version = last->version;
    *record = false;
    return;
  }
  if (last->file_hash != file_hash_) return;  // the file was edited since: it wins
  std::optional<std::string> saved = history_->text(last->version);
  config::LoadResult resumed;
  if (saved) resumed = config::load_config_string(*saved, history_->text_path(*last));
  if (!resumed.ok()) {
    std::fprintf(stderr,
                 "config history: version %llu (%s) cannot be resumed (%s); starting from %s\n",
                 static_cast<unsigned long long>(last->version), last->source.c_str(),
                 saved ? to_strings(resumed.errors).front().c_str() : "its text is unreadable",
                 config_path_.c_str());
    return;
  }
  std::fprintf(
      stderr, "config history: resuming version %llu (%s by %s, %s): %s is unchanged since\n",
      static_cast<unsigned long long>(last->version), last->source.c_str(), last->author.c_str(),
      config::iso8601_utc(last->time_ms).c_str(), config_path_.c_str());
  loaded = std::move(resumed);
  text = std::move(*saved);
  *version = last->version;
  *record = false;
}

void Gateway::record_version(const Snapshot& snap, const std::string& text,
                             const ConfigOrigin& origin) {
  if (!history_) return;
  config::VersionRecord r;
  r.version = snap.version;
  r.hash = snap.config.hash;
  r.source = origin.source;
  r.author = origin.author;
  r.format = origin.format;
  r.file_hash = file_hash_;
  r.rollback_of = origin.rollback_of;
  std::string err;
  if (!history_->record(r, text, &err)) {
    std::fprintf(stderr, "config history: version %llu kept in memory only: %s\n",
                 static_cast<unsigned long long>(r.version), err.c_str());
  }
}

std::optional<std::string> Gateway::current_text() const {
  if (!history_) return std::nullopt;
  return history_->text(version());
}

config::Sources Gateway::load_sources(const config::RouteReuse* reuse) {
  config::Sources s =
      etcd_ ? config::load_sources(config_paths_, etcd_->layers(), config::process_env(), reuse)
            : config::load_sources(config_paths_, {}, config::process_env(), reuse);
  if (etcd_) etcd_->name_keys(&s.loaded.errors);
  if (s.loaded.ok()) file_hash_ = s.hash;
  std::lock_guard<std::mutex> lock(mu_);
  source_files_ = s.files;
  return s;
}

std::vector<config::SourceFile> Gateway::source_files() const {
  std::lock_guard<std::mutex> lock(mu_);
  return source_files_;
}

void Gateway::start_etcd(const config::EtcdSourceConfig& cfg, config::Sources* sources) {
  etcd_ = std::make_unique<EtcdSync>(*this, control_loop_, cfg);
  std::string err;
  if (!etcd_->load(&err)) {
    std::fprintf(stderr,
                 "etcd: unreachable at start (%s): starting from the config files; its objects "
                 "follow when it answers\n",
                 err.c_str());
    return;
  }
  etcd_->set_applied(etcd_->revision());
  config::Sources with = load_sources();
  if (!with.loaded.ok()) {
    for (const config::ConfigError& e : with.loaded.errors) {
      std::fprintf(stderr, "etcd: refused at start: %s\n", e.to_string().c_str());
    }
    std::fprintf(stderr, "etcd: starting from the config files alone\n");
    return;
  }
  std::fprintf(stderr, "etcd: %zu object(s) under %s at revision %lld\n", etcd_->object_count(),
               cfg.prefix.c_str(), static_cast<long long>(etcd_->revision()));
  *sources = std::move(with);
}

bool Gateway::start(std::vector<std::string>* errors, Inherited* inherited_from) {
  config::Sources sources = load_sources();
  if (sources.loaded.ok() && sources.loaded.config->etcd.enabled) {
    start_etcd(sources.loaded.config->etcd, &sources);
  }
  config::LoadResult loaded = std::move(sources.loaded);
  std::string text = std::move(sources.text);
  if (!loaded.ok()) {
    *errors = to_strings(loaded.errors);
    return false;
  }
  uint64_t version = 1;
  bool record = false;
  if (loaded.config->admin.enabled) open_history(loaded, text, &version, &record);
  SnapshotResult built = build(std::move(*loaded.config), version);
  if (!built.snapshot) {
    *errors = to_strings(built.errors);
    return false;
  }
  const config::Config& cfg = built.snapshot->config;
  // What a reload cannot change, for its warnings (not the routes: a copy of 100k of them would
  // double the config's memory).
  bound_.listeners = cfg.listeners;
  bound_.workers = cfg.workers;
  bound_.admin = cfg.admin;
  bound_.tracing = cfg.tracing;
  bound_.access_log = cfg.access_log;
  const int n = static_cast<int>(worker_count_for(cfg));

  // One SO_REUSEPORT socket per worker and listener: the kernel spreads connections, no
  // accept lock is shared between workers.
  std::vector<std::vector<int>> fds(static_cast<size_t>(n));
  for (const config::ListenerConfig& l : cfg.listeners) {
    const std::string at = cfg.file_of(l.mark) + ":" + std::to_string(l.mark.line) + ":" +
                           std::to_string(l.mark.col) + ": listeners: ";
    net::SocketAddress addr;
    std::string err;
    if (!net::resolve_address(l.address.host, l.address.port, &addr, &err)) {
      errors->push_back(at + err);
      continue;
    }
    std::vector<int> inherited =
        inherited_from ? inherited_from->take(l.address.text) : std::vector<int>{};
    if (inherited.empty()) {
      // SO_REUSEPORT would let this process silently share a port another process listens on;
      // a plain bind first makes that an error.
      int probe = net::listen_tcp(addr, false, 1, &err);
      if (probe < 0) {
        errors->push_back(std::string(at).append(l.address.text).append(": ").append(err));
        continue;
      }
      close(probe);
    }
    std::vector<int> mine;
    for (int w = 0; w < n; ++w) {
      // The upgrading process's sockets first (the very sockets: nothing queued is lost), then
      // new ones in the same SO_REUSEPORT group when this process has more workers.
      int fd = static_cast<size_t>(w) < inherited.size() ? inherited[static_cast<size_t>(w)]
                                                         : net::listen_tcp(addr, true, 4096, &err);
      if (fd < 0) {
        errors->push_back(std::string(at).append(l.address.text).append(": ").append(err));
        break;
      }
      fds[static_cast<size_t>(w)].push_back(fd);
      mine.push_back(fd);
    }
    for (size_t k = static_cast<size_t>(n); k < inherited.size(); ++k) close(inherited[k]);
    listen_fds_.emplace_back(l.address.text, std::move(mine));
  }
  if (inherited_from) inherited_from->close_rest();
  if (!errors->empty()) {
    for (auto& list : fds) {
      for (int fd : list) close(fd);
    }
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_reload_.ok = true;
    last_reload_.version = version;
    last_reload_.hash = cfg.hash;
  }
  limits_ = std::make_unique<ConnectionLimits>(cfg.listeners.size());
  if (inherited_from && inherited_from->state_fd >= 0) restore_state(inherited_from->state_fd);
  if (record) record_version(*built.snapshot, text, ConfigOrigin{"file", "start", "yaml", 0});
  text = {};
  publish(built.snapshot);
  apply_observability(cfg);
  ::malloc_trim(0);  // the document tree and the parse's scratch are gone: give the pages back
  for (int w = 0; w < n; ++w) {
    workers_.push_back(std::make_unique<Worker>(*this, w, std::move(fds[static_cast<size_t>(w)])));
  }
  dns_refresh_ = std::make_unique<DnsRefresh>(*this);
  refresh_dns();
  rate_limit_sweep_ = std::make_unique<RateLimitSweep>(*this, control_loop_);
  control_loop_.timers().schedule(*rate_limit_sweep_, control_loop_.now_ms() + 1000);
  memory_watch_ = std::make_unique<MemoryWatch>(*this, control_loop_);
  control_loop_.timers().schedule(*memory_watch_, control_loop_.now_ms());  // first sample at once
  event_watch_ = std::make_unique<EventWatch>(*this, events_, control_loop_);
  event_watch_->start();
  if (etcd_) etcd_->start();
  running_.store(static_cast<int>(workers_.size()));
  for (auto& w : workers_) {
    threads_.emplace_back([this, worker = w.get()] {
      worker->run();
      running_.fetch_sub(1, std::memory_order_acq_rel);
    });
  }
  return true;
}

const observe::WorkerMetrics& Gateway::worker_metrics(size_t i) const {
  return workers_[i]->metrics();
}

int Gateway::save_state() {
  const int fd = ::memfd_create("sluice-state", MFD_CLOEXEC);
  if (fd < 0) return -1;
  const std::string text = encode_rate_limits(registry_) + encode_targets(registry_);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

void Gateway::restore_state(int fd) {
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(fd);
  std::string err;
  const size_t keys = restore_rate_limits(text, registry_, &err);
  std::string target_err;
  const size_t targets = restore_targets(text, registry_, &target_err);
  if (err.empty()) err = target_err;
  std::fprintf(stderr,
               "upgrade: %zu rate-limit key(s) and the health of %zu target(s) handed over%s%s\n",
               keys, targets, err.empty() ? "" : "; state: ", err.c_str());
}

void Gateway::drain(bool upgrade) {
  if (upgrade) upgrade_drain_.store(true, std::memory_order_release);
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
