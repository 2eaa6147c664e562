// Parser's sections for who a caller can be: consumers with their API keys, HMAC keys and
// certificate subjects, and JWT providers with the keys that verify their tokens.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/api_key.h"
#include "auth/jwk.h"
#include "auth/jwks_fetcher.h"
#include "auth/jwt.h"
#include "config/config.h"
#include "config/parser.h"
#include "config/reader.h"
#include "config/scalars.h"
#include "net/tls.h"

namespace sluice::config {

namespace {

constexpr size_t kMinHmacSecretBytes = 16;

constexpr std::string_view kJwtAlgorithms[] = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                               "RS512", "PS256", "PS384", "PS512", "ES256",
                                               "ES384", "ES512", "EdDSA"};

// Whether a public key can verify `alg` (RS and PS: RSA; ES256/384/512: the P-256/384/521
// curve; EdDSA: Ed25519), so that a key that could never verify a token fails the load.
bool alg_fits(const auth::Jwk& key, std::string_view alg) {
  using auth::Curve;
  using auth::KeyType;
  if (alg.starts_with("RS") || alg.starts_with("PS")) return key.kty() == KeyType::kRsa;
  if (alg == "ES256") return key.kty() == KeyType::kEc && key.curve() == Curve::kP256;
  if (alg == "ES384") return key.kty() == KeyType::kEc && key.curve() == Curve::kP384;
  if (alg == "ES512") return key.kty() == KeyType::kEc && key.curve() == Curve::kP521;
  if (alg == "EdDSA") return key.kty() == KeyType::kOkp;
  return false;
}

std::string key_kind(const auth::Jwk& key) {
  switch (key.kty()) {
    case auth::KeyType::kRsa:
      return "an RSA key";
    case auth::KeyType::kEc:
      return key.curve() == auth::Curve::kP256   ? "an EC P-256 key"
             : key.curve() == auth::Curve::kP384 ? "an EC P-384 key"
                                                 : "an EC P-521 key";
    case auth::KeyType::kOkp:
      return "an Ed25519 key";
    case auth::KeyType::kOct:
      break;
  }
  return "a secret";
}

}  // namespace

void Parser::parse_consumers(const Item& it, Config& cfg) {
  std::optional<std::vector<Item>> items = list(it);
  if (!items) return;
  for (const Item& e : *items) {
    std::optional<MapItem> m = map(e, {"name", "api_keys", "hmac_keys", "cert_subjects", "roles"});
    if (!m) continue;
    ConsumerConfig c;
    c.mark = e.mark;
    c.name = unique_name(*m, "name", "consumer name", consumer_names_, false);
    if (const Item* k = m->get("api_keys")) {
      for (const Item& h : list_or_one(*k)) {
        std::optional<std::string> s = string(h);
        if (!s) continue;
        auth::Sha256Digest digest{};
        if (!auth::parse_api_key_hash(*s, &digest)) {
          // Not echoed: a raw key pasted here by mistake must not reach the logs.
          error(h.mark, h.path,
                "expected an API key hash 'sha256:<64 hex digits>' (keys are stored hashed: "
                "sluice hash-key KEY prints the hash)");
          continue;
        }
        std::string canonical =
            std::string(auth::kApiKeyHashPrefix) + lower(s->substr(auth::kApiKeyHashPrefix.size()));
        if (auto [prev, inserted] = api_key_hashes_.emplace(canonical, h.mark); !inserted) {
          error(h.mark, h.path,
                "duplicate API key hash (first at " + where(prev->second, h.mark) + ")");
          continue;
        }
        c.api_key_hashes.push_back(std::move(canonical));
      }
    }
    if (const Item* h = m->get("hmac_keys")) parse_hmac_keys(*h, c);
    if (const Item* cs = m->get("cert_subjects")) {
      for (const Item& v : list_or_one(*cs)) {
        std::optional<std::string> subject = string(v);
        if (!subject) continue;
        if (subject->empty()) {
          error(v.mark, v.path, "a certificate subject such as 'CN=alice,O=Example'");
        } else if (auto [prev, inserted] = cert_subjects_.emplace(*subject, v.mark); !inserted) {
          error(v.mark, v.path,
                "subject " + quote(*subject) + " already names a consumer (" +
                    where(prev->second, v.mark) + ")");
        } else {
          c.cert_subjects.push_back(std::move(*subject));
        }
      }
    }
    if (const Item* r = m->get("roles")) c.roles = role_list(*r);
    cfg.consumers.push_back(std::move(c));
  }
}

