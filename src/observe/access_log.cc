#include "observe/access_log.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

namespace sluice::observe {
namespace {

enum Field : uint8_t {
  kLiteral = 0,
  kTimeIso,
  kTimeUnix,
  kRequestId,
  kTraceId,
  kClient,
  kMethod,
  kHost,
  kPath,
  kRoute,
  kUpstream,
  kTarget,
  kProtocol,
  kStatus,
  kBytesIn,
  kBytesOut,
  kDurationMs,
  kDurationUs,
  kUpstreamConnectMs,
  kUpstreamResponseMs,
  kTries,
  kUserAgent,
  kReferer,
  kError,
};

struct Variable {
  std::string_view name;
  Field field;
};

constexpr Variable kVariables[] = {
    {"time", kTimeIso},
    {"time_iso", kTimeIso},
    {"time_unix", kTimeUnix},
    {"request_id", kRequestId},
    {"trace_id", kTraceId},
    {"client", kClient},
    {"method", kMethod},
    {"host", kHost},
    {"path", kPath},
    {"route", kRoute},
    {"upstream", kUpstream},
    {"target", kTarget},
    {"protocol", kProtocol},
    {"status", kStatus},
    {"bytes_in", kBytesIn},
    {"bytes_out", kBytesOut},
    {"duration_ms", kDurationMs},
    {"duration_us", kDurationUs},
    {"upstream_connect_ms", kUpstreamConnectMs},
    {"upstream_response_ms", kUpstreamResponseMs},
    {"tries", kTries},
    {"user_agent", kUserAgent},
    {"referer", kReferer},
    {"error", kError},
};

constexpr char kHex[] = "0123456789abcdef";

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void append_uint(std::string& out, uint64_t v) {
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;
  out.append(buf, static_cast<size_t>(end - buf));
}

// Microseconds as milliseconds with three decimals: the log is read by people and parsed by
// tools that expect milliseconds, without the cost and rounding noise of a double.
void append_ms(std::string& out, uint64_t us) {
  append_uint(out, us / 1000);
  const auto frac = static_cast<unsigned>(us % 1000);
  const char digits[4] = {'.', static_cast<char>('0' + frac / 100),
                          static_cast<char>('0' + frac / 10 % 10),
                          static_cast<char>('0' + frac % 10)};
  out.append(digits, sizeof(digits));
}

void put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10 % 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// "2026-11-26T09:10:45.123Z" without gmtime_r: the civil-from-days algorithm of H. Hinnant is
// pure arithmetic, so no locale, time zone file or lock is touched on the worker.
void append_iso(std::string& out, uint64_t unix_us) {
  const uint64_t secs = unix_us / 1000000;
  const auto ms = static_cast<unsigned>(unix_us / 1000 % 1000);
  const auto sod = static_cast<unsigned>(secs % 86400);
  const uint64_t days = secs / 86400 + 719468;
  const uint64_t era = days / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const auto year = static_cast<unsigned>(yoe + era * 400 + (month <= 2 ? 1 : 0));
  char b[24] = {'0', '0', '0', '0', '-', '0', '0', '-', '0', '0', 'T', '0',
                '0', ':', '0', '0', ':', '0', '0', '.', '0', '0', '0', 'Z'};
  put2(b, year / 100);
  put2(b + 2, year % 100);
  put2(b + 5, month);
  put2(b + 8, day);
  put2(b + 11, sod / 3600);
  put2(b + 14, sod / 60 % 60);
  put2(b + 17, sod % 60);
  b[20] = static_cast<char>('0' + ms / 100);
  put2(b + 21, ms % 100);
  out.append(b, sizeof(b));
}

// Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF), or 0 when the byte does not start one.
size_t utf8_length(const unsigned char* p, const unsigned char* end) {
  const unsigned char c = p[0];
  const auto avail = static_cast<size_t>(end - p);
  auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
    return i < avail && p[i] >= lo && p[i] <= hi;
  };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
    const unsigned char hi = c == 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

// 0: copied as is; 1: escaped; 2 (JSON only): the start of a multi-byte sequence to validate.
constexpr std::array<uint8_t, 256> make_json_class() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 1;
  t['"'] = 1;
  t['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c) t[c] = 2;
  return t;
}
constexpr std::array<uint8_t, 256> kJsonClass = make_json_class();

constexpr std::array<uint8_t, 256> make_template_class() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 1;
  t[0x7f] = 1;
  t['"'] = 1;
  t['\\'] = 1;  // escaped too, so that a literal "\x22" from a client cannot pass for a quote
  return t;
}
constexpr std::array<uint8_t, 256> kTemplateClass = make_template_class();

// Eight bytes at a time: most values are plain ASCII, and one test per word lets them through
// without a table look-up per byte (exact as a yes/no; the byte loop finds which one).
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

uint64_t load8(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  return w;
}

constexpr uint64_t has_zero(uint64_t w) {
  return (w - kOnes) & ~w & kHighs;
}

constexpr uint64_t has_control(uint64_t w) {  // a byte below 0x20
  return (w - kOnes * 0x20) & ~w & kHighs;
}

constexpr bool json_special(uint64_t w) {
  return ((w & kHighs) | has_control(w) | has_zero(w ^ (kOnes * '"')) |
          has_zero(w ^ (kOnes * '\\'))) != 0;
}

constexpr bool template_special(uint64_t w) {
  return (has_control(w) | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\')) |
          has_zero(w ^ (kOnes * 0x7f))) != 0;
}

// A quoted JSON string. Bytes that are not valid UTF-8 become \u00XX of the byte: the value is
// then a Latin-1 reading of that byte, but the line stays valid JSON for every parser.
void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  const auto* run = p;
  while (p < end) {
    if (end - p >= 8 && !json_special(load8(p))) {
      p += 8;
      continue;
    }
    const uint8_t cls = kJsonClass[*p];
    if (cls == 0) {
      ++p;
      continue;
    }
    if (cls == 2) {
      if (size_t n = utf8_length(p, end)) {
        p += n;
        continue;
      }
    }
    out.append(reinterpret_cast<const char*>(run), static_cast<size_t>(p - run));
    if (*p == '"' || *p == '\\') {
      const char esc[2] = {'\\', static_cast<char>(*p)};
      out.append(esc, 2);
    } else {
      const char esc[6] = {'\\', 'u', '0', '0', kHex[*p >> 4], kHex[*p & 0xf]};
      out.append(esc, 6);
    }
    run = ++p;
  }
  out.append(reinterpret_cast<const char*>(run), static_cast<size_t>(p - run));
  out.push_back('"');
}

