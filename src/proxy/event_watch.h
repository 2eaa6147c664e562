// Turns the runtime state that workers and health checks change (breakers, target health and
// ejections, JWKS fetches) into events (observe/events.h): every 100 ms on the control thread it
// compares what the snapshot in force shows with what it saw last time, so the data path pays
// nothing. Counters catch what a poll would miss: a breaker that opened and closed again within
// one interval gives breaker.opened then breaker.closed. An object first seen (at start, after a
// reload) is compared with the state it was made in (closed, never opened or ejected, health
// unknown, no fetch), since a reload keeps the state objects of what it did not change.
// Example (control thread):
//   EventWatch watch(gateway, bus, control_loop);  watch.start();
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "core/event_loop.h"
#include "core/timer_wheel.h"
#include "limits/circuit_breaker.h"
#include "observe/events.h"

namespace sluice::proxy {

class Gateway;
struct Upstream;
struct Target;

class EventWatch : public core::Timer {
 public:
  static constexpr uint64_t kIntervalMs = 100;

  EventWatch(Gateway& gateway, observe::EventBus& bus, core::EventLoop& loop)
      : gateway_(gateway), bus_(bus), loop_(loop) {}
  ~EventWatch() override;
  void start();
  void on_timer() override;
  // One comparison now (tests).
  void poll();

 private:
  struct BreakerSeen {
    limits::BreakerState state = limits::BreakerState::kClosed;
    uint64_t opened = 0;
    uint64_t pass = 0;
  };
  struct TargetSeen {
    uint8_t health = 0;  // balance::Health
    bool ejected = false;
    uint32_t ejections = 0;
    uint64_t pass = 0;
  };
  struct JwksSeen {
    uint64_t ok = 0;
    uint64_t failed = 0;
    uint64_t pass = 0;
  };
  // The breaker of up, or of its target t when t is given.
  void breaker(const limits::CircuitBreaker& b, const Upstream& up, const Target* t, uint64_t now);

  Gateway& gateway_;
  observe::EventBus& bus_;
  core::EventLoop& loop_;
  uint64_t pass_ = 0;
  std::unordered_map<const void*, BreakerSeen> breakers_;
  std::unordered_map<const void*, TargetSeen> targets_;
  std::unordered_map<const void*, JwksSeen> jwks_;
};

}  // namespace sluice::proxy
