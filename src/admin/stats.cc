// GET /stats: per-route request rate, error count and latency percentiles over the last minute,
// and per-target health, as JSON for people and the dashboard. A 1 s sampler on the control loop
// keeps cumulative totals; an answer is "now" minus the oldest sample within the window.
#include <algorithm>
#include <cstdio>

#include "admin/admin_server.h"
#include "core/clock.h"

namespace sluice::admin {
namespace {

constexpr uint64_t kWindowMs = 60000;

// Latency (ms) at quantile q of a bucket-count delta, interpolated inside the bucket.
double percentile_ms(const RouteTotals& now, const RouteTotals* then, double q) {
  std::array<uint64_t, observe::kLatencyBounds.size() + 1> b{};
  uint64_t total = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = now.buckets[i] - (then != nullptr ? then->buckets[i] : 0);
    total += b[i];
  }
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  double seen = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (seen + static_cast<double>(b[i]) >= rank && b[i] > 0) {
      const double lo = i == 0 ? 0 : observe::kLatencyBounds[i - 1];
      const double hi = i < observe::kLatencyBounds.size() ? observe::kLatencyBounds[i]
                                                           : observe::kLatencyBounds.back();
      return (lo + (hi - lo) * (rank - seen) / static_cast<double>(b[i])) * 1000;
    }
    seen += static_cast<double>(b[i]);
  }
  return observe::kLatencyBounds.back() * 1000;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

}  // namespace

std::vector<RouteTotals> AdminServer::route_totals() const {
  std::vector<RouteTotals> out;
  // Slots past kMaxSlots share one overflow entry: not reported per route.
  const size_t slots = std::min(gateway_.route_slot_count(), observe::WorkerMetrics::kMaxSlots);
  for (size_t slot = 0; slot < slots; ++slot) {
    bool served = false;
    for (size_t w = 0; w < gateway_.worker_count() && !served; ++w) {
      served = gateway_.worker_metrics(w).find(slot) != nullptr;
    }
    if (!served) continue;
    RouteTotals& t = out.emplace_back();
    t.slot = slot;
    for (size_t w = 0; w < gateway_.worker_count(); ++w) {
      const observe::RouteMetrics* r = gateway_.worker_metrics(w).find(slot);
      if (r == nullptr) continue;
      for (size_t m = 0; m < http::kMethodCount; ++m) {
        for (size_t c = 0; c < 5; ++c) {
          uint64_t v = r->requests[m][c].load(std::memory_order_relaxed);
          t.requests += v;
          if (c == 4) t.errors += v;
        }
      }
      for (size_t i = 0; i < t.buckets.size(); ++i) {
        t.buckets[i] += r->duration.buckets[i].load(std::memory_order_relaxed);
      }
    }
  }
  return out;
}

void AdminServer::StatsSampler::on_timer() {
  const uint64_t now = server_.loop_.now_ms();
  server_.samples_.push_back({now, server_.route_totals()});
  while (!server_.samples_.empty() && now - server_.samples_.front().at_ms > kWindowMs) {
    server_.samples_.pop_front();
  }
  server_.api_.forget_idle(now);
  server_.loop_.timers().schedule(*this, now + 1000);
}

std::string AdminServer::stats_json() {
  const uint64_t now = loop_.now_ms();
  std::vector<RouteTotals> current = route_totals();
  const Sample* oldest = samples_.empty() ? nullptr : &samples_.front();
  const double window_s =
      oldest != nullptr ? std::max(0.001, static_cast<double>(now - oldest->at_ms) / 1000) : 0;
  const std::vector<std::string> names = gateway_.route_names();
  std::string out = "{\"window_seconds\":" + number(window_s) + ",\"routes\":[";
  bool first = true;
  for (const RouteTotals& cur : current) {
    const RouteTotals* then = nullptr;
    if (oldest != nullptr) {
      auto it = std::lower_bound(oldest->routes.begin(), oldest->routes.end(), cur.slot,
                                 [](const RouteTotals& t, size_t s) { return t.slot < s; });
      if (it != oldest->routes.end() && it->slot == cur.slot) then = &*it;
    }
    const size_t slot = cur.slot;
    const uint64_t requests = cur.requests - (then != nullptr ? then->requests : 0);
    if (requests == 0 || slot >= names.size()) continue;
    const uint64_t errors = cur.errors - (then != nullptr ? then->errors : 0);
    if (!first) out += ",";
    first = false;
    out += "{\"route\":\"" + json_escape(slot == 0 ? "none" : names[slot]) +
           "\",\"requests\":" + std::to_string(requests) +
           ",\"rps\":" + number(window_s > 0 ? static_cast<double>(requests) / window_s : 0) +
           ",\"errors_5xx\":" + std::to_string(errors) +
           ",\"p50_ms\":" + number(percentile_ms(cur, then, 0.50)) +
           ",\"p90_ms\":" + number(percentile_ms(cur, then, 0.90)) +
           ",\"p99_ms\":" + number(percentile_ms(cur, then, 0.99)) + "}";
  }
  out += "],\"upstreams\":" + upstreams_json();
  while (!out.empty() && out.back() == '\n') out.pop_back();
  out += "}\n";
  return out;
}

}  // namespace sluice::admin