void append_template_string(std::string& out, std::string_view s) {
  if (s.empty()) {
    out.push_back('-');
    return;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  const auto* run = p;
  while (p < end) {
    if (end - p >= 8 && !template_special(load8(p))) {
      p += 8;
      continue;
    }
    if (kTemplateClass[*p] == 0) {
      ++p;
      continue;
    }
    out.append(reinterpret_cast<const char*>(run), static_cast<size_t>(p - run));
    const char esc[4] = {'\\', 'x', kHex[*p >> 4], kHex[*p & 0xf]};
    out.append(esc, 4);
    run = ++p;
  }
  out.append(reinterpret_cast<const char*>(run), static_cast<size_t>(p - run));
}

void append_optional_ms(std::string& out, int64_t us, std::string_view none) {
  if (us < 0) {
    out.append(none);
  } else {
    append_ms(out, static_cast<uint64_t>(us));
  }
}

void append_json_field(std::string& out, std::string_view key_prefix, std::string_view value) {
  out.append(key_prefix);
  append_json_string(out, value);
}

// The raw-syscall futex lets a worker wake the writer without a lock, and the writer sleep with
// a timeout (std::atomic::wait has none).
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
              std::atomic<uint32_t>::is_always_lock_free);

void futex_wake(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, uint32_t ms) {
  timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000000L};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, &ts, nullptr,
          0);
}

void signal_wake(std::atomic<uint32_t>* word) {
  const int saved = errno;  // reopen() runs in signal handlers
  word->store(1, std::memory_order_release);
  futex_wake(word);
  errno = saved;
}

bool is_stdout(const std::string& path) {
  return path.empty() || path == "-";
}

int open_log(const std::string& path) {
  if (is_stdout(path)) return STDOUT_FILENO;
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

void close_log(int fd) {
  if (fd > STDERR_FILENO) ::close(fd);
}

void say(const std::string& line) {
  if (::write(STDERR_FILENO, line.data(), line.size()) < 0) {
  }
}

}  // namespace

// --- AccessLogFormat ------------------------------------------------------------------------

