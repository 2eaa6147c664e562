#include "admin/event_stream.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "admin/admin_server.h"
#include "http/header.h"

namespace sluice::admin {
namespace {

// "a,b" (the comma may be percent-encoded) into kinds; false with *bad naming an unknown one.
bool parse_kinds(std::string_view text, std::vector<std::string>* kinds, std::string* bad) {
  std::string list;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && text[i + 1] == '2' &&
        (text[i + 2] == 'C' || text[i + 2] == 'c')) {
      list += ',';
      i += 2;
    } else {
      list += text[i];
    }
  }
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string kind = list.substr(start, comma - start);
    if (!kind.empty()) {
      if (!observe::is_event_kind(kind)) {
        *bad = kind;
        return false;
      }
      kinds->push_back(kind);
    }
    start = comma + 1;
  }
  return true;
}

bool parse_id(std::string_view text, uint64_t* id) {
  if (text.empty()) return true;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *id);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<api::Response> EventStream::open(AdminServer& server, observe::EventBus& bus, int fd,
                                               const api::Request& req) {
  if (req.method != "GET") return api::error_response(405, "use GET");
  std::vector<std::string> kinds;
  std::string bad;
  if (!parse_kinds(http::query_param(req.query, "kinds"), &kinds, &bad)) {
    return api::error_response(400, "unknown event kind '" + bad + "'");
  }
  uint64_t after = bus.last_id();  // a new client starts with what happens next
  const std::string_view since =
      !req.last_event_id.empty() ? req.last_event_id : http::query_param(req.query, "since");
  if (!since.empty() && !parse_id(since, &after)) {
    return api::error_response(400, "Last-Event-ID and since must be an event id");
  }
  if (server.event_streams() >= kMaxStreams) {
    return api::error_response(503, "too many event streams are open");
  }
  auto* s = new EventStream(server, bus, fd, std::move(kinds));  // owns itself
  s->out_ =
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
      "x-accel-buffering: no\r\nconnection: close\r\n\r\nretry: 1000\n\n";
  const uint64_t first = bus.first_id();
  if (after + 1 < first) {
    s->out_ += ": events " + std::to_string(after + 1) + " to " + std::to_string(first - 1) +
               " are no longer held\n\n";
  }
  for (;;) {
    std::vector<observe::Event> held = bus.since(after, 256);
    if (held.empty()) break;
    for (const observe::Event& e : held) s->append(e);
    after = held.back().id;
  }
  s->listener_ = bus.add_listener([s](const observe::Event& e) { s->on_event(e); });
  s->write_out();
  return std::nullopt;
}

EventStream::EventStream(AdminServer& server, observe::EventBus& bus, int fd,
                         std::vector<std::string> kinds)
    : server_(server), bus_(bus), fd_(fd), kinds_(std::move(kinds)) {
  server_.stream_opened(this);
  server_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
  server_.loop().timers().schedule(*this, server_.loop().now_ms() + kHeartbeatMs);
}

EventStream::~EventStream() {
  if (fd_ >= 0) ::close(fd_);
}

void EventStream::on_io(uint32_t events) {
  if (closed_) return;
  char buf[1024];
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);  // a client sends nothing more: discard
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      close();
      return;
    }
    break;
  }
  if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
    close();
    return;
  }
  write_out();
}

void EventStream::on_timer() {
  if (closed_) return;
  out_ += ": keep-alive\n\n";
  write_out();
  if (!closed_) server_.loop().timers().schedule(*this, server_.loop().now_ms() + kHeartbeatMs);
}

void EventStream::on_event(const observe::Event& e) {
  if (closed_) return;
  append(e);
  write_out();
}

void EventStream::append(const observe::Event& e) {
  if (!kinds_.empty() && std::find(kinds_.begin(), kinds_.end(), e.kind) == kinds_.end()) return;
  out_ += "id: " + std::to_string(e.id) + "\nevent: " + e.kind + "\ndata: " + e.json + "\n\n";
}

void EventStream::write_out() {
  while (!out_.empty()) {
    const ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    close();
    return;
  }
  if (out_.size() > kMaxBuffered) close();  // too slow a reader: it may reconnect from its id
}

void EventStream::close() {
  if (closed_) return;
  closed_ = true;
  bus_.remove_listener(listener_);
  server_.loop().timers().cancel(*this);
  server_.loop().remove(fd_);
  server_.stream_closed(this);
  server_.loop().destroy_later(std::unique_ptr<core::Deferred>(this));
}

}  // namespace sluice::admin