void Parser::parse_hmac_keys(const Item& it, ConsumerConfig& c) {
  std::optional<std::vector<Item>> items = list(it);
  if (!items) return;
  for (const Item& e : *items) {
    std::optional<MapItem> m = map(e, {"key_id", "secret", "secret_file"});
    if (!m) continue;
    ConsumerConfig::HmacKey key;
    key.key_id = unique_name(*m, "key_id", "key_id", hmac_key_ids_, false);
    const Item* inline_secret = m->get("secret");
    const Item* file = m->get("secret_file");
    if ((inline_secret == nullptr) == (file == nullptr)) {
      error(e.mark, e.path, "an HMAC key needs exactly one of 'secret' or 'secret_file'");
      continue;
    }
    std::optional<std::string> secret;
    if (inline_secret) {
      secret = string(*inline_secret);
    } else if (std::optional<std::string> path = string(*file)) {
      secret = read_small_file(*file, *path);
      // The newline an editor or `echo` leaves at the end is not part of the secret.
      if (secret && secret->ends_with('\n')) {
        secret->pop_back();
        if (secret->ends_with('\r')) secret->pop_back();
      }
    }
    if (!secret) continue;
    const Item& at = inline_secret ? *inline_secret : *file;
    // The secret itself is never echoed into a message.
    if (secret->size() < kMinHmacSecretBytes) {
      error(at.mark, at.path,
            "secret must be at least " + std::to_string(kMinHmacSecretBytes) + " bytes long, got " +
                std::to_string(secret->size()));
      continue;
    }
    key.secret = std::move(*secret);
    c.hmac_keys.push_back(std::move(key));
  }
}