std::optional<AccessLogFormat> AccessLogFormat::compile(std::string_view spec, std::string* error) {
  AccessLogFormat f;
  if (spec.empty() || spec == "json") return f;
  f.json_ = false;
  // A YAML block scalar brings a trailing newline; format() ends the line itself.
  while (!spec.empty() && (spec.back() == '\n' || spec.back() == '\r')) spec.remove_suffix(1);

  auto fail = [&](std::string message) -> std::optional<AccessLogFormat> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  size_t literal_start = 0;
  auto flush_literal = [&] {
    if (f.literals_.size() > literal_start) {
      f.pieces_.push_back(Piece{kLiteral, static_cast<uint32_t>(literal_start),
                                static_cast<uint32_t>(f.literals_.size() - literal_start)});
    }
    literal_start = f.literals_.size();
  };

  for (size_t i = 0; i < spec.size();) {
    const char c = spec[i];
    if (c == '\n' || c == '\r') {
      return fail("access log format: a template is one line (newline at offset " +
                  std::to_string(i) + ")");
    }
    if (c != '$') {
      f.literals_.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 < spec.size() && spec[i + 1] == '$') {
      f.literals_.push_back('$');
      i += 2;
      continue;
    }
    std::string_view name;
    if (i + 1 < spec.size() && spec[i + 1] == '{') {
      const size_t close = spec.find('}', i + 2);
      if (close == std::string_view::npos) {
        return fail("access log format: unterminated '${' at offset " + std::to_string(i));
      }
      name = spec.substr(i + 2, close - i - 2);
      i = close + 1;
    } else {
      size_t j = i + 1;
      while (j < spec.size() && is_name_char(spec[j])) ++j;
      name = spec.substr(i + 1, j - i - 1);
      if (name.empty()) {
        return fail("access log format: '$' without a variable name at offset " +
                    std::to_string(i) + " (write $$ for a dollar)");
      }
      i = j;
    }
    const auto* var = std::find_if(std::begin(kVariables), std::end(kVariables),
                                   [&](const Variable& v) { return v.name == name; });
    if (var == std::end(kVariables)) {
      return fail("access log format: unknown variable '$" + std::string(name) + "'");
    }
    flush_literal();
    f.pieces_.push_back(Piece{var->field, 0, 0});
  }
  flush_literal();
  return f;
}

void AccessLogFormat::format(const AccessLogRecord& r, std::string& out) const {
  if (json_) {
    format_json(r, out);
    return;
  }
  for (const Piece& p : pieces_) {
    switch (static_cast<Field>(p.field)) {
      case kLiteral:
        out.append(literals_, p.offset, p.length);
        break;
      case kTimeIso:
        append_iso(out, r.time_unix_us);
        break;
      case kTimeUnix:
        append_ms(out, r.time_unix_us / 1000);  // seconds.milliseconds, like nginx's $msec
        break;
      case kRequestId:
        append_template_string(out, r.request_id);
        break;
      case kTraceId:
        append_template_string(out, r.trace_id);
        break;
      case kClient:
        append_template_string(out, r.client_address);
        break;
      case kMethod:
        append_template_string(out, r.method);
        break;
      case kHost:
        append_template_string(out, r.host);
        break;
      case kPath:
        append_template_string(out, r.path);
        break;
      case kRoute:
        append_template_string(out, r.route);
        break;
      case kUpstream:
        append_template_string(out, r.upstream);
        break;
      case kTarget:
        append_template_string(out, r.target);
        break;
      case kProtocol:
        append_template_string(out, r.protocol);
        break;
      case kStatus:
        append_uint(out, static_cast<uint64_t>(r.status < 0 ? 0 : r.status));
        break;
      case kBytesIn:
        append_uint(out, r.bytes_in);
        break;
      case kBytesOut:
        append_uint(out, r.bytes_out);
        break;
      case kDurationMs:
        append_ms(out, r.duration_us);
        break;
      case kDurationUs:
        append_uint(out, r.duration_us);
        break;
      case kUpstreamConnectMs:
        append_optional_ms(out, r.upstream_connect_us, "-");
        break;
      case kUpstreamResponseMs:
        append_optional_ms(out, r.upstream_response_us, "-");
        break;
      case kTries:
        append_uint(out, r.tries);
        break;
      case kUserAgent:
        append_template_string(out, r.user_agent);
        break;
      case kReferer:
        append_template_string(out, r.referer);
        break;
      case kError:
        append_template_string(out, r.error);
        break;
    }
  }
  out.push_back('\n');
}

