// Streaming decoder for the chunked transfer coding (RFC 9112 section 7.1): strips the framing
// and hands out payload as views into the input, whatever way the input is split into reads.
// Also the small list-header helpers that framing decisions need (see tokens.h).
// Example:
//   ChunkedDecoder dec;  size_t used;  std::string_view data;
//   for (;;) {
//     auto st = dec.decode(input, &used, &data);
//     input.remove_prefix(used);
//     if (st == ChunkedDecoder::Status::kData) forward(data);
//     else if (st == ChunkedDecoder::Status::kNeedMore) break;  // read more, call again
//     else { finished_or_failed(st); break; }  // kDone: `input` holds the next message
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/tokens.h"

namespace sluice::http {

class ChunkedDecoder {
 public:
  enum class Status : uint8_t { kData, kNeedMore, kDone, kError };

  // Longest chunk-size line including extensions and CRLF, and longest trailer section.
  static constexpr size_t kMaxSizeLineBytes = size_t{4} * 1024;
  static constexpr size_t kMaxTrailerBytes = size_t{16} * 1024;

  void reset() { *this = ChunkedDecoder(); }

  // Consumes chunk framing from `in`. kData: *data is a non-empty view into `in` with payload
  // bytes; kNeedMore: all of `in` consumed, nothing to hand out; kDone: last-chunk and trailer
  // section fully consumed (bytes after it are NOT consumed: they belong to the next message);
  // kError: framing invalid (error_reason() says why; *consumed stops before the bad byte).
  // *consumed = bytes of `in` used in this call (always set). Call repeatedly with the rest.
  Status decode(std::string_view in, size_t* consumed, std::string_view* data);

  const char* error_reason() const { return error_reason_; }
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State : uint8_t {
    kSize,        // hex digits of chunk-size
    kSizeWs,      // BWS after the size: only ';' may follow
    kExtPreName,  // after ';'
    kExtName,
    kExtPostName,   // BWS after a name: '=' or ';'
    kExtPreValue,   // after '='
    kExtValue,      // token value
    kExtQuoted,     // inside a quoted-string value
    kExtQuotedEsc,  // after a backslash in a quoted-string
    kExtAfterQuote,
    kExtPostValue,  // BWS after a value: only ';' may follow
    kSizeLf,        // CR of the size line seen
    kData,
    kDataCr,
    kDataLf,
    kTrailerStart,  // start of a trailer field line, or of the final CRLF
    kTrailerName,
    kTrailerValue,
    kTrailerLf,
    kFinalLf,
    kDone,
    kError,
  };

  Status fail(const char* reason, size_t at, size_t* consumed);

  State state_ = State::kSize;
  uint8_t digits_ = 0;
  uint64_t size_ = 0;       // chunk-size being read
  uint64_t remaining_ = 0;  // payload bytes left in the current chunk
  size_t line_bytes_ = 0;   // bytes of the current size line
  size_t trailer_bytes_ = 0;
  const char* error_reason_ = "";
};

// Writes "<hex size>\r\n" into out (at least 20 bytes), returns its length.
size_t write_chunk_header(uint64_t size, char* out);

}  // namespace sluice::http
