#include "core/timer_wheel.h"

namespace sluice::core {

Timer::~Timer() {
  if (wheel_ != nullptr) wheel_->cancel(*this);
}

TimerWheel::TimerWheel(uint64_t now_ms) : tick_(now_ms) {
  for (auto& level : slots_) {
    for (auto& s : level) s.prev_ = s.next_ = &s;
  }
}

TimerWheel::~TimerWheel() {
  for (auto& level : slots_) {
    for (auto& s : level) {
      while (s.next_ != &s) {
        Timer* t = s.next_;
        unlink(*t);
        t->wheel_ = nullptr;
      }
    }
  }
}

void TimerWheel::link(Timer& head, Timer& t) {
  t.prev_ = head.prev_;
  t.next_ = &head;
  head.prev_->next_ = &t;
  head.prev_ = &t;
}

void TimerWheel::unlink(Timer& t) {
  t.prev_->next_ = t.next_;
  t.next_->prev_ = t.prev_;
  t.prev_ = t.next_ = nullptr;
}

void TimerWheel::place(Timer& t) {
  uint64_t e = t.expires_ < tick_ ? tick_ : t.expires_;
  uint64_t delta = e - tick_;
  int level = 0;
  while (level < kLevels - 1 && (delta >> (kBits * (level + 1))) != 0) ++level;
  if (level == kLevels - 1) {
    uint64_t max_delta = (uint64_t{1} << (kBits * kLevels)) - 1;
    if (delta > max_delta) e = tick_ + max_delta;  // re-placed at cascade; fires late, never early
  }
  size_t slot = (e >> (kBits * level)) & (kSlots - 1);
  link(slots_[level][slot], t);
}

void TimerWheel::schedule(Timer& t, uint64_t at_ms) {
  if (t.wheel_ != nullptr) {
    unlink(t);
  } else {
    ++count_;
  }
  t.wheel_ = this;
  t.expires_ = at_ms;
  place(t);
}

void TimerWheel::cancel(Timer& t) {
  if (t.wheel_ != this) return;
  unlink(t);
  t.wheel_ = nullptr;
  --count_;
}

void TimerWheel::cascade(int level) {
  Sentinel& head = slots_[level][(tick_ >> (kBits * level)) & (kSlots - 1)];
  while (head.next_ != &head) {
    Timer* t = head.next_;
    unlink(*t);
    place(*t);
  }
}

void TimerWheel::advance(uint64_t now_ms) {
  while (tick_ <= now_ms) {
    if (count_ == 0) {
      tick_ = now_ms + 1;
      return;
    }
    uint64_t cur = tick_;
    if ((cur & (kSlots - 1)) == 0) {
      int top = 1;
      while (top < kLevels - 1 && (cur & ((uint64_t{1} << (kBits * (top + 1))) - 1)) == 0) ++top;
      for (int level = top; level >= 1; --level) cascade(level);
    }
    tick_ = cur + 1;
    Sentinel& head = slots_[0][cur & (kSlots - 1)];
    // Timers scheduled while firing land at tick_ or later, never in this slot.
    while (head.next_ != &head) {
      Timer* t = head.next_;
      unlink(*t);
      t->wheel_ = nullptr;
      --count_;
      t->on_timer();
    }
  }
}

int TimerWheel::next_timeout_ms() const {
  if (count_ == 0) return -1;
  for (int i = 0; i < kSlots; ++i) {
    uint64_t t = tick_ + i;
    const Sentinel& head = slots_[0][t & (kSlots - 1)];
    if (head.next_ != &head) return i;
    if (i > 0 && (t & (kSlots - 1)) == 0) return i;  // a cascade is due here
  }
  return kSlots;
}

}  // namespace sluice::core