void AccessLogFormat::format_json(const AccessLogRecord& r, std::string& out) const {
  out.append("{\"time\":\"");
  append_iso(out, r.time_unix_us);
  out.push_back('"');
  append_json_field(out, ",\"request_id\":", r.request_id);
  append_json_field(out, ",\"trace_id\":", r.trace_id);
  append_json_field(out, ",\"client\":", r.client_address);
  append_json_field(out, ",\"method\":", r.method);
  append_json_field(out, ",\"host\":", r.host);
  append_json_field(out, ",\"path\":", r.path);
  append_json_field(out, ",\"route\":", r.route);
  append_json_field(out, ",\"upstream\":", r.upstream);
  append_json_field(out, ",\"target\":", r.target);
  append_json_field(out, ",\"protocol\":", r.protocol);
  out.append(",\"status\":");
  append_uint(out, static_cast<uint64_t>(r.status < 0 ? 0 : r.status));
  out.append(",\"bytes_in\":");
  append_uint(out, r.bytes_in);
  out.append(",\"bytes_out\":");
  append_uint(out, r.bytes_out);
  out.append(",\"duration_ms\":");
  append_ms(out, r.duration_us);
  out.append(",\"upstream_connect_ms\":");
  append_optional_ms(out, r.upstream_connect_us, "null");
  out.append(",\"upstream_response_ms\":");
  append_optional_ms(out, r.upstream_response_us, "null");
  out.append(",\"tries\":");
  append_uint(out, r.tries);
  append_json_field(out, ",\"user_agent\":", r.user_agent);
  append_json_field(out, ",\"referer\":", r.referer);
  append_json_field(out, ",\"error\":", r.error);
  out.append("}\n");
}

// --- AccessLogBuffer ------------------------------------------------------------------------

AccessLogBuffer::AccessLogBuffer(size_t capacity)
    : capacity_(std::bit_ceil(std::max<size_t>(capacity, 64))), data_(new char[capacity_]) {}

bool AccessLogBuffer::append(std::string_view line) {
  const size_t n = line.size();
  const uint64_t head = head_.load(std::memory_order_relaxed);
  // The producer's cached tail is only ever behind, so it understates the free space; the shared
  // cache line is read only when that estimate says the line does not fit.
  if (n > capacity_ - (head - tail_cache_)) {
    tail_cache_ = tail_.load(std::memory_order_acquire);
    if (n > capacity_ - (head - tail_cache_)) {
      drops_.store(drops_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
  }
  const size_t off = head & (capacity_ - 1);
  const size_t first = std::min(n, capacity_ - off);
  std::memcpy(data_.get() + off, line.data(), first);
  std::memcpy(data_.get(), line.data() + first, n - first);
  const uint64_t new_head = head + n;
  head_.store(new_head, std::memory_order_release);

  if (wake_ && new_head - tail_cache_ > capacity_ / 2 && !woke_.load(std::memory_order_relaxed)) {
    // Refresh the stale tail first: after a drain it would report "half full" on every append.
    tail_cache_ = tail_.load(std::memory_order_acquire);
    if (new_head - tail_cache_ > capacity_ / 2) {
      woke_.store(true, std::memory_order_relaxed);
      signal_wake(wake_);
    }
  }
  return true;
}

AccessLogBuffer::Spans AccessLogBuffer::peek() const {
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  const uint64_t head = head_.load(std::memory_order_acquire);
  const auto n = static_cast<size_t>(head - tail);
  const size_t off = tail & (capacity_ - 1);
  const size_t first = std::min(n, capacity_ - off);
  return Spans{std::string_view(data_.get() + off, first),
               std::string_view(data_.get(), n - first)};
}

void AccessLogBuffer::consume(size_t bytes) {
  tail_.store(tail_.load(std::memory_order_relaxed) + bytes, std::memory_order_release);
  woke_.store(false, std::memory_order_relaxed);
}

// --- AccessLogWriter ------------------------------------------------------------------------

AccessLogWriter::AccessLogWriter(std::string path) : path_(std::move(path)) {}

AccessLogWriter::~AccessLogWriter() {
  stop();
}

AccessLogBuffer* AccessLogWriter::add_buffer(size_t capacity) {
  auto buffer = std::make_unique<AccessLogBuffer>(capacity);
  buffer->wake_ = &wake_word_;
  AccessLogBuffer* raw = buffer.get();
  std::lock_guard lock(mu_);
  buffers_.push_back(std::move(buffer));
  return raw;
}

bool AccessLogWriter::start(std::string* error) {
  if (thread_.joinable()) return true;
  std::string path;
  {
    std::lock_guard lock(mu_);
    path = path_;
  }
  const int fd = open_log(path);
  if (fd < 0) {
    if (error) {
      *error = "cannot open access log '" + path + "': " + std::system_category().message(errno);
    }
    return false;
  }
  fd_ = fd;
  stop_.store(false, std::memory_order_relaxed);
  reopen_.store(false, std::memory_order_relaxed);
  thread_ = std::thread([this] { run(); });
  return true;
}

void AccessLogWriter::reopen() {
  reopen_.store(true, std::memory_order_relaxed);
  signal_wake(&wake_word_);
}

void AccessLogWriter::set_path(std::string path) {
  {
    std::lock_guard lock(mu_);
    path_ = std::move(path);
  }
  reopen();
}

void AccessLogWriter::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);
  signal_wake(&wake_word_);
  thread_.join();
  close_log(fd_);
  fd_ = -1;
}

