#include "balance/balancer.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <bit>
#include <cstring>

#include "balance/algorithms.h"

namespace sluice::balance {

namespace {

constexpr std::array<std::string_view, 6> kNames = {
    "round_robin", "weighted_round_robin", "least_connections", "p2c", "consistent_hash", "random",
};

// ---- hash_key: wyhash-style (64x64->128 multiply, fold the halves). Fixed constants, no
// per-process seed, so a key maps to the same target in every worker, process and release.
constexpr uint64_t kP0 = 0xa0761d6478bd642fULL;
constexpr uint64_t kP1 = 0xe7037ed1a0b428dbULL;
constexpr uint64_t kP2 = 0x8ebc6af09c88c6e3ULL;
constexpr uint64_t kP3 = 0x589965cc75374cc3ULL;

inline uint64_t mum(uint64_t a, uint64_t b) {
  unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
// Little-endian loads, so the hash is the same on every host.
inline uint64_t r8(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}
inline uint64_t r4(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}
inline uint64_t r3(const unsigned char* p, size_t k) {
  return static_cast<uint64_t>(p[0]) << 16 | static_cast<uint64_t>(p[k >> 1]) << 8 | p[k - 1];
}

uint64_t wyhash(const unsigned char* p, size_t len, uint64_t seed) {
  seed ^= mum(seed ^ kP0, kP1);
  uint64_t a = 0;
  uint64_t b = 0;
  if (len <= 16) {
    if (len >= 4) {
      size_t q = (len >> 3) << 2;
      a = (r4(p) << 32) | r4(p + q);
      b = (r4(p + len - 4) << 32) | r4(p + len - 4 - q);
    } else if (len > 0) {
      a = r3(p, len);
    }
  } else {
    size_t i = len;
    if (i > 48) {
      uint64_t see1 = seed;
      uint64_t see2 = seed;
      do {
        seed = mum(r8(p) ^ kP1, r8(p + 8) ^ seed);
        see1 = mum(r8(p + 16) ^ kP2, r8(p + 24) ^ see1);
        see2 = mum(r8(p + 32) ^ kP3, r8(p + 40) ^ see2);
        p += 48;
        i -= 48;
      } while (i > 48);
      seed ^= see1 ^ see2;
    }
    while (i > 16) {
      seed = mum(r8(p) ^ kP1, r8(p + 8) ^ seed);
      i -= 16;
      p += 16;
    }
    a = r8(p + i - 16);
    b = r8(p + i - 8);
  }
  return mum(kP1 ^ len, mum(a ^ kP1, b ^ seed));
}

// ---- sticky cookies
constexpr size_t kSigHexLen = 32;  // first 16 bytes of the HMAC-SHA256

// OpenSSL 3's one-shot HMAC() looks the digest up and builds fresh contexts on every call (about
// 1 us). Each thread instead keeps one HMAC context with SHA-256 bound, keyed with the secret of
// its last call; the same secret again only resets it.
class ThreadHmac {
 public:
  ThreadHmac() = default;
  ThreadHmac(const ThreadHmac&) = delete;
  ThreadHmac& operator=(const ThreadHmac&) = delete;
  ~ThreadHmac() {
    EVP_MAC_CTX_free(ctx_);
    EVP_MAC_free(mac_);
    if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
  }

  // out receives the 32-byte HMAC-SHA256; false if OpenSSL fails.
  bool compute(std::string_view secret, std::string_view data, unsigned char* out) {
    if (ctx_ == nullptr && !setup()) return false;
    static const unsigned char kEmpty = 0;  // OpenSSL wants non-null pointers even when empty
    const unsigned char* key = nullptr;     // null: re-use the key already set
    if (!keyed_ || secret != secret_) {
      keyed_ = false;
      if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
      secret_.assign(secret);
      key = secret.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(secret.data());
    }
    size_t out_len = 0;
    if (EVP_MAC_init(ctx_, key, secret.size(), nullptr) != 1) return false;
    keyed_ = true;
    const unsigned char* d =
        data.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(data.data());
    return EVP_MAC_update(ctx_, d, data.size()) == 1 &&
           EVP_MAC_final(ctx_, out, &out_len, 32) == 1 && out_len == 32;
  }

 private:
  bool setup() {
    if (mac_ == nullptr) mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac_ == nullptr) return false;
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac_);
    if (ctx == nullptr) return false;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
      EVP_MAC_CTX_free(ctx);
      return false;
    }
    ctx_ = ctx;
    return true;
  }

  EVP_MAC* mac_ = nullptr;
  EVP_MAC_CTX* ctx_ = nullptr;
  bool keyed_ = false;
  std::string secret_;
};

// Lower-case hex of the first 16 bytes of HMAC-SHA256(secret, key) into out (kSigHexLen chars).
bool sticky_signature(std::string_view key, std::string_view secret, char* out) {
  thread_local ThreadHmac hmac;
  unsigned char mac[32];
  if (!hmac.compute(secret, key, mac)) return false;
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < kSigHexLen / 2; ++i) {
    out[2 * i] = kHex[mac[i] >> 4];
    out[2 * i + 1] = kHex[mac[i] & 0xf];
  }
  return true;
}

}  // namespace

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Algorithm>(i);
  }
  return std::nullopt;
}

std::string_view algorithm_name(Algorithm a) {
  size_t i = static_cast<size_t>(a);
  return i < kNames.size() ? kNames[i] : std::string_view("unknown");
}

std::unique_ptr<Balancer> make_balancer(Algorithm algorithm, std::span<const Endpoint> endpoints,
                                        uint64_t seed) {
  switch (algorithm) {
    case Algorithm::kRoundRobin:
      return make_round_robin(endpoints, seed);
    case Algorithm::kWeightedRoundRobin:
      return make_weighted_round_robin(endpoints);
    case Algorithm::kLeastConnections:
      return make_least_connections(endpoints, seed);
    case Algorithm::kP2C:
      return make_p2c(endpoints, seed);
    case Algorithm::kConsistentHash:
      return make_consistent_hash(endpoints);
    case Algorithm::kRandom:
      return make_random(endpoints, seed);
  }
  return make_round_robin(endpoints, seed);
}

uint64_t hash_key(std::string_view key) {
  return hash_key_seeded(key, 0);
}

uint64_t hash_key_seeded(std::string_view key, uint64_t seed) {
  return wyhash(reinterpret_cast<const unsigned char*>(key.data()), key.size(), seed);
}

std::string sign_sticky(std::string_view target_key, std::string_view secret) {
  std::string out;
  out.reserve(target_key.size() + 1 + kSigHexLen);
  out.append(target_key);
  out.push_back('.');
  char sig[kSigHexLen];
  if (!sticky_signature(target_key, secret, sig)) return {};
  out.append(sig, kSigHexLen);
  return out;
}

std::optional<std::string_view> verify_sticky(std::string_view cookie_value,
                                              std::string_view secret) {
  size_t dot = cookie_value.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::string_view key = cookie_value.substr(0, dot);
  std::string_view sig = cookie_value.substr(dot + 1);
  if (sig.size() != kSigHexLen) return std::nullopt;
  char expected[kSigHexLen];
  if (!sticky_signature(key, secret, expected)) return std::nullopt;
  if (CRYPTO_memcmp(expected, sig.data(), kSigHexLen) != 0) return std::nullopt;
  return key;
}

}  // namespace sluice::balance
