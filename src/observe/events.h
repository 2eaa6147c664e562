// The gateway's event stream: config applied or refused, breakers opening and closing, targets
// turning healthy or unhealthy, ejected and returned, JWKS refreshed or failing. Publishers (the
// control thread: reloads, the admin API, proxy::EventWatch) append to a bounded ring that keeps
// the last `capacity` events, so a client that reconnects with the last id it saw misses
// nothing the ring still holds; listeners (the admin server's /api/v1/events streams, the
// webhook sender) are called for each new event, on the publishing thread.
// Example:
//   EventBus bus(1000);
//   bus.publish("breaker.opened", "\"upstream\":\"users\"");
//   for (const Event& e : bus.since(0, 100)) write(e.json);  // {"id":1,"time":…,"kind":…,…}
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::observe {

// Every kind an event may have, in the order the docs list them.
inline constexpr std::string_view kEventKinds[] = {
    "config.applied",  "config.refused", "breaker.opened",   "breaker.half_open",
    "breaker.closed",  "target.healthy", "target.unhealthy", "target.ejected",
    "target.returned", "jwks.refreshed", "jwks.failing",
};
bool is_event_kind(std::string_view kind);

struct Event {
  uint64_t id = 0;       // 1, 2, 3… for the life of the process
  uint64_t time_ms = 0;  // wall clock
  std::string kind;
  // The whole event as one JSON object: {"id":N,"time":"…Z","time_ms":N,"kind":"…",<fields>}
  std::string json;
};

class EventBus {
 public:
  explicit EventBus(size_t capacity = 1000) : capacity_(capacity < 1 ? 1 : capacity) {}
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // fields: JSON members without the braces ("\"upstream\":\"users\",\"state\":\"open\""), or
  // "". Returns the event's id. Listeners run before it returns.
  uint64_t publish(std::string_view kind, std::string_view fields);
  // The held events with id > after, oldest first, at most max of them.
  std::vector<Event> since(uint64_t after, size_t max) const;
  uint64_t last_id() const;
  // The oldest id the ring still holds (last_id() + 1 when it is empty).
  uint64_t first_id() const;
  void set_capacity(size_t capacity);

  using Listener = std::function<void(const Event&)>;
  // Returns a handle for remove_listener(). Listeners may not publish.
  uint64_t add_listener(Listener fn);
  void remove_listener(uint64_t handle);

 private:
  mutable std::mutex mu_;
  size_t capacity_;
  std::deque<Event> ring_;
  uint64_t next_id_ = 1;
  uint64_t next_listener_ = 1;
  std::vector<std::pair<uint64_t, Listener>> listeners_;
};

}  // namespace sluice::observe
