#include "core/buffer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sluice::core {

std::unique_ptr<char[]> BufferPool::take() {
  if (free_.empty()) return std::make_unique_for_overwrite<char[]>(kBlockSize);
  std::unique_ptr<char[]> b = std::move(free_.back());
  free_.pop_back();
  return b;
}

void BufferPool::give(std::unique_ptr<char[]> block) {
  if (free_.size() < max_free_) free_.push_back(std::move(block));
}

void Buffer::reserve(BufferPool& pool, size_t n) {
  if (cap_ - end_ >= n) return;
  size_t len = end_ - begin_;
  if (data_ && cap_ - len >= n) {
    std::memmove(data_.get(), data_.get() + begin_, len);
    begin_ = 0;
    end_ = len;
    return;
  }
  size_t need = len + n;
  std::unique_ptr<char[]> block;
  size_t cap;
  if (need <= BufferPool::kBlockSize) {
    block = pool.take();
    cap = BufferPool::kBlockSize;
  } else {
    cap = std::max(need, cap_ * 2);
    block = std::make_unique_for_overwrite<char[]>(cap);
  }
  if (len > 0) std::memcpy(block.get(), data_.get() + begin_, len);
  if (data_ && cap_ == BufferPool::kBlockSize) pool.give(std::move(data_));
  data_ = std::move(block);
  cap_ = cap;
  begin_ = 0;
  end_ = len;
}

void Buffer::consume(size_t n) {
  begin_ += n;
  if (begin_ >= end_) begin_ = end_ = 0;
}

void Buffer::append(BufferPool& pool, std::string_view bytes) {
  reserve(pool, bytes.size());
  std::memcpy(data_.get() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

void Buffer::release(BufferPool& pool) {
  if (data_ && cap_ == BufferPool::kBlockSize) pool.give(std::move(data_));
  data_.reset();
  cap_ = begin_ = end_ = 0;
}

ReadOutcome read_into(int fd, Buffer& in, BufferPool& pool, size_t limit, bool peer_closing) {
  constexpr size_t kChunk = BufferPool::kBlockSize;
  ReadOutcome r;
  while (in.size() < limit) {
    in.reserve(pool, kChunk);
    ssize_t n = ::read(fd, in.write_ptr(), in.writable());
    if (n > 0) {
      in.commit(static_cast<size_t>(n));
      r.bytes += static_cast<size_t>(n);
      if (in.writable() > 0 && !peer_closing) {
        r.drained = true;
        break;
      }
      continue;
    }
    if (n == 0) {
      r.eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      r.drained = true;
    } else {
      r.error = true;
    }
    break;
  }
  if (in.empty()) in.release(pool);
  return r;
}

WriteOutcome write_from(int fd, Buffer& out, BufferPool& pool) {
  WriteOutcome w;
  while (!out.empty()) {
    ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out.consume(static_cast<size_t>(n));
      w.bytes += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      w.blocked = true;
    } else {
      w.error = true;
    }
    break;
  }
  if (out.empty()) out.release(pool);
  return w;
}

}  // namespace sluice::core
