#include "core/low_priority.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

namespace sluice::core {

LowPriorityRunner::LowPriorityRunner(int nice) {
  if (nice > 0) thread_ = std::thread([this, nice] { loop(nice); });
}

LowPriorityRunner::~LowPriorityRunner() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void LowPriorityRunner::run(const std::function<void()>& fn) {
  if (!thread_.joinable() || std::this_thread::get_id() == thread_.get_id()) {
    fn();
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  job_ = &fn;
  done_ = false;
  cv_.notify_all();
  cv_.wait(lock, [this] { return done_; });
}

void LowPriorityRunner::loop(int nice) {
  // Linux: the nice value is the thread's own (the tid names it).
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice);
  pthread_setname_np(pthread_self(), "sluice-build");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || job_ != nullptr; });
    if (stop_) return;
    const std::function<void()>* job = job_;
    lock.unlock();
    (*job)();
    lock.lock();
    job_ = nullptr;
    done_ = true;
    cv_.notify_all();
  }
}

}  // namespace sluice::core