uint64_t AccessLogWriter::lines_dropped() const {
  uint64_t n = lines_lost_.load(std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  for (const auto& b : buffers_) n += b->drops();
  return n;
}

void AccessLogWriter::run() {
  pthread_setname_np(pthread_self(), "sluice-alog");  // for top -H and perf
  for (;;) {
    // Read before draining: everything appended before stop() is then visible to the drain.
    const bool stopping = stop_.load(std::memory_order_acquire);
    if (reopen_.exchange(false, std::memory_order_acq_rel)) reopen_now();
    drain();
    if (stopping) {
      while (drain()) {
      }
      return;
    }
    if (wake_word_.exchange(0, std::memory_order_acq_rel) == 0) {
      futex_wait(&wake_word_, 0, kFlushIntervalMs);
    }
  }
}

void AccessLogWriter::reopen_now() {
  std::string path;
  {
    std::lock_guard lock(mu_);
    path = path_;
  }
  const int fd = open_log(path);
  if (fd < 0) {
    say("sluice: access log: cannot reopen '" + path +
        "', still writing to the old file: " + std::system_category().message(errno) + "\n");
    return;
  }
  if (fd != fd_) close_log(fd_);
  fd_ = fd;
}

bool AccessLogWriter::drain() {
  drain_list_.clear();
  {
    std::lock_guard lock(mu_);
    for (const auto& b : buffers_) drain_list_.push_back(b.get());
  }
  spans_.clear();
  size_t total = 0;
  for (AccessLogBuffer* b : drain_list_) {
    spans_.push_back(b->peek());
    total += spans_.back().size();
  }
  if (total == 0) return false;
  write_batch();
  return true;
}

void AccessLogWriter::write_batch() {
  // Two iovecs per buffer; a batch of 512 covers 256 workers in one writev.
  constexpr size_t kMaxIov = 512;
  std::array<iovec, kMaxIov> iov;
  size_t begin = 0;
  while (begin < spans_.size()) {
    size_t end = begin;
    size_t count = 0;
    uint64_t lines = 0;
    for (; end < spans_.size() && count + 2 <= kMaxIov; ++end) {
      for (std::string_view s : {spans_[end].first, spans_[end].second}) {
        if (s.empty()) continue;
        iov[count++] = iovec{const_cast<char*>(s.data()), s.size()};
        lines += static_cast<uint64_t>(std::count(s.begin(), s.end(), '\n'));
      }
    }

    size_t written = 0;
    int err = 0;
    size_t i = 0;
    while (i < count) {
      const ssize_t n = ::writev(fd_, &iov[i], static_cast<int>(std::min<size_t>(count - i, 1024)));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {  // stdout may be a non-blocking pipe: wait a little, then give up
          pollfd p{fd_, POLLOUT, 0};
          if (::poll(&p, 1, 1000) > 0) continue;
        }
        err = errno;
        break;
      }
      auto left = static_cast<size_t>(n);
      written += left;
      while (i < count && left >= iov[i].iov_len) left -= iov[i++].iov_len;
      if (left > 0) {
        iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + left;
        iov[i].iov_len -= left;
      }
    }

    // Written or not, the bytes leave the buffers: a failing disk must not back up the workers.
    for (size_t b = begin; b < end; ++b) drain_list_[b]->consume(spans_[b].size());
    bytes_written_.fetch_add(written, std::memory_order_relaxed);
    if (err == 0) {
      lines_written_.fetch_add(lines, std::memory_order_relaxed);
      failing_ = false;
    } else {
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      lines_lost_.fetch_add(lines, std::memory_order_relaxed);
      if (!failing_) {
        say("sluice: access log: write failed, dropping lines until it works again: " +
            std::system_category().message(err) + "\n");
      }
      failing_ = true;
    }
    begin = end;
  }
}

}  // namespace sluice::observe
