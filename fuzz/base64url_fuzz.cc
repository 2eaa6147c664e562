// Fuzzes the strict base64url codec with two oracles: whatever decodes must encode back to the
// same text (one accepted encoding per byte string), and any bytes round-trip through
// encode/decode.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/base64url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sluice::auth;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string out;
  if (base64url_decode(in, &out)) {
    if (base64url_encode(out) != in) std::abort();
    if (out.size() != base64url_decoded_size(in.size())) std::abort();
  }
  std::string enc = base64url_encode(in);
  std::string back;
  if (!base64url_decode(enc, &back) || back != in) std::abort();
  return 0;
}
