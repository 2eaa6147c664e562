// Parser's sections for tracing and the access log, and for redis (shared by cluster rate
// limits) and client_ip (the trusted proxies in front of sluice).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "auth/cidr.h"
#include "config/config.h"
#include "config/parser.h"
#include "config/reader.h"
#include "config/scalars.h"
#include "net/http_url.h"
#include "observe/access_log.h"
#include "observe/events.h"
#include "observe/otlp_exporter.h"

namespace sluice::config {

void Parser::parse_tracing(const Item& it, TracingConfig& t) {
  std::optional<MapItem> m =
      map(it, {"endpoint", "sample_ratio", "always_sample_errors", "respect_parent", "service_name",
               "flush_interval", "max_batch", "queue_size", "timeout", "headers"});
  if (!m) return;
  if (const Item* e = require(*m, "endpoint")) {
    if (std::optional<std::string> url = string(*e)) {
      std::string why;
      if (observe::parse_otlp_endpoint(*url, &t.host, &t.port, &t.path, &why)) {
        t.endpoint = *url;
        t.enabled = true;
      } else {
        error(e->mark, e->path, why);
      }
    }
  }
  if (const Item* v = m->get("sample_ratio")) {
    if (auto r = ratio(*v)) t.sample_ratio = *r;
  }
  if (const Item* v = m->get("always_sample_errors")) {
    if (auto b = boolean(*v)) t.always_sample_errors = *b;
  }
  if (const Item* v = m->get("respect_parent")) {
    if (auto b = boolean(*v)) t.respect_parent = *b;
  }
  if (const Item* v = m->get("service_name")) {
    if (auto n = string(*v)) {
      if (n->empty()) error(v->mark, v->path, "must not be empty");
      t.service_name = std::move(*n);
    }
  }
  if (const Item* v = m->get("flush_interval")) {
    if (auto d = duration(*v)) t.flush_interval_ms = *d;
  }
  if (const Item* v = m->get("timeout")) {
    if (auto d = duration(*v)) t.timeout_ms = *d;
  }
  if (const Item* v = m->get("max_batch")) {
    if (auto n = integer(*v, 1, 100000)) t.max_batch = static_cast<uint32_t>(*n);
  }
  if (const Item* v = m->get("queue_size")) {
    if (auto n = integer(*v, 1, 1 << 20)) t.queue_size = static_cast<uint32_t>(*n);
  }
  if (const Item* h = m->get("headers")) t.headers = headers(*h);
}

void Parser::parse_access_log(const Item& it, AccessLogConfig& a) {
  std::optional<MapItem> m = map(it, {"path", "format", "buffer_size"});
  if (!m) return;
  if (const Item* p = require(*m, "path")) {
    if (auto s = string(*p)) {
      if (s->empty()) {
        error(p->mark, p->path, "must name a file, or \"-\" for standard output");
      } else {
        a.path = std::move(*s);
        a.enabled = true;
      }
    }
  }
  if (const Item* f = m->get("format")) {
    if (auto s = string(*f)) {
      std::string why;
      if (!observe::AccessLogFormat::compile(*s, &why)) {
        error(f->mark, f->path, why);
      } else {
        a.format = std::move(*s);
      }
    }
  }
  if (const Item* v = m->get("buffer_size")) {
    if (auto b = size(*v, 4096, uint64_t{1} << 30, "from 4KiB to 1GiB")) a.buffer_bytes = *b;
  }
}

void Parser::parse_events(const Item& it, EventsConfig& e) {
  std::optional<MapItem> m = map(it, {"history", "webhooks"});
  if (!m) return;
  if (const Item* h = m->get("history")) {
    if (auto n = integer(*h, 1, 1000000)) e.history = static_cast<uint32_t>(*n);
  }
  const Item* hooks = m->get("webhooks");
  if (hooks == nullptr) return;
  std::optional<std::vector<Item>> items = list(*hooks);
  if (!items) return;
  for (const Item& w : *items) {
    std::optional<MapItem> wm = map(w, {"url", "kinds", "timeout", "retries", "headers"});
    if (!wm) continue;
    observe::WebhookTarget hook;
    if (const Item* u = require(*wm, "url")) {
      if (auto url = string(*u)) {
        net::HttpUrl parsed;
        std::string why;
        if (net::parse_http_url(*url, "webhook URL", 80, &parsed, &why)) {
          hook.url = *url;
          hook.host = parsed.host;
          hook.port = parsed.port;
          if (!parsed.path.empty()) hook.path = parsed.path;
        } else {
          error(u->mark, u->path, why);
        }
      }
    }
    if (const Item* k = wm->get("kinds")) {
      for (const Item& kind : list_or_one(*k)) {
        std::optional<std::string> name = string(kind);
        if (!name) continue;
        if (!observe::is_event_kind(*name)) {
          std::string known;
          for (std::string_view n : observe::kEventKinds) {
            known += known.empty() ? "" : ", ";
            known += n;
          }
          error(kind.mark, kind.path,
                "unknown event kind " + quote(*name) + " (one of " + known + ")");
          continue;
        }
        hook.kinds.push_back(std::move(*name));
      }
    }
    if (const Item* t = wm->get("timeout")) {
      if (auto d = duration(*t)) hook.timeout_ms = *d;
    }
    if (const Item* r = wm->get("retries")) {
      if (auto n = integer(*r, 0, 10)) hook.retries = static_cast<uint32_t>(*n);
    }
    if (const Item* h = wm->get("headers")) hook.headers = headers(*h);
    e.webhooks.push_back(std::move(hook));
  }
}

void Parser::parse_redis(const Item& it, RedisConfig& r) {
  std::optional<MapItem> m = map(it, {"address", "password", "db", "connect_timeout",
                                      "command_timeout", "on_error", "key_prefix"});
  if (!m) return;
  if (const Item* a = require(*m, "address")) {
    if (std::optional<Address> addr = address(*a, false)) {
      if (addr->host == "localhost") addr->host = "127.0.0.1";
      if (!is_ip_literal(addr->host)) {
        error(a->mark, a->path,
              "expected an IP address and port, got " + quote(addr->text) +
                  " (workers connect without a blocking DNS lookup)");
      } else {
        r.host = addr->host;
        r.port = addr->port;
        r.enabled = true;
      }
    }
  }
  if (const Item* v = m->get("password")) {
    if (auto s = string(*v)) r.password = std::move(*s);
  }
  if (const Item* v = m->get("db")) {
    if (auto n = integer(*v, 0, 1 << 20)) r.db = static_cast<int>(*n);
  }
  if (const Item* v = m->get("connect_timeout")) {
    if (auto d = duration(*v)) r.connect_timeout_ms = *d;
  }
  if (const Item* v = m->get("command_timeout")) {
    if (auto d = duration(*v)) r.command_timeout_ms = *d;
  }
  if (const Item* v = m->get("on_error")) {
    static constexpr std::array<std::string_view, 2> kModes = {"allow", "deny"};
    if (auto s = one_of(*v, kModes, "on_error")) r.fail_open = *s == "allow";
  }
  if (const Item* v = m->get("key_prefix")) {
    if (auto s = string(*v)) r.key_prefix = std::move(*s);
  }
}

void Parser::parse_client_ip(const Item& it, ClientIpConfig& c) {
  std::optional<MapItem> m = map(it, {"trusted_proxies"});
  if (!m) return;
  if (const Item* t = m->get("trusted_proxies")) {
    for (const Item& e : list_or_one(*t)) {
      std::optional<std::string> s = string(e);
      if (!s) continue;
      auth::CidrSet probe;
      std::string why;
      if (!probe.add(*s, &why)) {
        error(e.mark, e.path, why);
        continue;
      }
      c.trusted_proxies.push_back(std::move(*s));
    }
  }
}

}  // namespace sluice::config
