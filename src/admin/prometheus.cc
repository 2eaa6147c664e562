// GET /metrics: the Prometheus text format (0.0.4) of the per-worker shards merged, the
// upstream and target state, config reloads and the process.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "admin/admin_server.h"
#include "balance/target_state.h"
#include "core/clock.h"
#include "limits/circuit_breaker.h"
#include "observe/metrics.h"
#include "proxy/overload.h"

namespace sluice::admin {
namespace {

std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, const std::string& labels, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += buf;
  out += '\n';
}

void sample(std::string& out, const std::string& name, const std::string& labels, uint64_t v) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += std::to_string(v);
  out += '\n';
}

struct Merged {
  std::array<std::array<uint64_t, 5>, http::kMethodCount> requests{};
  std::array<uint64_t, observe::kLatencyBounds.size() + 1> duration{};
  uint64_t duration_count = 0, duration_sum_us = 0;
  std::array<uint64_t, observe::kLatencyBounds.size() + 1> upstream{};
  uint64_t upstream_count = 0, upstream_sum_us = 0;
  std::array<uint64_t, static_cast<size_t>(observe::AuthFailure::kCount)> auth_failures{};
  uint64_t mirror_answered = 0, mirror_failed = 0, mirror_dropped = 0;
  int64_t mirror_in_flight = 0;
  bool any = false;
};

void add(const observe::Histogram& h, std::array<uint64_t, observe::kLatencyBounds.size() + 1>& b,
         uint64_t& count, uint64_t& sum) {
  for (size_t i = 0; i < b.size(); ++i) b[i] += h.buckets[i].load(std::memory_order_relaxed);
  count += h.count.load(std::memory_order_relaxed);
  sum += h.sum_us.load(std::memory_order_relaxed);
}

void histogram(std::string& out, const std::string& name, const std::string& labels,
               const std::array<uint64_t, observe::kLatencyBounds.size() + 1>& b, uint64_t count,
               uint64_t sum_us) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < observe::kLatencyBounds.size(); ++i) {
    cumulative += b[i];
    char le[32];
    std::snprintf(le, sizeof(le), "%g", observe::kLatencyBounds[i]);
    sample(out, name + "_bucket", labels + ",le=\"" + le + "\"", cumulative);
  }
  cumulative += b.back();
  sample(out, name + "_bucket", labels + ",le=\"+Inf\"", cumulative);
  sample(out, name + "_sum", labels, static_cast<double>(sum_us) / 1e6);
  sample(out, name + "_count", labels, count);
}

uint64_t open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  uint64_t n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n > 0 ? n - 1 : 0;  // minus the directory handle itself
}

}  // namespace

