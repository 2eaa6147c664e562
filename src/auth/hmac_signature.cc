#include "auth/hmac_signature.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include <array>

#include "auth/api_key.h"

namespace sluice::auth {

namespace {

constexpr size_t kMacSize = 32;

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_lower_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  for (char p : std::string_view("!#$%&'*+-.^_`|~")) {
    if (c == p) return true;
  }
  return false;
}

bool is_param_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Quoted values are base64, key ids and nonces: no escapes, no control characters. Refusing
// backslashes keeps the parser free of unescaping (values stay views into the header).
bool is_param_value_char(char c) {
  return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict standard base64 of exactly 32 bytes: 44 characters ending in one '='. Anything else is
// not a MAC we could have produced.
bool decode_mac(std::string_view b64, std::array<uint8_t, kMacSize>* out) {
  if (b64.size() != 44 || b64[43] != '=') return false;
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (size_t i = 0; i < 43; ++i) {
    const int v = b64_value(b64[i]);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n < kMacSize) (*out)[n] = static_cast<uint8_t>(acc >> bits);
      ++n;
      acc &= (1u << bits) - 1;
    }
  }
  // 43 characters carry 258 bits: 32 bytes and 2 bits that must be zero (canonical encoding).
  return n == kMacSize && acc == 0;
}

std::string encode_b64(const uint8_t* p, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

// One EVP_MAC_CTX per thread, re-keyed for each request. OpenSSL 3's one-shot HMAC() fetches
// the algorithm and allocates two contexts on every call, which doubled the cost of verifying a
// small request.
class ThreadMac {
 public:
  ThreadMac() {
    static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac == nullptr) return;
    ctx_ = EVP_MAC_CTX_new(mac);
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_END};
    if (ctx_ != nullptr && EVP_MAC_CTX_set_params(ctx_, params) != 1) {
      EVP_MAC_CTX_free(ctx_);
      ctx_ = nullptr;
    }
  }
  ~ThreadMac() { EVP_MAC_CTX_free(ctx_); }
  ThreadMac(const ThreadMac&) = delete;
  ThreadMac& operator=(const ThreadMac&) = delete;

  bool compute(std::string_view key, std::string_view data, std::array<uint8_t, kMacSize>* out) {
    // An empty key is legal HMAC; OpenSSL wants a non-null pointer for it.
    static const unsigned char kEmpty = 0;
    const auto* k = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
    size_t len = 0;
    return ctx_ != nullptr && EVP_MAC_init(ctx_, k, key.size(), nullptr) == 1 &&
           EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(data.data()), data.size()) ==
               1 &&
           EVP_MAC_final(ctx_, out->data(), &len, out->size()) == 1 && len == kMacSize;
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
};

bool hmac_sha256(std::string_view secret, std::string_view data,
                 std::array<uint8_t, kMacSize>* mac) {
  thread_local ThreadMac tm;
  return tm.compute(secret, data, mac);
}

}  // namespace

bool parse_signed_headers(std::string_view list, std::vector<std::string_view>* names) {
  names->clear();
  if (list.empty()) return true;
  size_t i = 0;
  while (true) {
    size_t semi = list.find(';', i);
    if (semi == std::string_view::npos) semi = list.size();
    const std::string_view name = list.substr(i, semi - i);
    if (name.empty() || names->size() == kMaxSignedHeaders) return false;
    for (char c : name) {
      if (!is_lower_tchar(c)) return false;
    }
    for (std::string_view seen : *names) {
      if (seen == name) return false;
    }
    names->push_back(name);
    if (semi == list.size()) return true;
    i = semi + 1;
  }
}

bool parse_signature_header(std::string_view authorization, SignatureHeader* out,
                            const char** why) {
  const char* unused = nullptr;
  if (why == nullptr) why = &unused;
  std::string_view v = trim(authorization);
  if (v.size() <= kSignatureScheme.size() ||
      !iequals(v.substr(0, kSignatureScheme.size()), kSignatureScheme) ||
      !is_ows(v[kSignatureScheme.size()])) {
    *why = "not a SLUICE-HMAC-SHA256 authorization";
    return false;
  }
  v.remove_prefix(kSignatureScheme.size());
  SignatureHeader sh;
  bool have_key = false, have_headers = false, have_nonce = false, have_sig = false;
  size_t i = 0;
  const size_t n = v.size();
  while (true) {
    while (i < n && is_ows(v[i])) ++i;
    const size_t name_begin = i;
    while (i < n && is_param_name_char(v[i])) ++i;
    const std::string_view name = v.substr(name_begin, i - name_begin);
    while (i < n && is_ows(v[i])) ++i;
    if (name.empty() || i >= n || v[i] != '=') {
      *why = "expected name=\"value\" parameters";
      return false;
    }
    ++i;
    while (i < n && is_ows(v[i])) ++i;
    if (i >= n || v[i] != '"') {
      *why = "parameter values must be quoted";
      return false;
    }
    ++i;
    const size_t value_begin = i;
    while (i < n && is_param_value_char(v[i])) ++i;
    if (i >= n || v[i] != '"') {
      *why = "unterminated or invalid parameter value";
      return false;
    }
    const std::string_view value = v.substr(value_begin, i - value_begin);
    ++i;
    bool* seen = nullptr;
    std::string_view* slot = nullptr;
    if (name == "keyId") {
      seen = &have_key;
      slot = &sh.key_id;
    } else if (name == "signedHeaders") {
      seen = &have_headers;
      slot = &sh.signed_headers;
    } else if (name == "nonce") {
      seen = &have_nonce;
      slot = &sh.nonce;
    } else if (name == "signature") {
      seen = &have_sig;
      slot = &sh.signature;
    }
    if (seen != nullptr) {
      if (*seen) {
        *why = "repeated parameter";
        return false;
      }
      *seen = true;
      *slot = value;
    }
    while (i < n && is_ows(v[i])) ++i;
    if (i == n) break;
    if (v[i] != ',') {
      *why = "parameters must be separated by commas";
      return false;
    }
    ++i;
  }
  if (!have_key || !have_headers || !have_nonce || !have_sig) {
    *why = "keyId, signedHeaders, nonce and signature are required";
    return false;
  }
  if (sh.key_id.empty()) {
    *why = "empty keyId";
    return false;
  }
  if (sh.nonce.size() < kMinNonceSize || sh.nonce.size() > kMaxNonceSize) {
    *why = "nonce must be 8 to 128 characters";
    return false;
  }
  std::vector<std::string_view> names;
  if (!parse_signed_headers(sh.signed_headers, &names)) {
    *why = "signedHeaders must be distinct lower-case header names separated by ';'";
    return false;
  }
  if (sh.signature.empty()) {
    *why = "empty signature";
    return false;
  }
  *out = sh;
  return true;
}

