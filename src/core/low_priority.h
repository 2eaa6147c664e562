// Runs the control thread's heavy work (parsing and compiling a config: 150 ms of CPU for
// 10,000 routes) on a thread of its own at a low CPU priority while the calling thread waits.
// When the workers keep every core busy, the scheduler then gives them the CPU first, so a
// large reload costs requests in flight far less latency. The caller blocks until the work is
// done, so the work may touch whatever only the caller's thread touches: nothing runs beside it.
// A call from inside the work runs inline.
// Example:
//   LowPriorityRunner builder(19);
//   Result r;  builder.run([&] { r = load_and_build(); });
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace sluice::core {

class LowPriorityRunner {
 public:
  // nice: 0-19 (19 the lowest priority); 0 runs the work on the caller's thread.
  explicit LowPriorityRunner(int nice);
  ~LowPriorityRunner();
  LowPriorityRunner(const LowPriorityRunner&) = delete;
  LowPriorityRunner& operator=(const LowPriorityRunner&) = delete;

  void run(const std::function<void()>& fn);

 private:
  void loop(int nice);

  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void()>* job_ = nullptr;
  bool done_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sluice::core