void Parser::parse_jwt_providers(const Item& it, Config& cfg) {
  std::optional<std::vector<Item>> items = list(it);
  if (!items) return;
  for (const Item& e : *items) {
    std::optional<MapItem> m =
        map(e, {"name", "issuer", "issuers", "audience", "audiences", "algorithms", "jwks_url",
                "jwks_ca_file", "jwks_refresh", "jwks_min_refresh", "keys", "clock_skew",
                "require_exp", "required_claims", "roles_claim", "from", "forward_claims"});
    if (!m) continue;
    JwtProviderConfig p;
    p.mark = e.mark;
    p.name = unique_name(*m, "name", "provider name", jwt_provider_names_, true);
    p.issuers = one_or_many(*m, "issuer", "issuers");
    p.audiences = one_or_many(*m, "audience", "audiences");
    if (const Item* a = m->get("algorithms")) {
      for (const Item& e2 : list_or_one(*a)) {
        std::optional<std::string> alg = string(e2);
        if (!alg || !jwt_algorithm(e2, *alg)) continue;
        if (std::find(p.algorithms.begin(), p.algorithms.end(), *alg) == p.algorithms.end()) {
          p.algorithms.push_back(std::move(*alg));
        }
      }
    }
    const Item* url = m->get("jwks_url");
    bool https = false;
    if (url) {
      if (std::optional<std::string> s = string(*url)) {
        std::string host;
        std::string path;
        std::string why;
        uint16_t port = 0;
        if (auth::parse_jwks_url(*s, &host, &port, &path, &why, &https)) {
          p.jwks_url = std::move(*s);
        } else {
          error(url->mark, url->path, "invalid jwks_url " + quote(*s) + ": " + why);
        }
      }
    }
    if (const Item* v = m->get("jwks_ca_file")) {
      if (std::optional<std::string> f = string(*v)) {
        if (!https) {
          // (An invalid jwks_url has its own error.)
          if (!url || !p.jwks_url.empty()) {
            error(v->mark, v->path, "jwks_ca_file needs an https:// jwks_url");
          }
        } else {
          // Checked now, as the fetcher will load it: a missing or bad file is this key's error.
          net::TlsClientOptions o;
          o.ca_file = *f;
          std::vector<net::TlsError> errors;
          if (!net::TlsClientContext::create(o, &errors)) {
            error(v->mark, v->path,
                  errors.empty() ? std::string("cannot load ") + quote(*f) : errors[0].message);
          }
          p.jwks_ca_file = std::move(*f);
        }
      }
    }
    if (const Item* v = m->get("jwks_refresh")) {
      if (auto d = duration(*v)) p.jwks_refresh_ms = *d;
    }
    if (const Item* v = m->get("jwks_min_refresh")) {
      if (auto d = duration(*v)) p.jwks_min_refresh_ms = *d;
    }
    const Item* keys = m->get("keys");
    if (keys) parse_jwt_keys(*keys, p);
    const bool keys_listed =
        keys && !keys->node.is_null() && !(keys->node.is_sequence() && keys->node.size() == 0);
    if (!url && !keys_listed) {
      error(e.mark, e.path, "a JWT provider needs 'keys' or 'jwks_url' (or both) to verify tokens");
    }
    if (const Item* v = m->get("clock_skew")) {
      if (auto s = seconds(*v, /*allow_zero=*/true)) p.clock_skew_s = *s;
    }
    if (const Item* v = m->get("require_exp")) {
      if (auto b = boolean(*v)) p.require_exp = *b;
    }
    if (const Item* v = m->get("required_claims")) p.required_claims = unique_strings(*v);
    if (const Item* v = m->get("roles_claim")) {
      if (std::optional<std::string> s = string(*v)) {
        if (s->empty()) {
          error(v->mark, v->path, "must not be empty");
        } else {
          p.roles_claim = std::move(*s);
        }
      }
    }
    if (const Item* v = m->get("from")) {
      const std::vector<Item> sources = list_or_one(*v);
      if (sources.empty() && (v->node.is_null() || v->node.is_sequence())) {
        error(v->mark, v->path, "at least one token source is needed (default: [bearer])");
      }
      std::vector<TokenSource> from;
      for (const Item& s : sources) {
        if (std::optional<TokenSource> ts = token_source(s)) from.push_back(std::move(*ts));
      }
      if (!from.empty()) p.from = std::move(from);
    }
    if (const Item* v = m->get("forward_claims")) {
      p.forward_claims = headers(*v);
      for (const auto& [name, claim] : p.forward_claims) {
        if (claim.empty()) error(v->mark, join(v->path, name), "claim name must not be empty");
        if (name == "host" || name == "content-length" || name == "transfer-encoding" ||
            name == "connection" || name == "keep-alive" || name == "upgrade" || name == "te" ||
            name == "trailer" || name == "authorization" || name == "cookie") {
          error(v->mark, join(v->path, name), "header " + quote(name) + " cannot carry a claim");
        }
      }
    }
    cfg.jwt_providers.push_back(std::move(p));
  }
}

