// A hierarchical timer wheel (1 ms ticks, 5 levels of 64 slots, about 12 days of range) with
// intrusive timers: scheduling and cancelling are O(1) and allocate nothing, so every connection
// can re-arm its timeout on every read.
// Example:
//   struct Conn : core::Timer { void on_timer() override { close(); } };
//   wheel.schedule(conn, clock.now_ms() + 10000);  ...  wheel.cancel(conn);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace sluice::core {

class TimerWheel;

class Timer {
 public:
  Timer() = default;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  virtual ~Timer();
  virtual void on_timer() = 0;
  bool armed() const { return wheel_ != nullptr; }
  uint64_t expires_ms() const { return expires_; }

 private:
  friend class TimerWheel;
  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  TimerWheel* wheel_ = nullptr;
  uint64_t expires_ = 0;
};

class TimerWheel {
 public:
  explicit TimerWheel(uint64_t now_ms);
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // (Re-)arms t to fire at at_ms (a time in the past fires on the next advance()).
  void schedule(Timer& t, uint64_t at_ms);
  void cancel(Timer& t);
  // Fires every timer due at or before now_ms.
  void advance(uint64_t now_ms);
  // Milliseconds until advance() may have work, or -1 when no timer is armed.
  int next_timeout_ms() const;
  size_t size() const { return count_; }

 private:
  static constexpr int kLevels = 5;
  static constexpr int kBits = 6;
  static constexpr int kSlots = 1 << kBits;
  struct Sentinel : Timer {
    void on_timer() override {}
  };
  void place(Timer& t);
  static void link(Timer& head, Timer& t);
  static void unlink(Timer& t);
  void cascade(int level);

  std::array<std::array<Sentinel, kSlots>, kLevels> slots_;
  uint64_t tick_;  // every tick before this one has been processed
  size_t count_ = 0;
};

}  // namespace sluice::core
