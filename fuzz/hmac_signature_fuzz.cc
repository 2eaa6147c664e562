// Fuzz target for HMAC request signatures (src/auth/hmac_signature.h): the Authorization header
// parser, the signedHeaders list, the canonical string, signing and verification, X-Date and the
// streaming body digest. Input: lines (no line holds a '\n', as no request line or field does):
//   authorization / method / path / query / x-date / nonce / body sha256 hex / secret /
//   then one "name:value" per signed header; the whole input is also the body.
// No crash, no sanitizer report, and:
//   - parse_signature_header accepts, or says why not; what it accepts are views into the value,
//     with a key id, an 8..128-byte nonce, a valid signedHeaders list and a signature, and the
//     header written back from them parses to the same parameters;
//   - parse_signed_headers accepts distinct lower-case tokens (at most 32), joined by ';' as given;
//   - the canonical string splits back into exactly its parts: the scheme, the method upper-cased,
//     the path, the query without its '?', one "name:value" per header (name lower-cased, value
//     trimmed), the date, the nonce and the digest lower-cased;
//   - sign_canonical gives 44 characters of base64 that verify_signature accepts, and no other
//     string: not a changed canonical string, not another secret, not a flipped or non-canonical
//     encoding of the same MAC;
//   - parse_unix_seconds reads 1..19 digits only, and prints back as the digits without leading
//     zeros; fresh() is symmetric in the date and now;
//   - BodyDigest gives the same digest for the body fed whole or in two pieces, as
//     EVP_Digest(SHA-256) does, and matches() it in upper case.
#include <openssl/evp.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/hmac_signature.h"
#include "fuzz_check.h"

using namespace sluice::auth;

