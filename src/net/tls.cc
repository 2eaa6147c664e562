#include "net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace sluice::net {
namespace {

// Partial writes let a large Buffer go out record by record; the buffer may move between a
// blocked write and its retry (it is appended to and reallocated); idle connections give their
// 34 KiB of record buffers back.
constexpr long kModes =
    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS;

std::string openssl_error(std::string_view fallback) {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return std::string(fallback);
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  // "error:0A00018E:SSL routines::ca md too weak": keep the words after the last ':'.
  std::string_view s(buf);
  size_t colon = s.rfind(':');
  if (colon != std::string_view::npos && colon + 1 < s.size()) s = s.substr(colon + 1);
  return std::string(s);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

bool is_ip(std::string_view host) {
  std::string h(host);
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, h.c_str(), &a4) == 1 || inet_pton(AF_INET6, h.c_str(), &a6) == 1;
}

// The DNS names a certificate is for: its SAN dNSNames, or its subject CN when it has none.
std::vector<std::string> certificate_names(X509* cert) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type != GEN_DNS) continue;
      const ASN1_STRING* s = g->d.dNSName;
      names.push_back(
          lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                 static_cast<size_t>(ASN1_STRING_length(s)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
    if (n > 0) names.push_back(lower(std::string_view(cn, static_cast<size_t>(n))));
  }
  return names;
}

bool build_alpn(const std::vector<std::string>& protos, std::string* wire) {
  wire->clear();
  for (const std::string& p : protos) {
    if (p.empty() || p.size() > 255) return false;
    wire->push_back(static_cast<char>(p.size()));
    wire->append(p);
  }
  return true;
}

}  // namespace

int tls_version_from_text(std::string_view text) {
  if (text == "1.2") return TLS1_2_VERSION;
  if (text == "1.3") return TLS1_3_VERSION;
  return 0;
}

// --- server ---------------------------------------------------------------------------------

