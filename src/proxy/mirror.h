// Request mirroring (a route's `mirror:`): a copy of the request, as rendered for the route's
// upstream, goes to a shadow upstream; the shadow's answer is read and thrown away. A Mirror is an
// UpstreamCall with an owner of its own: it belongs to the worker, not to the client's exchange,
// so the client's answer never waits for the shadow and a slow or failing shadow changes nothing
// for it. The copy is sent once the request is whole (its body, up to max_body, is collected as
// it streams to the primary); copies in flight are bounded per worker and route (max_in_flight),
// and what is not sent is counted as dropped.
//
//   Mirror* m = worker.start_mirror(snapshot, route);   // null: dropped (bound reached)
//   m->begin(method, request_bytes);  m->add_body(bytes)...;  m->dispatch(head, ip, path);
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "core/event_loop.h"
#include "observe/metrics.h"
#include "proxy/upstream_call.h"
#include "proxy/worker.h"

namespace sluice::proxy {

class Mirror : public CallOwner, public core::Deferred {
 public:
  explicit Mirror(Worker& worker) : worker_(worker) {}

  // Set up by Worker::start_mirror (counted in flight from here on).
  void open(std::shared_ptr<const Snapshot> snap, const Route& route,
            observe::RouteMetrics& metrics);
  // The head rendered for the primary upstream (and a body buffered whole before it).
  void begin(http::Method method, std::string_view request);
  // Body bytes as they go to the primary: raw (Content-Length) or one chunk's data (chunked,
  // then end_chunks()). False when the body outgrew max_body: the copy was dropped and this
  // object is no longer the caller's.
  bool add_body(std::string_view data);
  bool add_chunk(std::string_view data);
  void end_chunks();
  // The request is whole: admission to the shadow upstream, a target, and the copy goes out.
  // This object is no longer the caller's.
  void dispatch(const http::RequestHead& head, std::string_view client_ip,
                std::string_view matched_path);
  // Not sent (the client left in the middle of its body, or was answered without it).
  void drop();

  void on_call_readable(UpstreamCall& call) override;
  void on_call_writable(UpstreamCall& /*call*/) override {}
  void on_call_failed(UpstreamCall& call, UpstreamFailure kind, const char* reason) override;
  void on_call_retry(UpstreamCall& /*call*/) override {}  // a mirror is never retried

  ListNode node{this};  // in the worker's mirrors in flight

 private:
  enum class Result : uint8_t { kAnswered, kFailed, kDropped };
  bool take_body(size_t n);  // counts n body bytes against max_body, or drops the copy
  void start_try();
  // Reads and discards the shadow's answer; true when the mirror finished (this object was
  // recycled).
  bool pump();
  void finish(Result result, int status);

  Worker& worker_;
  std::shared_ptr<const Snapshot> snapshot_;
  const MirrorRoute* route_ = nullptr;
  observe::RouteMetrics* metrics_ = nullptr;
  UpstreamCall call_;
  http::Method method_ = http::Method::kGet;
  uint64_t body_bytes_ = 0;
  int status_ = 0;          // the shadow's status, once its head came
  bool open_ = false;       // between open() and finish()
  bool head_done_ = false;  // the shadow's head came: discarding its body
  bool in_pump_ = false;
  bool again_ = false;
};

}  // namespace sluice::proxy
