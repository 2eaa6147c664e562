// HMAC request signatures (scheme SLUICE-HMAC-SHA256, specified in docs/hmac-signatures.md):
// parsing the Authorization header, building the canonical string, constant-time verification,
// the X-Date freshness window and a streaming body digest. Pure functions; the filter that wires
// them to a key store and a NonceCache lives in src/filters.
// Example:
//   SignatureHeader sh;
//   const char* why = nullptr;
//   if (!parse_signature_header(authorization, &sh, &why)) return
//   reject(SignatureError::kMalformed); if (!fresh(x_date, now_s, 300)) return
//   reject(SignatureError::kStale); std::string c = canonical_string("POST", "/v1/pay", "",
//   {{"host", host}}, x_date, sh.nonce,
//                                    body_hex);
//   if (!verify_signature(secret, c, sh.signature)) return reject(SignatureError::kBadSignature);
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::auth {

inline constexpr std::string_view kSignatureScheme = "SLUICE-HMAC-SHA256";
inline constexpr std::string_view kDateHeader = "x-date";
inline constexpr std::string_view kContentSha256Header = "x-content-sha256";
// SHA-256 of zero bytes, the X-Content-SHA256 of a request without a body.
inline constexpr std::string_view kEmptyBodySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// Bounds that keep a hostile header from costing more than a small request.
inline constexpr size_t kMaxSignedHeaders = 32;
inline constexpr size_t kMaxNonceSize = 128;
inline constexpr size_t kMinNonceSize = 8;

// The parameters of `Authorization: SLUICE-HMAC-SHA256 keyId="..", signedHeaders="..",
// nonce="..", signature=".."`; views into the header value.
struct SignatureHeader {
  std::string_view key_id;
  std::string_view signed_headers;  // "host;content-type", lower-case names, may be empty
  std::string_view nonce;
  std::string_view signature;  // standard base64 of the 32-byte MAC
};

// False when the value is not this scheme or is malformed; *why then names the problem in a
// client-safe way (a static string). Unknown parameters are ignored for forward compatibility;
// a repeated parameter is an error.
bool parse_signature_header(std::string_view authorization, SignatureHeader* out, const char** why);

// Splits a signedHeaders list ("a;b;c") into names. False if a name is not a lower-case token,
// is repeated, or there are more than kMaxSignedHeaders.
bool parse_signed_headers(std::string_view list, std::vector<std::string_view>* names);

// The string that is MACed, lines joined by "\n" (no trailing newline):
//   SLUICE-HMAC-SHA256 / METHOD / path / query / name:value per signed header / x_date / nonce /
//   body sha256 hex. Header names are lower-cased and values trimmed of spaces and tabs here, so
//   callers may pass them as received.
std::string canonical_string(
    std::string_view method, std::string_view path, std::string_view query,
    const std::vector<std::pair<std::string_view, std::string_view>>& signed_header_values,
    std::string_view x_date, std::string_view nonce, std::string_view body_sha256_hex);

// base64(HMAC-SHA256(secret, canonical)), what a client sends as signature="...".
std::string sign_canonical(std::string_view secret, std::string_view canonical);

// True if signature_b64 decodes to exactly HMAC-SHA256(secret, canonical). The MACs are compared
// with CRYPTO_memcmp so that the time taken does not tell an attacker how many leading bytes of a
// forged MAC were right.
bool verify_signature(std::string_view secret, std::string_view canonical,
                      std::string_view signature_b64);

// Parses X-Date: decimal unix seconds, 1 to 19 digits, nothing else.
bool parse_unix_seconds(std::string_view text, uint64_t* out);

// True if |x_date - now_s| <= window_s. Both directions: a date in the future is as suspicious as
// one in the past (a pre-signed request held back for later), and clock skew goes both ways.
bool fresh(uint64_t x_date, uint64_t now_s, uint64_t window_s);
bool fresh(std::string_view x_date, uint64_t now_s, uint64_t window_s);

// Why a signed request was refused. Every case answers 401; the reason string is safe to send to
// the client (it never says which part of a signature was wrong).
enum class SignatureError {
  kMissing,
  kMalformed,
  kUnknownKey,
  kStale,
  kReplayed,
  kBadSignature,
  kBodyMismatch,
  kMissingSignedHeader,
};
std::string_view signature_error_reason(SignatureError e);

// SHA-256 of a body that arrives in pieces. Move-only. The gateway streams bodies, so it learns
// whether X-Content-SHA256 was right only after the last byte; see docs/hmac-signatures.md for
// what the filter does then.
// Example: BodyDigest d; d.update(chunk1); d.update(chunk2); bool ok = d.matches(header_hex);
class BodyDigest {
 public:
  BodyDigest();
  BodyDigest(BodyDigest&&) noexcept = default;
  BodyDigest& operator=(BodyDigest&&) noexcept = default;

  void update(std::string_view data);
  // Lower-case hex of the digest of everything fed so far. Finalises: call once, after the body.
  std::string hex();
  // Finalises and compares with a hex digest of either case.
  bool matches(std::string_view expected_hex);

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

}  // namespace sluice::auth