std::shared_ptr<TlsServerContext> TlsServerContext::create(const TlsServerOptions& options,
                                                           std::vector<TlsError>* errors) {
  const size_t errors_before = errors->size();
  std::shared_ptr<TlsServerContext> c(new TlsServerContext());
  ERR_clear_error();
  c->ctx_ = SSL_CTX_new(TLS_server_method());
  if (c->ctx_ == nullptr) {
    errors->push_back({"", "cannot create a TLS context: " + openssl_error("out of memory")});
    return nullptr;
  }
  SSL_CTX* ctx = c->ctx_;
  SSL_CTX_set_min_proto_version(ctx, options.min_version);
  // Renegotiation is a DoS lever and HTTP/1.1 does not need it; a peer that closes without
  // close_notify ends the stream like a TCP EOF (HTTP framing catches truncation).
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, kModes);
  // Session resumption (tickets, on by default) must stay valid across the SNI switch and
  // client-certificate checks: one id context per listener context.
  static constexpr unsigned char kSidCtx[] = "sluice";
  SSL_CTX_set_session_id_context(ctx, kSidCtx, sizeof(kSidCtx) - 1);
  if (!options.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, options.ciphers.c_str()) != 1) {
    errors->push_back({"ciphers", "no usable cipher in '" + options.ciphers +
                                      "': " + openssl_error("invalid cipher list")});
  }
  if (!options.ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(ctx, options.ciphersuites.c_str()) != 1) {
    errors->push_back({"ciphersuites", "invalid TLS 1.3 cipher suites '" + options.ciphersuites +
                                           "': " + openssl_error("invalid cipher suites")});
  }
  if (!build_alpn(options.alpn, &c->alpn_wire_)) {
    errors->push_back({"alpn", "protocol names are 1 to 255 bytes"});
  }
  for (size_t i = 0; i < options.certificates.size(); ++i) {
    const TlsCertificate& tc = options.certificates[i];
    const std::string at = "certificates[" + std::to_string(i) + "]";
    Identity id;
    BIO* bio = BIO_new_file(tc.cert.c_str(), "r");
    if (bio == nullptr) {
      errors->push_back(
          {at + ".cert", "cannot read '" + tc.cert + "': " + openssl_error("no such file")});
      continue;
    }
    id.cert = PEM_read_bio_X509_AUX(bio, nullptr, nullptr, nullptr);
    if (id.cert == nullptr) {
      BIO_free(bio);
      errors->push_back({at + ".cert", "no PEM certificate in '" + tc.cert +
                                           "': " + openssl_error("no certificate")});
      continue;
    }
    while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      id.chain.push_back(extra);
    }
    ERR_clear_error();  // the loop ends on "no start line"
    BIO_free(bio);
    c->identities_.push_back(id);  // owned from here (freed by the destructor)
    Identity& own = c->identities_.back();
    bio = BIO_new_file(tc.key.c_str(), "r");
    if (bio == nullptr) {
      errors->push_back(
          {at + ".key", "cannot read '" + tc.key + "': " + openssl_error("no such file")});
      continue;
    }
    own.key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (own.key == nullptr) {
      errors->push_back(
          {at + ".key", "no PEM private key in '" + tc.key + "': " + openssl_error("no key")});
      continue;
    }
    if (X509_check_private_key(own.cert, own.key) != 1) {
      ERR_clear_error();
      errors->push_back({at + ".key", "'" + tc.key + "' is not the key of '" + tc.cert + "'"});
      continue;
    }
    const size_t index = c->identities_.size() - 1;
    std::vector<std::string> names;
    for (const std::string& n : tc.server_names) names.push_back(lower(n));
    if (names.empty()) names = certificate_names(own.cert);
    for (const std::string& n : names) {
      // The first certificate that names a host wins, like the order of the list.
      if (n.size() > 2 && n[0] == '*' && n[1] == '.') {
        c->wildcard_.emplace(n.substr(2), index);
      } else {
        c->exact_.emplace(n, index);
      }
    }
    c->names_.push_back(std::move(names));
  }
  if (options.certificates.empty()) {
    errors->push_back({"certificates", "at least one certificate is required"});
  }
  if (errors->size() != errors_before) return nullptr;
  const Identity& def = c->identities_[0];
  if (SSL_CTX_use_certificate(ctx, def.cert) != 1 || SSL_CTX_use_PrivateKey(ctx, def.key) != 1) {
    errors->push_back({"certificates[0]", openssl_error("certificate not usable")});
    return nullptr;
  }
  for (X509* x : def.chain) SSL_CTX_add1_chain_cert(ctx, x);
  if (!options.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options.client_ca.c_str(), nullptr) != 1) {
      errors->push_back({"client_ca", "cannot load CA certificates from '" + options.client_ca +
                                          "': " + openssl_error("no certificates")});
      return nullptr;
    }
    STACK_OF(X509_NAME)* cas = SSL_load_client_CA_file(options.client_ca.c_str());
    if (cas != nullptr) SSL_CTX_set_client_CA_list(ctx, cas);
    ERR_clear_error();
    SSL_CTX_set_verify(
        ctx, SSL_VERIFY_PEER | (options.require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        nullptr);
  }
  if (c->identities_.size() > 1) {
    SSL_CTX_set_tlsext_servername_callback(ctx, &TlsServerContext::on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, c.get());
  }
  if (!c->alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(ctx, &TlsServerContext::on_alpn, c.get());
  return c;
}

TlsServerContext::~TlsServerContext() {
  for (Identity& id : identities_) {
    X509_free(id.cert);
    EVP_PKEY_free(id.key);
    for (X509* x : id.chain) X509_free(x);
  }
  SSL_CTX_free(ctx_);
}

const TlsServerContext::Identity* TlsServerContext::identity_for(std::string_view name) const {
  if (name.empty()) return nullptr;
  char buf[256];
  if (name.size() >= sizeof(buf)) return nullptr;
  for (size_t i = 0; i < name.size(); ++i) {
    char ch = name[i];
    buf[i] = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch;
  }
  std::string key(buf, name.size());
  auto e = exact_.find(key);
  if (e != exact_.end()) return &identities_[e->second];
  size_t dot = key.find('.');
  if (dot != std::string::npos) {
    auto w = wildcard_.find(key.substr(dot + 1));
    if (w != wildcard_.end()) return &identities_[w->second];
  }
  return nullptr;
}