std::string AdminServer::metrics_text() {
  std::string out;
  out.reserve(16384);
  const size_t workers = gateway_.worker_count();
  const std::vector<std::string> names = gateway_.route_names();

  // Requests and latency by route (slot 0: requests that matched no route).
  std::vector<Merged> routes(names.size());
  for (size_t slot = 0; slot < names.size(); ++slot) {
    Merged& m = routes[slot];
    for (size_t w = 0; w < workers; ++w) {
      const observe::RouteMetrics* r = gateway_.worker_metrics(w).find(slot);
      if (r == nullptr) continue;
      m.any = true;
      for (size_t i = 0; i < http::kMethodCount; ++i) {
        for (size_t c = 0; c < 5; ++c) m.requests[i][c] += r->requests[i][c].load();
      }
      add(r->duration, m.duration, m.duration_count, m.duration_sum_us);
      add(r->upstream, m.upstream, m.upstream_count, m.upstream_sum_us);
      for (size_t i = 0; i < m.auth_failures.size(); ++i) {
        m.auth_failures[i] += r->auth_failures[i].load();
      }
      m.mirror_answered += r->mirror_answered.load();
      m.mirror_failed += r->mirror_failed.load();
      m.mirror_dropped += r->mirror_dropped.load();
      m.mirror_in_flight += r->mirror_in_flight.load();
    }
  }
  auto route_label = [&](size_t slot) {
    return "route=\"" + label(slot == 0 ? std::string_view("none") : names[slot]) + "\"";
  };
  header(out, "sluice_requests_total", "counter",
         "Requests answered, by route, method and status class.");
  for (size_t slot = 0; slot < routes.size(); ++slot) {
    if (!routes[slot].any) continue;
    for (size_t i = 0; i < http::kMethodCount; ++i) {
      for (size_t c = 0; c < 5; ++c) {
        uint64_t v = routes[slot].requests[i][c];
        if (v == 0) continue;
        sample(out, "sluice_requests_total",
               route_label(slot) + ",method=\"" +
                   std::string(http::method_name(static_cast<http::Method>(i))) + "\",code=\"" +
                   std::to_string(c + 1) + "xx\"",
               v);
      }
    }
  }
  header(out, "sluice_auth_failures_total", "counter",
         "Requests refused by a security filter, by route and reason.");
  for (size_t slot = 0; slot < routes.size(); ++slot) {
    for (size_t i = 0; i < routes[slot].auth_failures.size(); ++i) {
      if (routes[slot].auth_failures[i] == 0) continue;
      sample(out, "sluice_auth_failures_total",
             route_label(slot) + ",reason=\"" + observe::kAuthFailureNames[i] + "\"",
             routes[slot].auth_failures[i]);
    }
  }
  auto mirrored = [](const Merged& m) {
    return m.mirror_answered + m.mirror_failed + m.mirror_dropped != 0 || m.mirror_in_flight != 0;
  };
  header(out, "sluice_mirror_requests_total", "counter",
         "Mirrored copies of requests, by route and result: answered by the shadow, failed "
         "(no valid answer), dropped (never sent: max_in_flight, max_body, shadow unavailable).");
  for (size_t slot = 0; slot < routes.size(); ++slot) {
    const Merged& m = routes[slot];
    if (!mirrored(m)) continue;
    for (auto [result, v] :
         {std::pair{"answered", m.mirror_answered}, std::pair{"failed", m.mirror_failed},
          std::pair{"dropped", m.mirror_dropped}}) {
      sample(out, "sluice_mirror_requests_total", route_label(slot) + ",result=\"" + result + "\"",
             v);
    }
  }
  header(out, "sluice_mirror_in_flight", "gauge", "Mirrored copies in flight, by route.");
  for (size_t slot = 0; slot < routes.size(); ++slot) {
    const Merged& m = routes[slot];
    if (!mirrored(m)) continue;
    sample(out, "sluice_mirror_in_flight", route_label(slot),
           static_cast<uint64_t>(std::max<int64_t>(m.mirror_in_flight, 0)));
  }
  header(out, "sluice_request_duration_seconds", "histogram",
         "Time from the request head to the complete response, by route.");
  for (size_t slot = 0; slot < routes.size(); ++slot) {
    if (!routes[slot].any) continue;
    histogram(out, "sluice_request_duration_seconds", route_label(slot), routes[slot].duration,
              routes[slot].duration_count, routes[slot].duration_sum_us);
  }
  header(out, "sluice_upstream_response_duration_seconds", "histogram",
         "Time from sending a request upstream to its response head (last try), by route.");
  for (size_t slot = 0; slot < routes.size(); ++slot) {
    if (!routes[slot].any || routes[slot].upstream_count == 0) continue;
    histogram(out, "sluice_upstream_response_duration_seconds", route_label(slot),
              routes[slot].upstream, routes[slot].upstream_count, routes[slot].upstream_sum_us);
  }

  header(out, "sluice_requests_refused_total", "counter",
         "Requests refused before routing (malformed head, header timeout), by status.");
  for (size_t i = 0; i < observe::WorkerMetrics::kRefusedStatuses.size(); ++i) {
    uint64_t v = 0;
    for (size_t w = 0; w < workers; ++w) v += gateway_.worker_metrics(w).refused[i].load();
    int code = observe::WorkerMetrics::kRefusedStatuses[i];
    sample(out, "sluice_requests_refused_total",
           code == 0 ? std::string("code=\"other\"") : "code=\"" + std::to_string(code) + "\"", v);
  }

  {
    uint64_t v = 0;
    for (size_t w = 0; w < workers; ++w) {
      v += gateway_.worker_metrics(w).headers_dropped_underscore.load();
    }
    header(out, "sluice_request_headers_dropped_total", "counter",
           "Request header fields left out by limits.headers_with_underscores: drop.");
    sample(out, "sluice_request_headers_dropped_total", "reason=\"underscore\"", v);
  }

  // Downstream connections and bytes, worker loop lag.
  int64_t active = 0;
  uint64_t total = 0, in = 0, sent = 0;
  for (size_t w = 0; w < workers; ++w) {
    const observe::WorkerMetrics& m = gateway_.worker_metrics(w);
    active += m.connections_active.load();
    total += m.connections_total.load();
    in += m.bytes_in.load();
    sent += m.bytes_out.load();
  }
  header(out, "sluice_downstream_connections", "gauge", "Open client connections.");
  sample(out, "sluice_downstream_connections", "", static_cast<double>(active));
  header(out, "sluice_downstream_connections_total", "counter", "Client connections accepted.");
  sample(out, "sluice_downstream_connections_total", "", total);
  if (const proxy::ConnectionLimits* limits = gateway_.connection_limits_or_null()) {
    header(out, "sluice_connections_refused_total", "counter",
           "Client connections refused at accept with a 503 (or closed, on TLS listeners), by "
           "the limit that refused them.");
    for (proxy::Refusal r : {proxy::Refusal::kListener, proxy::Refusal::kClient,
                             proxy::Refusal::kMemory, proxy::Refusal::kFdLimit}) {
      sample(out, "sluice_connections_refused_total",
             "reason=\"" + std::string(proxy::refusal_name(r)) + "\"", limits->refused(r));
    }
    std::shared_ptr<const proxy::Snapshot> snap = gateway_.current();
    header(out, "sluice_listener_connections", "gauge",
           "Open client connections per listener (listeners[].max_connections bounds them).");
    for (size_t l = 0; l < snap->config.listeners.size(); ++l) {
      sample(out, "sluice_listener_connections",
             "listener=\"" + json_escape(snap->config.listeners[l].address.text) + "\"",
             static_cast<double>(limits->open(l)));
    }
    header(out, "sluice_memory_over_budget", "gauge",
           "1 while the resident set is over limits.memory_budget (new connections get 503).");
    sample(out, "sluice_memory_over_budget", "", limits->over_memory() ? 1.0 : 0.0);
  }
  // TLS handshakes per listener index (only listeners that terminate TLS count any).
  header(out, "sluice_tls_handshakes_total", "counter",
         "TLS handshakes on client connections, by listener index and result.");
  for (size_t l = 0; l < observe::kMaxTlsListeners; ++l) {
    uint64_t ok = 0, failed = 0;
    for (size_t w = 0; w < workers; ++w) {
      ok += gateway_.worker_metrics(w).tls_handshakes_ok[l].load();
      failed += gateway_.worker_metrics(w).tls_handshakes_failed[l].load();
    }
    if (ok == 0 && failed == 0) continue;
    const std::string listener = "listener=\"" + std::to_string(l) + "\",";
    sample(out, "sluice_tls_handshakes_total", listener + "result=\"ok\"", ok);
    sample(out, "sluice_tls_handshakes_total", listener + "result=\"failed\"", failed);
  }
  header(out, "sluice_downstream_received_bytes_total", "counter", "Bytes read from clients.");
  sample(out, "sluice_downstream_received_bytes_total", "", in);
  header(out, "sluice_downstream_sent_bytes_total", "counter", "Bytes written to clients.");
  sample(out, "sluice_downstream_sent_bytes_total", "", sent);
  header(out, "sluice_worker_loop_lag_seconds", "gauge",
         "How late the worker's last 100 ms timer fired.");
  for (size_t w = 0; w < workers; ++w) {
    sample(out, "sluice_worker_loop_lag_seconds", "worker=\"" + std::to_string(w) + "\"",
           static_cast<double>(gateway_.worker_metrics(w).loop_lag_us.load()) / 1e6);
  }
  header(out, "sluice_worker_loop_lag_max_seconds", "gauge",
         "The largest loop lag seen since start.");
  for (size_t w = 0; w < workers; ++w) {
    sample(out, "sluice_worker_loop_lag_max_seconds", "worker=\"" + std::to_string(w) + "\"",
           static_cast<double>(gateway_.worker_metrics(w).loop_lag_max_us.load()) / 1e6);
  }

  // Upstreams and targets.
  std::shared_ptr<const proxy::Snapshot> snap = gateway_.current();
  const uint64_t now = core::monotonic_ms();
  struct UpstreamCounter {
    const char* name;
    const char* help;
    std::atomic<uint64_t> proxy::UpstreamRuntime::*field;
  };
  const UpstreamCounter counters[] = {
      {"sluice_upstream_retries_total", "Retries started.", &proxy::UpstreamRuntime::retries},
      {"sluice_upstream_connect_failures_total", "Failed or timed-out connects.",
       &proxy::UpstreamRuntime::connect_failures},
      {"sluice_upstream_timeouts_total", "Tries that timed out waiting for a response.",
       &proxy::UpstreamRuntime::timeouts},
      {"sluice_upstream_rejected_total", "Requests refused by the breaker or a limit (503).",
       &proxy::UpstreamRuntime::rejected},
  };
  for (const UpstreamCounter& c : counters) {
    header(out, c.name, "counter", c.help);
    for (const proxy::Upstream& u : snap->upstreams) {
      sample(out, c.name, "upstream=\"" + label(u.name) + "\"", (*u.runtime.*c.field).load());
    }
  }
  header(out, "sluice_upstream_breaker_state", "gauge",
         "1 for the breaker's current state (closed, open, half_open).");
  for (const proxy::Upstream& u : snap->upstreams) {
    if (!u.runtime->breaker) continue;
    limits::BreakerState s = u.runtime->breaker->state(now);
    for (limits::BreakerState each : {limits::BreakerState::kClosed, limits::BreakerState::kOpen,
                                      limits::BreakerState::kHalfOpen}) {
      sample(
          out, "sluice_upstream_breaker_state",
          "upstream=\"" + label(u.name) + "\",state=\"" + limits::breaker_state_name(each) + "\"",
          static_cast<uint64_t>(s == each ? 1 : 0));
    }
  }
  header(out, "sluice_upstream_breaker_opened_total", "counter", "Times the breaker opened.");
  for (const proxy::Upstream& u : snap->upstreams) {
    if (!u.runtime->breaker) continue;
    sample(out, "sluice_upstream_breaker_opened_total", "upstream=\"" + label(u.name) + "\"",
           u.runtime->breaker->opened_total());
  }
  auto target_label = [&](const proxy::Upstream& u, const proxy::Target& t) {
    return "upstream=\"" + label(u.name) + "\",target=\"" + label(t.key) + "\"";
  };
  header(out, "sluice_upstream_target_requests_total", "counter", "Tries sent to the target.");
  for (const proxy::Upstream& u : snap->upstreams) {
    for (const proxy::Target& t : u.targets) {
      sample(out, "sluice_upstream_target_requests_total", target_label(u, t),
             t.state->requests.load());
    }
  }
  header(out, "sluice_upstream_target_failures_total", "counter",
         "Tries that failed or got a 5xx answer.");
  for (const proxy::Upstream& u : snap->upstreams) {
    for (const proxy::Target& t : u.targets) {
      sample(out, "sluice_upstream_target_failures_total", target_label(u, t),
             t.state->failures.load());
    }
  }
  header(out, "sluice_upstream_target_active_requests", "gauge", "Tries in flight.");
  for (const proxy::Upstream& u : snap->upstreams) {
    for (const proxy::Target& t : u.targets) {
      sample(out, "sluice_upstream_target_active_requests", target_label(u, t),
             static_cast<double>(t.state->active.load()));
    }
  }
  header(out, "sluice_upstream_target_connections", "gauge", "Open upstream connections.");
  for (const proxy::Upstream& u : snap->upstreams) {
    for (const proxy::Target& t : u.targets) {
      sample(out, "sluice_upstream_target_connections", target_label(u, t),
             static_cast<double>(t.state->connections.load()));
    }
  }
  header(out, "sluice_upstream_target_health", "gauge",
         "1 for the target's active-check state (healthy, unhealthy, unknown).");
  for (const proxy::Upstream& u : snap->upstreams) {
    for (const proxy::Target& t : u.targets) {
      balance::Health h = t.state->health.load();
      for (auto [each, name] : {std::pair{balance::Health::kHealthy, "healthy"},
                                {balance::Health::kUnhealthy, "unhealthy"},
                                {balance::Health::kUnknown, "unknown"}}) {
        sample(out, "sluice_upstream_target_health", target_label(u, t) + ",state=\"" + name + "\"",
               static_cast<uint64_t>(h == each ? 1 : 0));
      }
    }
  }
  header(out, "sluice_upstream_target_ejected", "gauge", "1 while outlier detection ejects it.");
  for (const proxy::Upstream& u : snap->upstreams) {
    for (const proxy::Target& t : u.targets) {
      sample(out, "sluice_upstream_target_ejected", target_label(u, t),
             static_cast<uint64_t>(t.state->ejected(now) ? 1 : 0));
    }
  }
  header(out, "sluice_upstream_target_ejections_total", "counter", "Times it was ejected.");
  for (const proxy::Upstream& u : snap->upstreams) {
    for (const proxy::Target& t : u.targets) {
      sample(out, "sluice_upstream_target_ejections_total", target_label(u, t),
             static_cast<uint64_t>(t.state->ejections.load()));
    }
  }

  // Rate limits, per route and policy of the config in force.
  header(out, "sluice_rate_limit_decisions_total", "counter",
         "Rate-limit decisions, by route, policy and result (error: the Redis store was "
         "unavailable and on_error applied).");
  for (const proxy::Route& r : snap->routes) {
    for (const proxy::RatePolicy& p : r.rate_limits()) {
      const std::string l = "route=\"" + label(r.name) + "\",policy=\"" + label(p.name) + "\"";
      sample(out, "sluice_rate_limit_decisions_total", l + ",result=\"allowed\"",
             p.runtime->allowed.load());
      sample(out, "sluice_rate_limit_decisions_total", l + ",result=\"denied\"",
             p.runtime->denied.load());
      sample(out, "sluice_rate_limit_decisions_total", l + ",result=\"error\"",
             p.runtime->errors.load());
    }
  }
  header(out, "sluice_rate_limit_keys", "gauge", "Keys held by a local policy's store.");
  for (const proxy::Route& r : snap->routes) {
    for (const proxy::RatePolicy& p : r.rate_limits()) {
      if (p.cluster) continue;
      sample(out, "sluice_rate_limit_keys",
             "route=\"" + label(r.name) + "\",policy=\"" + label(p.name) + "\"",
             static_cast<uint64_t>(p.runtime->store.size()));
    }
  }
  header(out, "sluice_rate_limit_evictions_total", "counter",
         "Keys evicted from a local policy's full store (least recently used first).");
  for (const proxy::Route& r : snap->routes) {
    for (const proxy::RatePolicy& p : r.rate_limits()) {
      if (p.cluster) continue;
      sample(out, "sluice_rate_limit_evictions_total",
             "route=\"" + label(r.name) + "\",policy=\"" + label(p.name) + "\"",
             p.runtime->store.evictions());
    }
  }
  if (snap->config.redis.enabled) {
    header(out, "sluice_redis_connected", "gauge",
           "1 when the worker's connection to the rate-limit Redis is up.");
    for (size_t w = 0; w < workers; ++w) {
      sample(out, "sluice_redis_connected", "worker=\"" + std::to_string(w) + "\"",
             static_cast<uint64_t>(gateway_.worker_metrics(w).redis_connected.load()));
    }
    struct RedisCounter {
      const char* name;
      const char* help;
      std::atomic<uint64_t> observe::WorkerMetrics::*field;
    };
    const RedisCounter redis_counters[] = {
        {"sluice_redis_commands_total", "Commands sent to Redis.",
         &observe::WorkerMetrics::redis_commands},
        {"sluice_redis_errors_total", "Redis error replies and commands lost with a connection.",
         &observe::WorkerMetrics::redis_errors},
        {"sluice_redis_timeouts_total", "Redis commands that ran past command_timeout.",
         &observe::WorkerMetrics::redis_timeouts},
        {"sluice_redis_reconnects_total", "Connections to Redis made again after a loss.",
         &observe::WorkerMetrics::redis_reconnects},
    };
    for (const RedisCounter& c : redis_counters) {
      uint64_t v = 0;
      for (size_t w = 0; w < workers; ++w) v += (gateway_.worker_metrics(w).*c.field).load();
      header(out, c.name, "counter", c.help);
      sample(out, c.name, "", v);
    }
  }

  // JWKS fetches of the JWT providers of the config in force.
  if (snap->security && !snap->security->providers.empty()) {
    header(out, "sluice_jwks_fetches_total", "counter", "JWKS fetches, by provider and result.");
    for (const auto& p : snap->security->providers) {
      if (p->jwks == nullptr) continue;
      const std::string l = "provider=\"" + label(p->name) + "\"";
      sample(out, "sluice_jwks_fetches_total", l + ",result=\"ok\"", p->jwks->fetches_ok());
      sample(out, "sluice_jwks_fetches_total", l + ",result=\"error\"", p->jwks->fetches_failed());
    }
    header(out, "sluice_jwks_tls_failures_total", "counter",
           "JWKS fetches whose TLS handshake or certificate check failed, by provider.");
    for (const auto& p : snap->security->providers) {
      if (p->jwks == nullptr) continue;
      sample(out, "sluice_jwks_tls_failures_total", "provider=\"" + label(p->name) + "\"",
             p->jwks->tls_failures());
    }
    header(out, "sluice_jwks_keys", "gauge", "Keys in the provider's last good JWKS.");
    for (const auto& p : snap->security->providers) {
      if (p->jwks != nullptr) {
        sample(out, "sluice_jwks_keys", "provider=\"" + label(p->name) + "\"",
               p->jwks->key_count());
      }
    }
  }

  // Tracing export and the access log (only once enabled).
  if (const observe::OtlpExporter* ex = gateway_.exporter()) {
    header(out, "sluice_tracing_spans_exported_total", "counter", "Spans the collector accepted.");
    sample(out, "sluice_tracing_spans_exported_total", "", ex->spans_exported());
    header(out, "sluice_tracing_spans_failed_total", "counter",
           "Spans lost in failed export requests (collector down, timeout, non-2xx).");
    sample(out, "sluice_tracing_spans_failed_total", "", ex->spans_failed());
    header(out, "sluice_tracing_spans_dropped_total", "counter",
           "Spans dropped because a worker's queue was full (the collector is slower than "
           "the traffic).");
    sample(out, "sluice_tracing_spans_dropped_total", "", ex->spans_dropped());
    header(out, "sluice_tracing_export_requests_total", "counter", "Export requests, by outcome.");
    sample(out, "sluice_tracing_export_requests_total", "result=\"ok\"", ex->batches_sent());
    sample(out, "sluice_tracing_export_requests_total", "result=\"error\"", ex->batches_failed());
  }
  if (const observe::AccessLogWriter* log = gateway_.access_log()) {
    header(out, "sluice_access_log_lines_total", "counter", "Access-log lines written.");
    sample(out, "sluice_access_log_lines_total", "", log->lines_written());
    header(out, "sluice_access_log_lines_dropped_total", "counter",
           "Access-log lines lost: a worker's buffer was full, or a write failed.");
    sample(out, "sluice_access_log_lines_dropped_total", "", log->lines_dropped());
    header(out, "sluice_access_log_write_errors_total", "counter",
           "Failed writes to the access-log file.");
    sample(out, "sluice_access_log_write_errors_total", "", log->write_errors());
  }

  // Config and process.
  header(out, "sluice_config_reloads_total", "counter", "Config reloads, by outcome.");
  sample(out, "sluice_config_reloads_total", "result=\"ok\"", gateway_.reloads_ok());
  sample(out, "sluice_config_reloads_total", "result=\"error\"", gateway_.reloads_failed());
  header(out, "sluice_config_version", "gauge", "Version of the config in force.");
  sample(out, "sluice_config_version", "", snap->version);
  if (const proxy::EtcdSync* etcd = gateway_.etcd()) {
    header(out, "sluice_etcd_connected", "gauge", "1 while the etcd watch is up.");
    sample(out, "sluice_etcd_connected", "", static_cast<uint64_t>(etcd->connected() ? 1 : 0));
    header(out, "sluice_etcd_revision", "gauge", "The etcd revision the config in force is of.");
    sample(out, "sluice_etcd_revision", "",
           static_cast<uint64_t>(std::max<int64_t>(etcd->applied_revision(), 0)));
    header(out, "sluice_etcd_failures_total", "counter",
           "Failed etcd reads and watches (each is retried with back-off).");
    sample(out, "sluice_etcd_failures_total", "", etcd->failures());
  }
  header(out, "sluice_events_total", "counter", "Events published (GET /api/v1/events).");
  sample(out, "sluice_events_total", "", gateway_.events().last_id());
  header(out, "sluice_event_streams", "gauge", "Clients of GET /api/v1/events.");
  sample(out, "sluice_event_streams", "", static_cast<uint64_t>(event_streams()));
  if (const observe::WebhookSender* w = gateway_.webhooks()) {
    header(out, "sluice_webhook_deliveries_total", "counter",
           "Webhook deliveries: delivered, failed attempts, dropped after the last retry.");
    sample(out, "sluice_webhook_deliveries_total", "result=\"delivered\"", w->delivered());
    sample(out, "sluice_webhook_deliveries_total", "result=\"failed\"", w->failed_attempts());
    sample(out, "sluice_webhook_deliveries_total", "result=\"dropped\"", w->dropped());
  }
  header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  sample(out, "process_resident_memory_bytes", "", proxy::resident_bytes());
  header(out, "process_open_fds", "gauge", "Number of open file descriptors.");
  sample(out, "process_open_fds", "", open_fds());
  return out;
}

}  // namespace sluice::admin
