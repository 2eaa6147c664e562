// Byte buffers for connections. A Buffer holds a contiguous window [begin, end) of readable bytes
// inside one heap block; blocks of the standard size come from a per-worker BufferPool so that
// busy connections recycle memory and idle connections hold none (release() gives it back).
// Example:
//   Buffer in;  in.reserve(pool, 4096);  ssize_t n = read(fd, in.write_ptr(), in.writable());
//   in.commit(n);  parse(in.view());  in.consume(used);  if (in.empty()) in.release(pool);
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace sluice::core {

class BufferPool {
 public:
  static constexpr size_t kBlockSize = 16 * 1024;
  explicit BufferPool(size_t max_free = 64) : max_free_(max_free) {}
  std::unique_ptr<char[]> take();
  void give(std::unique_ptr<char[]> block);
  size_t free_blocks() const { return free_.size(); }

 private:
  size_t max_free_;
  std::vector<std::unique_ptr<char[]>> free_;
};

class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&&) = default;
  Buffer& operator=(Buffer&&) = default;

  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  const char* data() const { return data_.get() + begin_; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  size_t capacity() const { return cap_; }

  // Ensures at least `n` writable bytes after the data (moving or growing the block).
  void reserve(BufferPool& pool, size_t n);
  char* write_ptr() { return data_.get() + end_; }
  size_t writable() const { return cap_ - end_; }
  void commit(size_t n) { end_ += n; }
  void consume(size_t n);
  void append(BufferPool& pool, std::string_view bytes);
  // Drops the data and returns the block to the pool (or frees an oversized one).
  void release(BufferPool& pool);
  void clear() { begin_ = end_ = 0; }

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

// Reads from a non-blocking socket into `in` until `limit` bytes are buffered, the socket is
// drained, or the peer closed. A short read counts as drained (the read that would only say
// EAGAIN is skipped: with edge-triggered epoll a later arrival raises a new edge) unless
// `peer_closing` (EPOLLRDHUP seen), when reading goes on to the EOF already queued.
struct ReadOutcome {
  size_t bytes = 0;
  bool drained = false;  // nothing more to read until the next readiness event
  bool eof = false;      // the peer closed its side
  bool error = false;    // the connection failed (errno other than EAGAIN)
};
ReadOutcome read_into(int fd, Buffer& in, BufferPool& pool, size_t limit, bool peer_closing);

// Sends what `out` holds to a non-blocking socket until it is empty or the socket is full, and
// gives the block back to the pool once empty.
struct WriteOutcome {
  size_t bytes = 0;
  bool blocked = false;  // the socket is full: wait for EPOLLOUT
  bool error = false;    // the peer is gone
};
WriteOutcome write_from(int fd, Buffer& out, BufferPool& pool);

}  // namespace sluice::core
