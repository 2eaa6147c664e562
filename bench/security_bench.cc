// Micro-benchmarks of the edge-security building blocks, each the per-request cost a filter adds:
// API-key lookup (one SHA-256 + map probe) in a table of 10k keys, HMAC verification of a small
// request (canonical string + MAC + constant-time compare), nonce insertion (one and two threads
// on one shared cache), CIDR membership in 1k-rule IPv4 and IPv6 sets, and CORS origin matching.
#include <benchmark/benchmark.h>

#include <arpa/inet.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "auth/api_key.h"
#include "auth/cidr.h"
#include "auth/cors.h"
#include "auth/hmac_signature.h"
#include "auth/nonce_cache.h"

namespace {

using namespace sluice::auth;

void BM_ApiKeyLookup(benchmark::State& state) {
  ApiKeyTable table;
  std::vector<std::string> keys;
  for (int i = 0; i < 10000; ++i) {
    keys.push_back(generate_api_key());
    table.add(sha256(keys.back()), "consumer-" + std::to_string(i));
  }
  const bool hit = state.range(0) != 0;
  const std::string miss = generate_api_key();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.find(hit ? keys[i++ % keys.size()] : miss));
  }
}
BENCHMARK(BM_ApiKeyLookup)->Arg(1)->Arg(0)->ArgName("hit");

void BM_HmacVerify(benchmark::State& state) {
  const std::string secret = "a-32-byte-secret-for-this-bench!";
  const std::string date = "1700000000";
  const std::string nonce = "Zm9vYmFyYmF6cXV4";
  const std::string canon =
      canonical_string("POST", "/v1/payments", "dry_run=1",
                       {{"host", "api.example.com"}, {"content-type", "application/json"}}, date,
                       nonce, kEmptyBodySha256);
  const std::string sig = sign_canonical(secret, canon);
  for (auto _ : state) {
    const std::string c =
        canonical_string("POST", "/v1/payments", "dry_run=1",
                         {{"host", "api.example.com"}, {"content-type", "application/json"}}, date,
                         nonce, kEmptyBodySha256);
    benchmark::DoNotOptimize(verify_signature(secret, c, sig));
  }
}
BENCHMARK(BM_HmacVerify);

void BM_ParseSignatureHeader(benchmark::State& state) {
  const std::string auth =
      "SLUICE-HMAC-SHA256 keyId=\"billing\", signedHeaders=\"host;content-type\", "
      "nonce=\"Zm9vYmFyYmF6cXV4\", signature=\"W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=\"";
  for (auto _ : state) {
    SignatureHeader sh;
    benchmark::DoNotOptimize(parse_signature_header(auth, &sh, nullptr));
  }
}
BENCHMARK(BM_ParseSignatureHeader);

void BM_BodyDigest1KiB(benchmark::State& state) {
  const std::string body(1024, 'x');
  for (auto _ : state) {
    BodyDigest d;
    d.update(body);
    benchmark::DoNotOptimize(d.hex());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 1024);
}
BENCHMARK(BM_BodyDigest1KiB);

NonceCache& shared_nonce_cache() {
  static NonceCache c(1 << 20);
  return c;
}

// Distinct nonces, the common case; the clock advances so entries expire and memory stays
// bounded as in steady state (ttl 600 s, 1000 requests per simulated second per thread).
void BM_NonceInsert(benchmark::State& state) {
  NonceCache& c = shared_nonce_cache();
  std::string nonce = "nonce-t" + std::to_string(state.thread_index()) + "-";
  const size_t base = nonce.size();
  uint64_t i = 0;
  for (auto _ : state) {
    nonce.resize(base);
    nonce += std::to_string(i);
    benchmark::DoNotOptimize(
        c.insert_if_new("client-1", nonce, 1000000 + i / 1000, state.range(0)));
    ++i;
  }
}
BENCHMARK(BM_NonceInsert)->Arg(10)->Arg(600)->ArgName("ttl")->Threads(1)->Threads(2);

CidrSet random_set(bool v6, int rules, std::mt19937_64& rng) {
  CidrSet s;
  for (int i = 0; i < rules; ++i) {
    char buf[INET6_ADDRSTRLEN];
    if (v6) {
      uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
      for (int j = 4; j < 16; ++j) b[j] = static_cast<uint8_t>(rng());
      inet_ntop(AF_INET6, b, buf, sizeof(buf));
      s.add(std::string(buf) + "/" + std::to_string(48 + rng() % 17), nullptr);
    } else {
      const uint32_t a = htonl(static_cast<uint32_t>(rng()));
      inet_ntop(AF_INET, &a, buf, sizeof(buf));
      s.add(std::string(buf) + "/" + std::to_string(16 + rng() % 17), nullptr);
    }
  }
  return s;
}

void BM_CidrContains(benchmark::State& state) {
  const bool v6 = state.range(0) != 0;
  std::mt19937_64 rng(7);
  const CidrSet s = random_set(v6, 1000, rng);
  std::vector<IpAddress> probes;
  for (int i = 0; i < 4096; ++i) {
    probes.push_back(v6 ? IpAddress::v6(0x20010db800000000ULL | (rng() >> 32), rng())
                        : IpAddress::v4(static_cast<uint32_t>(rng())));
  }
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(s.contains(probes[i++ & 4095]));
}
BENCHMARK(BM_CidrContains)->Arg(0)->Arg(1)->ArgName("v6");

void BM_CidrContainsText(benchmark::State& state) {
  std::mt19937_64 rng(7);
  const CidrSet s = random_set(false, 1000, rng);
  for (auto _ : state) benchmark::DoNotOptimize(s.contains(std::string_view("203.0.113.77")));
}
BENCHMARK(BM_CidrContainsText);

void BM_ForwardedFor(benchmark::State& state) {
  CidrSet trusted;
  trusted.add("10.0.0.0/8", nullptr);
  const std::vector<std::string_view> xff = {"198.51.100.7, 203.0.113.5, 10.0.0.2, 10.0.0.3"};
  for (auto _ : state) {
    IpAddress ip;
    benchmark::DoNotOptimize(client_ip_from_forwarded_for(xff, trusted, &ip));
  }
}
BENCHMARK(BM_ForwardedFor);

void BM_CorsOriginMatch(benchmark::State& state) {
  CorsConfig c;
  c.origins = {"https://app.example.org", "https://admin.example.org", "https://*.example.com"};
  c.methods = {"GET", "POST"};
  c.allowed_headers = {"content-type", "authorization"};
  const CorsPolicy p = *CorsPolicy::compile(c, nullptr);
  const std::string_view origin =
      state.range(0) == 0 ? "https://admin.example.org" : "https://tenant-42.eu.example.com";
  for (auto _ : state) benchmark::DoNotOptimize(p.origin_allowed(origin));
}
BENCHMARK(BM_CorsOriginMatch)->Arg(0)->Arg(1)->ArgName("pattern");

void BM_CorsPreflight(benchmark::State& state) {
  CorsConfig c;
  c.origins = {"https://*.example.com"};
  c.methods = {"GET", "POST"};
  c.allowed_headers = {"content-type", "authorization"};
  c.max_age_s = 600;
  const CorsPolicy p = *CorsPolicy::compile(c, nullptr);
  std::string out;
  out.reserve(512);
  for (auto _ : state) {
    out.clear();
    int status = 0;
    p.preflight_response("https://app.example.com", "POST", "content-type, authorization", out,
                         &status);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_CorsPreflight);

}  // namespace
