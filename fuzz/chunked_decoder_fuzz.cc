// Fuzz target for ChunkedDecoder: no crash or out-of-bounds read, and decoding the input in one
// piece gives the same status, payload, consumed count and error as decoding it in two pieces
// split at a point taken from the input. Input: byte 0 picks the split; the rest is the body.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "http/chunked.h"

using sluice::http::ChunkedDecoder;
using Status = ChunkedDecoder::Status;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

struct Result {
  Status status = Status::kNeedMore;
  std::string payload;
  size_t consumed = 0;
  std::string reason;
};

// Feeds `piece` to exhaustion; returns false once the decoder has finished or failed.
bool feed(ChunkedDecoder& dec, std::string_view piece, Result& r) {
  for (;;) {
    size_t used = 0;
    std::string_view out;
    const Status st = dec.decode(piece, &used, &out);
    check(used <= piece.size());
    r.consumed += used;
    r.status = st;
    if (st == Status::kData) {
      check(!out.empty() && out.data() >= piece.data() &&
            out.data() + out.size() == piece.data() + used);
      r.payload.append(out);
    } else {
      check(out.empty());
    }
    piece.remove_prefix(used);
    if (st == Status::kNeedMore) {
      check(piece.empty());
      return true;
    }
    if (st == Status::kDone || st == Status::kError) {
      r.reason = dec.error_reason();
      check(dec.done() == (st == Status::kDone));
      return false;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t split = (data[0] * 2654435761u + size) % (in.size() + 1);

  ChunkedDecoder d1;
  Result whole;
  feed(d1, in, whole);

  std::unique_ptr<char[]> a(new char[split + 1]);
  std::unique_ptr<char[]> b(new char[in.size() - split + 1]);
  std::memcpy(a.get(), in.data(), split);
  std::memcpy(b.get(), in.data() + split, in.size() - split);
  ChunkedDecoder d2;
  Result parts;
  if (feed(d2, std::string_view(a.get(), split), parts)) {
    feed(d2, std::string_view(b.get(), in.size() - split), parts);
  }

  check(whole.status == parts.status);
  check(whole.payload == parts.payload);
  check(whole.consumed == parts.consumed);
  check(whole.reason == parts.reason);
  check(whole.payload.size() <= whole.consumed);
  if (whole.status == Status::kDone) check(in.substr(whole.consumed - 2, 2) == "\r\n");
  return 0;
}
