// The structured access log, written off the data path. A worker formats one line per request
// with a format compiled at config load (AccessLogFormat) and appends it to its own lock-free ring
// (AccessLogBuffer), which never blocks and drops the line when full; one background thread
// (AccessLogWriter) drains every ring to the file with writev, reopens it after logrotate and
// counts what it wrote, lost and failed to write.
// Example:
//   std::string err;
//   auto fmt = AccessLogFormat::compile("json", &err);           // or "$client \"$method $path\""
//   AccessLogWriter writer("/var/log/sluice/access.log");
//   AccessLogBuffer* buf = writer.add_buffer(AccessLogBuffer::kDefaultCapacity);  // per worker
//   if (!writer.start(&err)) die(err);
//   // worker, at the end of a request (line is a per-worker std::string reused between calls):
//   line.clear(); fmt->format(record, line); buf->append(line);
//   // SIGUSR1 handler: writer.reopen();  shutdown: writer.stop();
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice::observe {

// What a worker knows at the end of a request. The views are valid only during format().
struct AccessLogRecord {
  uint64_t time_unix_us = 0;  // request start
  std::string_view request_id;
  std::string_view trace_id;  // 32 hex digits, or empty
  std::string_view client_address;
  std::string_view method;
  std::string_view host;
  std::string_view path;  // with the query, as received
  std::string_view route;
  std::string_view upstream;
  std::string_view target;    // "ip:port", or empty when no upstream was tried
  std::string_view protocol;  // "HTTP/1.1"
  int status = 0;
  uint64_t bytes_in = 0;   // request body bytes received
  uint64_t bytes_out = 0;  // response bytes sent
  uint64_t duration_us = 0;
  int64_t upstream_connect_us = -1;   // -1: none
  int64_t upstream_response_us = -1;  // -1: none
  uint32_t tries = 0;
  std::string_view user_agent;
  std::string_view referer;
  std::string_view error;  // why the gateway answered itself, or empty
};

// A line format, compiled once at config load so that formatting is a walk over a few pieces.
// "json" (or "") is one JSON object per line with every field; anything else is a template of
// literal text and variables ($name or ${name}, $$ for a dollar) over the same names plus
// duration_us, time_unix (seconds.milliseconds) and time_iso. In a template, empty strings and
// absent timings are written as "-", and control characters, '"' and '\' as \xHH, so that a
// client cannot forge or split a line.
class AccessLogFormat {
 public:
  // Null when the spec has an unknown variable or a stray '$'; *error then names it.
  static std::optional<AccessLogFormat> compile(std::string_view spec, std::string* error);

  // Appends one line ending in '\n'; allocates nothing once `out` has the capacity.
  void format(const AccessLogRecord& r, std::string& out) const;

  bool is_json() const { return json_; }

 private:
  struct Piece {
    uint8_t field;  // a Field of access_log.cc; 0 is literal text
    uint32_t offset = 0;
    uint32_t length = 0;  // the literal's place in literals_
  };

  void format_json(const AccessLogRecord& r, std::string& out) const;

  bool json_ = true;
  std::string literals_;
  std::vector<Piece> pieces_;
};

// One worker's lines on their way to the writer thread: a bounded single-producer (the worker),
// single-consumer (the writer) byte ring. append() copies a whole line or nothing and never
// blocks or allocates, so a slow disk costs lines, not latency.
class AccessLogBuffer {
 public:
  static constexpr size_t kDefaultCapacity = size_t{1} << 20;

  // The capacity is rounded up to a power of two (at least 64 bytes).
  explicit AccessLogBuffer(size_t capacity = kDefaultCapacity);
  AccessLogBuffer(const AccessLogBuffer&) = delete;
  AccessLogBuffer& operator=(const AccessLogBuffer&) = delete;

  // Producer: false (and one more drop) when the line does not fit in the free space.
  bool append(std::string_view line);

  // Consumer: everything appended so far as at most two spans (the second after the wrap), then
  // consume() of bytes from the front. Producers append whole lines, so the spans end on one.
  struct Spans {
    std::string_view first;
    std::string_view second;
    size_t size() const { return first.size() + second.size(); }
  };
  Spans peek() const;
  void consume(size_t bytes);

  size_t capacity() const { return capacity_; }
  uint64_t drops() const { return drops_.load(std::memory_order_relaxed); }

 private:
  friend class AccessLogWriter;

  const size_t capacity_;
  const std::unique_ptr<char[]> data_;
  std::atomic<uint32_t>* wake_ = nullptr;      // the writer's futex word; null when standalone
  alignas(64) std::atomic<uint64_t> head_{0};  // bytes ever appended; written by the producer
  uint64_t tail_cache_ = 0;                    // producer's last view of tail_
  std::atomic<bool> woke_{false};  // producer already woke the writer for this half fill
  std::atomic<uint64_t> drops_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};  // bytes ever consumed; written by the consumer
};

// The background thread that drains every worker's buffer into the log file ("" or "-": stdout).
// It wakes every kFlushInterval, or sooner when a buffer passes half full. A write error counts
// and discards the batch, so a full disk never stalls the workers.
class AccessLogWriter {
 public:
  static constexpr uint32_t kFlushIntervalMs = 15;

  explicit AccessLogWriter(std::string path);
  ~AccessLogWriter();  // stop()
  AccessLogWriter(const AccessLogWriter&) = delete;
  AccessLogWriter& operator=(const AccessLogWriter&) = delete;

  // One per worker, before the workers start; owned by the writer, the pointer stays valid.
  AccessLogBuffer* add_buffer(size_t capacity = AccessLogBuffer::kDefaultCapacity);

  // Opens the file and starts the thread; false with the reason when the file cannot be opened.
  bool start(std::string* error);

  // From a signal handler (SIGUSR1 after logrotate): the thread reopens the path before its next
  // write. When the reopen fails it keeps the old file and says so once on stderr.
  void reopen();
  // A reload that names another file; takes effect like reopen(). Thread-safe.
  void set_path(std::string path);

  // Drains everything appended so far and joins the thread. Idempotent.
  void stop();

  uint64_t lines_written() const { return lines_written_.load(std::memory_order_relaxed); }
  uint64_t bytes_written() const { return bytes_written_.load(std::memory_order_relaxed); }
  uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }
  // Lines lost: refused by full buffers plus lines discarded after a write error.
  uint64_t lines_dropped() const;

 private:
  void run();
  void reopen_now();
  // One pass over the buffers; true when it found anything to write.
  bool drain();
  void write_batch();

  mutable std::mutex mu_;  // path_ and buffers_; never taken by a worker
  std::string path_;
  std::vector<std::unique_ptr<AccessLogBuffer>> buffers_;

  // Writer thread only.
  int fd_ = -1;
  bool failing_ = false;  // the last write failed; report the next failure only after a success
  std::vector<AccessLogBuffer*> drain_list_;
  std::vector<AccessLogBuffer::Spans> spans_;

  std::thread thread_;
  std::atomic<uint32_t> wake_word_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> reopen_{false};
  std::atomic<uint64_t> lines_written_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> write_errors_{0};
  std::atomic<uint64_t> lines_lost_{0};
};

}  // namespace sluice::observe