namespace {

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t pos = 0;;) {
    const size_t end = s.find(sep, pos);
    out.push_back(
        s.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
    if (end == std::string_view::npos) return out;
    pos = end + 1;
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void check_signature_header(std::string_view value) {
  SignatureHeader sh;
  const char* why = nullptr;
  if (!parse_signature_header(value, &sh, &why)) {
    CHECK(why != nullptr && why[0] != '\0');
    return;
  }
  CHECK(inside(sh.key_id, value) && inside(sh.signed_headers, value));
  CHECK(inside(sh.nonce, value) && inside(sh.signature, value));
  CHECK(!sh.key_id.empty() && !sh.signature.empty());
  CHECK(sh.nonce.size() >= kMinNonceSize && sh.nonce.size() <= kMaxNonceSize);
  std::vector<std::string_view> names;
  CHECK(parse_signed_headers(sh.signed_headers, &names));
  const std::string again = std::string(kSignatureScheme) + " keyId=\"" + std::string(sh.key_id) +
                            "\", signedHeaders=\"" + std::string(sh.signed_headers) +
                            "\", nonce=\"" + std::string(sh.nonce) + "\", signature=\"" +
                            std::string(sh.signature) + "\"";
  SignatureHeader sh2;
  CHECK(parse_signature_header(again, &sh2, &why));
  CHECK(sh2.key_id == sh.key_id && sh2.signed_headers == sh.signed_headers);
  CHECK(sh2.nonce == sh.nonce && sh2.signature == sh.signature);
}

void check_signed_headers(std::string_view list) {
  std::vector<std::string_view> names;
  if (!parse_signed_headers(list, &names)) return;
  CHECK(names.size() <= kMaxSignedHeaders);
  std::string joined;
  for (size_t i = 0; i < names.size(); ++i) {
    CHECK(!names[i].empty() && lower(names[i]) == names[i]);
    for (size_t j = 0; j < i; ++j) CHECK(names[j] != names[i]);
    if (i > 0) joined += ';';
    joined += names[i];
  }
  CHECK(joined == list);
}

// Flips one bit of the MAC the signature encodes (characters 0..42 each carry 6 bits, all used
// but the last 2 bits of character 42) or makes a non-canonical encoding of the same MAC.
void check_forgeries(std::string_view secret, const std::string& canonical, const std::string& sig,
                     uint8_t pick) {
  static constexpr std::string_view kB64 =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string forged = sig;
  const size_t pos = pick % 43;
  const size_t v = kB64.find(forged[pos]);
  CHECK(v != std::string_view::npos);
  // Character 42 carries 4 bits of the MAC and 2 bits that must be zero: any change is either
  // another MAC or a non-canonical encoding.
  forged[pos] = kB64[v ^ (1u << (pick >> 6 & (pos == 42 ? 1 : 3)))];
  CHECK(!verify_signature(secret, canonical, forged));
  CHECK(!verify_signature(secret, canonical + "x", sig));
  CHECK(!verify_signature(std::string(secret) + "x", canonical, sig));
  CHECK(!verify_signature(secret, canonical, sig.substr(0, 43)));
  CHECK(!verify_signature(secret, canonical, sig + "="));
}

void check_canonical(const std::vector<std::string_view>& f, uint8_t pick) {
  const std::string_view method = f[1], path = f[2], query = f[3], date = f[4], nonce = f[5];
  const std::string_view digest = f[6], secret = f[7];
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  for (size_t i = 8; i < f.size() && headers.size() < kMaxSignedHeaders; ++i) {
    const size_t colon = f[i].find(':');
    if (colon == std::string_view::npos) continue;
    headers.emplace_back(f[i].substr(0, colon), f[i].substr(colon + 1));
  }
  const std::string c = canonical_string(method, path, query, headers, date, nonce, digest);
  const std::vector<std::string_view> lines = split(c, '\n');
  CHECK(lines.size() == 7 + headers.size());
  CHECK(lines[0] == kSignatureScheme && lines[1] == upper(method) && lines[2] == path);
  CHECK(lines[3] == (!query.empty() && query[0] == '?' ? query.substr(1) : query));
  for (size_t i = 0; i < headers.size(); ++i) {
    CHECK(lines[4 + i] == lower(headers[i].first) + ":" + std::string(trim(headers[i].second)));
  }
  CHECK(lines[4 + headers.size()] == date && lines[5 + headers.size()] == nonce);
  CHECK(lines[6 + headers.size()] == lower(digest));

  const std::string sig = sign_canonical(secret, c);
  CHECK(sig.size() == 44 && sig[43] == '=');
  CHECK(verify_signature(secret, c, sig));
  check_forgeries(secret, c, sig, pick);
}

void check_date(std::string_view date, uint8_t pick) {
  uint64_t v = 0;
  const bool digits = !date.empty() && date.size() <= 19 &&
                      date.find_first_not_of("0123456789") == std::string_view::npos;
  CHECK(parse_unix_seconds(date, &v) == digits);
  if (!digits) {
    CHECK(!fresh(date, 0, UINT64_MAX));
    return;
  }
  std::string_view stripped = date.substr(std::min(date.find_first_not_of('0'), date.size() - 1));
  CHECK(std::to_string(v) == stripped);
  const uint64_t now = 1700000000ULL + pick;
  const uint64_t window = pick * 7ULL;
  CHECK(fresh(v, now, window) == fresh(now, v, window));
  CHECK(fresh(date, now, window) == fresh(v, now, window));
  CHECK(fresh(v, v, 0));
}

void check_digest(std::string_view body, uint8_t pick) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  CHECK(EVP_Digest(body.data(), body.size(), md, &len, EVP_sha256(), nullptr) == 1 && len == 32);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string want;
  for (unsigned int i = 0; i < len; ++i) {
    want.push_back(kHex[md[i] >> 4]);
    want.push_back(kHex[md[i] & 15]);
  }
  const size_t split_at = body.empty() ? 0 : pick % (body.size() + 1);
  BodyDigest whole;
  whole.update(body);
  CHECK(whole.hex() == want);
  BodyDigest parts;
  parts.update(body.substr(0, split_at));
  parts.update(body.substr(split_at));
  CHECK(parts.matches(upper(want)));
  if (body.empty()) CHECK(want == kEmptyBodySha256);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> fields = split(in, '\n');
  if (fields.size() > 64) return 0;
  const uint8_t pick = size == 0 ? 0 : data[size - 1];
  fields.resize(std::max<size_t>(fields.size(), 8));
  check_signature_header(fields[0]);
  SignatureHeader sh;
  if (parse_signature_header(fields[0], &sh, nullptr)) check_signed_headers(sh.signed_headers);
  check_signed_headers(fields[5]);
  check_canonical(fields, pick);
  check_date(fields[4], pick);
  check_digest(in, pick);
  return 0;
}
