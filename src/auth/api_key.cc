#include "auth/api_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>

namespace sluice::auth {

namespace {

int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const EVP_MD* sha256_md() {
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up again on every
  // digest, which costs more than hashing a 43-byte key.
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}

Sha256Digest sha256(std::string_view data) {
  Sha256Digest d{};
  unsigned int len = 0;
  // EVP_Digest is the one-shot form; it cannot fail for SHA-256 short of memory exhaustion, in
  // which case the all-zero digest matches no configured key.
  EVP_Digest(data.data(), data.size(), d.data(), &len, sha256_md(), nullptr);
  return d;
}

std::string hash_api_key(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  const Sha256Digest d = sha256(key);
  std::string out(kApiKeyHashPrefix);
  out.reserve(kApiKeyHashPrefix.size() + 64);
  for (uint8_t b : d) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

bool parse_api_key_hash(std::string_view text, Sha256Digest* out) {
  if (text.substr(0, kApiKeyHashPrefix.size()) != kApiKeyHashPrefix) return false;
  text.remove_prefix(kApiKeyHashPrefix.size());
  if (text.size() != 64) return false;
  Sha256Digest d{};
  for (size_t i = 0; i < 32; ++i) {
    const int hi = hex_nibble(text[2 * i]);
    const int lo = hex_nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    d[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  *out = d;
  return true;
}

std::string generate_api_key() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint8_t raw[33];  // 32 random bytes + one zero byte so the last group of 3 is complete
  if (RAND_bytes(raw, 32) != 1) return {};
  raw[32] = 0;
  std::string out;
  out.reserve(44);
  for (size_t i = 0; i < 33; i += 3) {
    const uint32_t v = uint32_t{raw[i]} << 16 | uint32_t{raw[i + 1]} << 8 | raw[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  out.resize(43);  // 256 bits = 42 full sextets + 4 bits; the padding sextet is dropped
  OPENSSL_cleanse(raw, sizeof(raw));
  return out;
}

size_t ApiKeyTable::DigestHash::operator()(const Sha256Digest& d) const noexcept {
  size_t h;
  std::memcpy(&h, d.data(), sizeof(h));
  return h;
}

void ApiKeyTable::add(const Sha256Digest& hash, std::string consumer) {
  by_digest_[hash] = std::move(consumer);
}

const std::string* ApiKeyTable::find(std::string_view presented_key) const {
  const Sha256Digest d = sha256(presented_key);
  auto it = by_digest_.find(d);
  if (it == by_digest_.end()) return nullptr;
  // The map already compared the digests with ==; the timing of that reveals at most how many
  // leading bytes of SHA-256(guess) match a stored digest, which says nothing about a key that
  // cannot be inverted from its digest. The constant-time re-check keeps the code safe should
  // the map ever be swapped for one that compares raw secrets.
  if (CRYPTO_memcmp(it->first.data(), d.data(), d.size()) != 0) return nullptr;
  return &it->second;
}

}  // namespace sluice::auth
