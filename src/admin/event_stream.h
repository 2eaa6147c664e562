// GET /api/v1/events: the event stream (observe/events.h) as Server-Sent Events, on the admin
// listener's control thread. Each event is written as
//   id: 12
//   event: breaker.opened
//   data: {"id":12,"time":"…","time_ms":…,"kind":"breaker.opened","upstream":"users",…}
// after the events the bus still holds with an id above the client's Last-Event-ID header (or
// ?since=N), so a client that reconnects misses nothing the ring still has. ?kinds=a,b keeps
// only those kinds. A comment line every 15 s keeps proxies and idle timers from closing it. A
// client that reads too slowly (more than 1 MiB waiting) is disconnected; it may reconnect with
// the last id it saw.
// Example: auto* s = EventStream::open(server, fd, req, &answer);  // owns itself
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/rest_api.h"
#include "core/event_loop.h"
#include "core/timer_wheel.h"
#include "observe/events.h"

namespace sluice::admin {

class AdminServer;

class EventStream : public core::IoHandler, public core::Timer, public core::Deferred {
 public:
  static constexpr size_t kMaxBuffered = size_t{1} << 20;
  static constexpr uint64_t kHeartbeatMs = 15000;
  static constexpr size_t kMaxStreams = 64;

  // Takes fd (already out of the loop) when the request is acceptable; else leaves it and
  // returns the error answer to write.
  static std::optional<api::Response> open(AdminServer& server, observe::EventBus& bus, int fd,
                                           const api::Request& req);
  ~EventStream() override;
  void on_io(uint32_t events) override;
  void on_timer() override;
  // Closes it (the server shutting down).
  void close();

 private:
  EventStream(AdminServer& server, observe::EventBus& bus, int fd, std::vector<std::string> kinds);
  void on_event(const observe::Event& e);
  void append(const observe::Event& e);
  void write_out();

  AdminServer& server_;
  observe::EventBus& bus_;
  int fd_;
  std::vector<std::string> kinds_;  // empty: all
  std::string out_;
  uint64_t listener_ = 0;
  bool closed_ = false;
};

}  // namespace sluice::admin
