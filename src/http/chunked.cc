#include "http/chunked.h"

#include <algorithm>

#include "http/char_class.h"

namespace sluice::http {

namespace {

constexpr uint8_t kMaxSizeDigits = 16;

// qdtext of RFC 9110 section 5.6.4: HTAB, SP, VCHAR except '"' and '\', obs-text.
bool is_qdtext(char c) {
  const auto u = static_cast<uint8_t>(c);
  return c == '\t' || c == ' ' || u == 0x21 || (u >= 0x23 && u <= 0x5B) ||
         (u >= 0x5D && u <= 0x7E) || u >= 0x80;
}

bool is_quoted_pair_char(char c) {
  const auto u = static_cast<uint8_t>(c);
  return c == '\t' || (u >= 0x20 && u != 0x7F);
}

}  // namespace

ChunkedDecoder::Status ChunkedDecoder::fail(const char* reason, size_t at, size_t* consumed) {
  state_ = State::kError;
  error_reason_ = reason;
  *consumed = at;
  return Status::kError;
}

ChunkedDecoder::Status ChunkedDecoder::decode(std::string_view in, size_t* consumed,
                                              std::string_view* data) {
  *data = {};
  *consumed = 0;
  if (state_ == State::kDone) return Status::kDone;
  if (state_ == State::kError) return Status::kError;
  const size_t n = in.size();
  size_t i = 0;
  while (i < n) {
    if (state_ == State::kData) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
      *data = in.substr(i, take);
      remaining_ -= take;
      if (remaining_ == 0) state_ = State::kDataCr;
      *consumed = i + take;
      return Status::kData;
    }
    const char c = in[i];
    if (state_ <= State::kSizeLf) {
      if (++line_bytes_ > kMaxSizeLineBytes) return fail("chunk size line too long", i, consumed);
    } else if (state_ >= State::kTrailerStart && state_ <= State::kFinalLf) {
      if (++trailer_bytes_ > kMaxTrailerBytes)
        return fail("trailer section too large", i, consumed);
    }
    switch (state_) {
      case State::kSize: {
        const int v = hex_value(c);
        if (v >= 0) {
          if (++digits_ > kMaxSizeDigits) return fail("chunk size too large", i, consumed);
          size_ = (size_ << 4) | static_cast<uint64_t>(v);
        } else if (digits_ == 0) {
          return fail("invalid chunk size", i, consumed);
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExtPreName;
        } else if (is_ows(c)) {
          state_ = State::kSizeWs;
        } else {
          return fail("invalid chunk size", i, consumed);
        }
        break;
      }
      case State::kSizeWs:
        if (c == ';') {
          state_ = State::kExtPreName;
        } else if (!is_ows(c)) {
          return fail("invalid chunk size line", i, consumed);
        }
        break;
      case State::kExtPreName:
        if (is_tchar(c)) {
          state_ = State::kExtName;
        } else if (!is_ows(c)) {
          return fail("invalid chunk extension", i, consumed);
        }
        break;
      case State::kExtName:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExtPreName;
        } else if (c == '=') {
          state_ = State::kExtPreValue;
        } else if (is_ows(c)) {
          state_ = State::kExtPostName;
        } else if (!is_tchar(c)) {
          return fail("invalid chunk extension", i, consumed);
        }
        break;
      case State::kExtPostName:
        if (c == ';') {
          state_ = State::kExtPreName;
        } else if (c == '=') {
          state_ = State::kExtPreValue;
        } else if (!is_ows(c)) {
          return fail("invalid chunk extension", i, consumed);
        }
        break;
      case State::kExtPreValue:
        if (c == '"') {
          state_ = State::kExtQuoted;
        } else if (is_tchar(c)) {
          state_ = State::kExtValue;
        } else if (!is_ows(c)) {
          return fail("invalid chunk extension value", i, consumed);
        }
        break;
      case State::kExtValue:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExtPreName;
        } else if (is_ows(c)) {
          state_ = State::kExtPostValue;
        } else if (!is_tchar(c)) {
          return fail("invalid chunk extension value", i, consumed);
        }
        break;
      case State::kExtQuoted:
        if (c == '"') {
          state_ = State::kExtAfterQuote;
        } else if (c == '\\') {
          state_ = State::kExtQuotedEsc;
        } else if (!is_qdtext(c)) {
          return fail("invalid chunk extension value", i, consumed);
        }
        break;
      case State::kExtQuotedEsc:
        if (!is_quoted_pair_char(c)) return fail("invalid chunk extension value", i, consumed);
        state_ = State::kExtQuoted;
        break;
      case State::kExtAfterQuote:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExtPreName;
        } else if (is_ows(c)) {
          state_ = State::kExtPostValue;
        } else {
          return fail("invalid chunk extension value", i, consumed);
        }
        break;
      case State::kExtPostValue:
        if (c == ';') {
          state_ = State::kExtPreName;
        } else if (!is_ows(c)) {
          return fail("invalid chunk extension", i, consumed);
        }
        break;
      case State::kSizeLf:
        if (c != '\n') return fail("bare CR in chunk size line", i, consumed);
        if (size_ == 0) {
          state_ = State::kTrailerStart;
        } else {
          remaining_ = size_;
          state_ = State::kData;
        }
        break;
      case State::kDataCr:
        if (c != '\r') return fail("chunk data not followed by CRLF", i, consumed);
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') return fail("chunk data not followed by CRLF", i, consumed);
        state_ = State::kSize;
        digits_ = 0;
        size_ = 0;
        line_bytes_ = 0;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kFinalLf;
        } else if (is_tchar(c)) {
          state_ = State::kTrailerName;
        } else if (is_ows(c)) {
          return fail("obs-fold or whitespace in trailer section", i, consumed);
        } else {
          return fail("invalid trailer field name", i, consumed);
        }
        break;
      case State::kTrailerName:
        if (c == ':') {
          state_ = State::kTrailerValue;
        } else if (is_ows(c)) {
          return fail("whitespace between trailer field name and colon", i, consumed);
        } else if (!is_tchar(c)) {
          return fail("invalid trailer field name", i, consumed);
        }
        break;
      case State::kTrailerValue:
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!is_field_value_char(c)) {
          return fail("invalid character in trailer field value", i, consumed);
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') return fail("bare CR in trailer section", i, consumed);
        state_ = State::kTrailerStart;
        break;
      case State::kFinalLf:
        if (c != '\n') return fail("bare CR after trailer section", i, consumed);
        state_ = State::kDone;
        *consumed = i + 1;
        return Status::kDone;
      case State::kData:
      case State::kDone:
      case State::kError:
        break;  // handled above
    }
    ++i;
  }
  *consumed = n;
  return Status::kNeedMore;
}

size_t write_chunk_header(uint64_t size, char* out) {
  constexpr char kHex[] = "0123456789abcdef";
  char tmp[16];
  size_t n = 0;
  do {
    tmp[n++] = kHex[size & 0xF];
    size >>= 4;
  } while (size != 0);
  for (size_t k = 0; k < n; ++k) out[k] = tmp[n - 1 - k];
  out[n] = '\r';
  out[n + 1] = '\n';
  return n + 2;
}

}  // namespace sluice::http