void Parser::parse_jwt_keys(const Item& it, JwtProviderConfig& p) {
  std::optional<std::vector<Item>> items = list(it);
  if (!items) return;
  auth::KeySet probe;
  std::map<std::string, Mark> kids;
  for (const Item& e : *items) {
    std::optional<MapItem> m = map(e, {"pem_file", "secret", "kid", "alg"});
    if (!m) continue;
    JwtProviderConfig::Key key;
    bool ok = true;
    if (const Item* v = m->get("kid")) {
      if (std::optional<std::string> kid = string(*v)) {
        if (kid->empty() || kid->size() > auth::kMaxKidBytes) {
          error(v->mark, v->path,
                "kid must be 1 to " + std::to_string(auth::kMaxKidBytes) + " bytes long");
          ok = false;
        } else if (auto [prev, inserted] = kids.emplace(*kid, v->mark); !inserted) {
          error(v->mark, v->path,
                "duplicate kid " + quote(*kid) + " in this provider (first at line " +
                    std::to_string(prev->second.line) + ")");
          ok = false;
        }
        key.kid = std::move(*kid);
      } else {
        ok = false;
      }
    }
    const Item* alg = m->get("alg");
    if (alg) {
      std::optional<std::string> a = string(*alg);
      ok = ok && a && jwt_algorithm(*alg, *a);
      if (a) key.alg = std::move(*a);
    }
    const Item* pem = m->get("pem_file");
    const Item* secret = m->get("secret");
    if ((pem == nullptr) == (secret == nullptr)) {
      error(e.mark, e.path, "a key needs exactly one of 'pem_file' or 'secret'");
      continue;
    }
    if (!ok) continue;
    std::string why;
    if (pem) {
      std::optional<std::string> path = string(*pem);
      if (!path) continue;
      std::optional<std::string> text = read_small_file(*pem, *path);
      if (!text) continue;
      if (!probe.add_pem(*text, key.kid, key.alg, &why)) {
        error(pem->mark, pem->path, quote(*path) + ": " + why);
        continue;
      }
      if (!key.alg.empty() && !alg_fits(probe.keys().back(), key.alg)) {
        error(alg->mark, alg->path,
              "alg " + quote(key.alg) + " does not fit the key in " + quote(*path) + " (" +
                  key_kind(probe.keys().back()) + ")");
        continue;
      }
      key.pem = std::move(*text);
    } else {
      std::optional<std::string> s = string(*secret);
      if (!s) continue;
      if (!key.alg.empty() && !key.alg.starts_with("HS")) {
        error(alg->mark, alg->path,
              "a secret is a key for HS256, HS384 or HS512, not " + quote(key.alg));
        continue;
      }
      // `why` never holds the secret.
      if (!probe.add_hmac_secret(*s, false, key.kid, key.alg, &why)) {
        error(secret->mark, secret->path, why);
        continue;
      }
      key.secret = std::move(*s);
    }
    p.keys.push_back(std::move(key));
  }
}

std::vector<std::string> Parser::one_or_many(const MapItem& m, std::string_view one,
                                             std::string_view many) {
  const Item* a = m.get(one);
  const Item* b = m.get(many);
  if (a && b) {
    error(b->mark, b->path,
          "give '" + std::string(one) + "' or '" + std::string(many) + "', not both");
  }
  const Item* v = a ? a : b;
  return v ? unique_strings(*v) : std::vector<std::string>{};
}

bool Parser::jwt_algorithm(const Item& it, const std::string& alg) {
  if (lower(alg) == "none") {
    error(it.mark, it.path, "the algorithm 'none' (unsigned tokens) cannot be allowed");
    return false;
  }
  if (!auth::jwt_algorithm_supported(alg)) {
    std::string msg = "unsupported JWT algorithm " + quote(alg);
    const std::string_view best = suggest(alg, kJwtAlgorithms);
    if (!best.empty()) {
      msg += " (did you mean '" + std::string(best) + "'?)";
    } else {
      msg += " (supported: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA)";
    }
    error(it.mark, it.path, std::move(msg));
    return false;
  }
  return true;
}

std::optional<TokenSource> Parser::token_source(const Item& it) {
  const std::optional<std::string> s = string(it);
  if (!s) return std::nullopt;
  const std::string_view text = *s;
  if (text == "bearer") return TokenSource{};
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view name =
      colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  const std::string bad = "invalid token source " + quote(text) + ": ";
  TokenSource ts;
  if (kind == "header") {
    ts.kind = TokenSource::Kind::kHeader;
  } else if (kind == "cookie") {
    ts.kind = TokenSource::Kind::kCookie;
  } else if (kind == "query") {
    ts.kind = TokenSource::Kind::kQuery;
  } else {
    error(it.mark, it.path, bad + "expected bearer, header:NAME, cookie:NAME or query:NAME");
    return std::nullopt;
  }
  if (name.empty()) {
    error(it.mark, it.path, bad + "missing name after '" + std::string(kind) + ":'");
    return std::nullopt;
  }
  const bool ok = kind == "query" ? is_query_name(name) : is_token(name);
  if (!ok) {
    error(it.mark, it.path, bad + quote(name) + " is not a valid " + std::string(kind) + " name");
    return std::nullopt;
  }
  ts.name = kind == "header" ? lower(std::string(name)) : std::string(name);
  return ts;
}

}  // namespace sluice::config