int TlsServerContext::on_servername(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* self = static_cast<const TlsServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const Identity* id = name != nullptr ? self->identity_for(name) : nullptr;
  // The default certificate is the context's already; only another one is installed.
  if (id == nullptr || id == &self->identities_[0]) return SSL_TLSEXT_ERR_OK;
  STACK_OF(X509)* chain = sk_X509_new_null();
  for (X509* x : id->chain) sk_X509_push(chain, x);
  int ok = SSL_use_cert_and_key(ssl, id->cert, id->key, chain, 1);
  sk_X509_free(chain);  // SSL_use_cert_and_key took its own references
  return ok == 1 ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_ALERT_FATAL;
}

int TlsServerContext::on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                              const unsigned char* in, unsigned int inlen, void* arg) {
  const auto* self = static_cast<const TlsServerContext*>(arg);
  unsigned char* selected = nullptr;
  // Ours first: our preference order decides (h2 before http/1.1 once h2 exists).
  int r = SSL_select_next_proto(&selected, outlen,
                                reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
                                static_cast<unsigned int>(self->alpn_wire_.size()), in, inlen);
  if (r != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;  // go on without ALPN
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

SSL* TlsServerContext::new_ssl(int fd) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  SSL_set_fd(ssl, fd);
  SSL_set_accept_state(ssl);
  return ssl;
}

std::unique_ptr<TlsStream> TlsServerContext::new_stream(int fd) const {
  SSL* ssl = new_ssl(fd);
  if (ssl == nullptr) return nullptr;
  return std::make_unique<TlsStream>(ssl, shared_from_this());
}

// --- client ---------------------------------------------------------------------------------

std::shared_ptr<TlsClientContext> TlsClientContext::create(const TlsClientOptions& options,
                                                           std::vector<TlsError>* errors) {
  std::shared_ptr<TlsClientContext> c(new TlsClientContext());
  ERR_clear_error();
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (c->ctx_ == nullptr) {
    errors->push_back({"", "cannot create a TLS context: " + openssl_error("out of memory")});
    return nullptr;
  }
  c->server_name_ = options.server_name;
  c->verify_ = options.verify;
  SSL_CTX* ctx = c->ctx_;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, kModes);
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
      errors->push_back({"ca_file", "cannot load CA certificates from '" + options.ca_file +
                                        "': " + openssl_error("no certificates")});
      return nullptr;
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx);
  }
  SSL_CTX_set_verify(ctx, options.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  std::string wire;
  if (!build_alpn(options.alpn, &wire)) {
    errors->push_back({"alpn", "protocol names are 1 to 255 bytes"});
    return nullptr;
  }
  if (!wire.empty()) {
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned int>(wire.size()));
  }
  return c;
}

TlsClientContext::~TlsClientContext() {
  SSL_CTX_free(ctx_);
}

SSL* TlsClientContext::new_ssl(int fd, std::string_view host) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  SSL_set_fd(ssl, fd);
  SSL_set_connect_state(ssl);
  const std::string name = server_name_.empty() ? std::string(host) : server_name_;
  if (is_ip(name)) {
    if (verify_) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
  } else if (!name.empty()) {
    SSL_set_tlsext_host_name(ssl, name.c_str());
    if (verify_) SSL_set1_host(ssl, name.c_str());
  }
  return ssl;
}

std::unique_ptr<TlsStream> TlsClientContext::new_stream(int fd, std::string_view host) const {
  SSL* ssl = new_ssl(fd, host);
  if (ssl == nullptr) return nullptr;
  return std::make_unique<TlsStream>(ssl, shared_from_this());
}

// --- stream ---------------------------------------------------------------------------------

TlsStream::~TlsStream() {
  SSL_free(ssl_);
}