std::string canonical_string(
    std::string_view method, std::string_view path, std::string_view query,
    const std::vector<std::pair<std::string_view, std::string_view>>& signed_header_values,
    std::string_view x_date, std::string_view nonce, std::string_view body_sha256_hex) {
  size_t size = kSignatureScheme.size() + method.size() + path.size() + query.size() +
                x_date.size() + nonce.size() + body_sha256_hex.size() + 6;
  for (const auto& [name, value] : signed_header_values) size += name.size() + value.size() + 2;
  std::string out;
  out.reserve(size);
  out.append(kSignatureScheme);
  out.push_back('\n');
  for (char c : method) out.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c);
  out.push_back('\n');
  out.append(path);
  out.push_back('\n');
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  out.append(query);
  out.push_back('\n');
  for (const auto& [name, value] : signed_header_values) {
    for (char c : name) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    out.push_back(':');
    out.append(trim(value));
    out.push_back('\n');
  }
  out.append(x_date);
  out.push_back('\n');
  out.append(nonce);
  out.push_back('\n');
  for (char c : body_sha256_hex)
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
  return out;
}

std::string sign_canonical(std::string_view secret, std::string_view canonical) {
  std::array<uint8_t, kMacSize> mac{};
  if (!hmac_sha256(secret, canonical, &mac)) return {};
  return encode_b64(mac.data(), mac.size());
}

bool verify_signature(std::string_view secret, std::string_view canonical,
                      std::string_view signature_b64) {
  std::array<uint8_t, kMacSize> presented{};
  if (!decode_mac(signature_b64, &presented)) return false;
  std::array<uint8_t, kMacSize> expected{};
  if (!hmac_sha256(secret, canonical, &expected)) return false;
  const bool ok = CRYPTO_memcmp(presented.data(), expected.data(), kMacSize) == 0;
  OPENSSL_cleanse(expected.data(), expected.size());
  return ok;
}

bool parse_unix_seconds(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool fresh(uint64_t x_date, uint64_t now_s, uint64_t window_s) {
  const uint64_t skew = x_date > now_s ? x_date - now_s : now_s - x_date;
  return skew <= window_s;
}

bool fresh(std::string_view x_date, uint64_t now_s, uint64_t window_s) {
  uint64_t d = 0;
  return parse_unix_seconds(x_date, &d) && fresh(d, now_s, window_s);
}

std::string_view signature_error_reason(SignatureError e) {
  switch (e) {
    case SignatureError::kMissing:
      return "missing SLUICE-HMAC-SHA256 authorization";
    case SignatureError::kMalformed:
      return "malformed signature header";
    case SignatureError::kUnknownKey:
      return "invalid signature";  // the same answer as a bad MAC: key ids are not enumerable
    case SignatureError::kStale:
      return "request date outside the allowed window";
    case SignatureError::kReplayed:
      return "nonce already used; sign the request again";
    case SignatureError::kBadSignature:
      return "invalid signature";
    case SignatureError::kBodyMismatch:
      return "body does not match X-Content-SHA256";
    case SignatureError::kMissingSignedHeader:
      return "a signed header is missing from the request";
  }
  return "invalid signature";
}

BodyDigest::BodyDigest() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ && EVP_DigestInit_ex(ctx_.get(), sha256_md(), nullptr) != 1) ctx_.reset();
}

void BodyDigest::update(std::string_view data) {
  if (ctx_ && EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) ctx_.reset();
}

std::string BodyDigest::hex() {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // A failed context (allocation failure) yields an empty string, which matches no header.
  if (!ctx_ || EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) return {};
  ctx_.reset();
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xF]);
  }
  return out;
}

bool BodyDigest::matches(std::string_view expected_hex) {
  const std::string got = hex();
  return !got.empty() && iequals(got, expected_hex);
}

}  // namespace sluice::auth
