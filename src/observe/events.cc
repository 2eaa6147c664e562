#include "observe/events.h"

#include <algorithm>
#include <utility>

#include "core/clock.h"

namespace sluice::observe {

bool is_event_kind(std::string_view kind) {
  return std::find(std::begin(kEventKinds), std::end(kEventKinds), kind) != std::end(kEventKinds);
}

uint64_t EventBus::publish(std::string_view kind, std::string_view fields) {
  Event e;
  e.time_ms = core::wall_ms();
  e.kind = std::string(kind);
  std::vector<std::pair<uint64_t, Listener>> listeners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    e.id = next_id_++;
    e.json = "{\"id\":" + std::to_string(e.id) + ",\"time\":\"" + core::iso8601_utc(e.time_ms) +
             "\",\"time_ms\":" + std::to_string(e.time_ms) + ",\"kind\":\"" + e.kind + "\"";
    if (!fields.empty()) {
      e.json += ",";
      e.json += fields;
    }
    e.json += "}";
    ring_.push_back(e);
    while (ring_.size() > capacity_) ring_.pop_front();
    listeners = listeners_;
  }
  // Outside the lock: a listener may remove itself (or another) while it runs.
  for (const auto& [handle, fn] : listeners) fn(e);
  return e.id;
}

std::vector<Event> EventBus::since(uint64_t after, size_t max) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Event> out;
  // Ids are consecutive, so the first wanted one is found by arithmetic.
  const uint64_t first = ring_.empty() ? next_id_ : ring_.front().id;
  size_t i = after < first ? 0 : static_cast<size_t>(after - first + 1);
  for (; i < ring_.size() && out.size() < max; ++i) out.push_back(ring_[i]);
  return out;
}

uint64_t EventBus::last_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_id_ - 1;
}

uint64_t EventBus::first_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ring_.empty() ? next_id_ : ring_.front().id;
}

void EventBus::set_capacity(size_t capacity) {
  std::lock_guard<std::mutex> lock(mu_);
  capacity_ = std::max<size_t>(capacity, 1);
  while (ring_.size() > capacity_) ring_.pop_front();
}

uint64_t EventBus::add_listener(Listener fn) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t handle = next_listener_++;
  listeners_.emplace_back(handle, std::move(fn));
  return handle;
}

void EventBus::remove_listener(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(listeners_, [handle](const auto& l) { return l.first == handle; });
}

}  // namespace sluice::observe