bool TlsStream::settle(int ret, bool reading, core::ReadOutcome* r, bool* error) {
  const int e = SSL_get_error(ssl_, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      if (reading) {
        r->drained = true;
      } else {
        write_wants_read_ = true;
      }
      return true;
    case SSL_ERROR_WANT_WRITE:
      if (reading) read_wants_write_ = true;
      return true;
    case SSL_ERROR_ZERO_RETURN:
      r->eof = true;
      return true;
    case SSL_ERROR_SYSCALL:
      if (ret < 0 && errno == EINTR) return false;
      if (ERR_peek_error() == 0 && ret == 0) {
        r->eof = true;
        return true;
      }
      [[fallthrough]];
    default:
      failed_ = true;
      *error = true;
      error_text_ = openssl_error(e == SSL_ERROR_SYSCALL ? "connection reset" : "TLS error");
      return true;
  }
}

bool TlsStream::finish_handshake(bool reading, core::ReadOutcome* r, bool* error) {
  while (!done_) {
    ERR_clear_error();
    int ret = SSL_do_handshake(ssl_);
    if (ret == 1) {
      done_ = true;
      break;
    }
    if (settle(ret, reading, r, error)) {
      // A peer that closes in the middle of the handshake failed it.
      if (r->eof) {
        failed_ = true;
        if (error_text_.empty()) error_text_ = "closed during the handshake";
      }
      return false;
    }
  }
  return true;
}

core::ReadOutcome TlsStream::handshake() {
  core::ReadOutcome r;
  read_wants_write_ = false;
  bool error = false;
  if (failed_) {
    r.error = true;
    return r;
  }
  finish_handshake(true, &r, &error);
  r.error = error;
  return r;
}

core::ReadOutcome TlsStream::read_into(core::Buffer& in, core::BufferPool& pool, size_t limit) {
  constexpr size_t kChunk = core::BufferPool::kBlockSize;
  core::ReadOutcome r;
  read_wants_write_ = false;
  bool error = false;
  if (failed_) {
    r.error = true;
    return r;
  }
  if (!done_ && !finish_handshake(true, &r, &error)) {
    r.error = error || failed_;
    return r;
  }
  // Unlike a plain socket, a short read proves nothing (one record per SSL_read, more may sit
  // in OpenSSL's buffer): read until OpenSSL asks for the socket.
  while (in.size() < limit) {
    in.reserve(pool, kChunk);
    ERR_clear_error();
    int n =
        SSL_read(ssl_, in.write_ptr(), static_cast<int>(std::min<size_t>(in.writable(), INT_MAX)));
    if (n > 0) {
      in.commit(static_cast<size_t>(n));
      r.bytes += static_cast<size_t>(n);
      continue;
    }
    if (settle(n, true, &r, &error)) break;
  }
  r.error = error;
  if (in.empty()) in.release(pool);
  return r;
}

core::WriteOutcome TlsStream::write_from(core::Buffer& out, core::BufferPool& pool) {
  core::WriteOutcome w;
  write_wants_read_ = false;
  if (failed_) {
    w.error = true;
    return w;
  }
  core::ReadOutcome r;
  bool error = false;
  if (!done_ && !finish_handshake(false, &r, &error)) {
    w.error = error || failed_;
    w.blocked = !w.error;
    return w;
  }
  while (!out.empty()) {
    ERR_clear_error();
    int n = SSL_write(ssl_, out.data(), static_cast<int>(std::min<size_t>(out.size(), INT_MAX)));
    if (n > 0) {
      out.consume(static_cast<size_t>(n));
      w.bytes += static_cast<size_t>(n);
      continue;
    }
    if (!settle(n, false, &r, &error)) continue;
    if (error || r.eof) {
      w.error = true;
    } else {
      w.blocked = true;
    }
    break;
  }
  if (out.empty()) out.release(pool);
  return w;
}

void TlsStream::shutdown() {
  if (shut_ || !done_ || failed_) return;
  shut_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // sends close_notify; the peer's is not waited for
  ERR_clear_error();
}

std::string TlsStream::peer_subject() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(std::max(0L, len)));
  BIO_free(bio);
  return s;
}

bool TlsStream::peer_verified() const {
  return SSL_get0_peer_certificate(ssl_) != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK;
}

std::string_view TlsStream::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return {reinterpret_cast<const char*>(p), len};
}

std::string_view TlsStream::version() const {
  return SSL_get_version(ssl_);
}

}  // namespace sluice::net
