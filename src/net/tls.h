// TLS for connections on non-blocking sockets (OpenSSL 3). A TlsServerContext is one listener's
// certificates (chosen by SNI), versions, ciphers, ALPN and client-certificate policy; a
// TlsClientContext is one upstream's trust and verification policy. Both are built on the control
// thread at config load and shared by the snapshot (refcounted), so a reload with new
// certificates affects new connections only. A TlsStream wraps one connection's SSL and reads
// and writes Buffers with the same outcomes as core::read_into / core::write_from, driving the
// handshake from those calls.
// Example:
//   std::vector<TlsError> errs;
//   auto ctx = TlsServerContext::create(options, &errs);          // control thread
//   TlsStream tls(ctx->new_ssl(fd));                              // worker, per connection
//   core::ReadOutcome r = tls.read_into(in, pool, limit);         // like core::read_into
//   if (tls.wants_write_for_read() && (events & EPOLLOUT)) ...    // see the methods' comments
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/buffer.h"

using SSL = struct ssl_st;
using SSL_CTX = struct ssl_ctx_st;
using X509 = struct x509_st;
using EVP_PKEY = struct evp_pkey_st;

namespace sluice::net {

// A problem with one option: `key` is relative to the tls section ("certificates[1].key").
class TlsStream;

struct TlsError {
  std::string key;
  std::string message;
};

struct TlsCertificate {
  std::string cert;                       // PEM: the leaf first, then its chain
  std::string key;                        // PEM private key
  std::vector<std::string> server_names;  // empty: the certificate's SAN dNSNames (or its CN)
};

struct TlsServerOptions {
  std::vector<TlsCertificate> certificates;      // the first one answers when SNI matches none
  int min_version = 0x0303;                      // TLS1_2_VERSION or TLS1_3_VERSION
  std::string ciphers;                           // TLS 1.2 cipher list; empty: OpenSSL's default
  std::string ciphersuites;                      // TLS 1.3 suites; empty: OpenSSL's default
  std::vector<std::string> alpn = {"http/1.1"};  // in preference order ("h2" can go first later)
  std::string client_ca;                         // PEM CAs; non-empty asks for a client certificate
  bool require_client_cert = true;  // with client_ca: no certificate fails the handshake
};

class TlsServerContext : public std::enable_shared_from_this<TlsServerContext> {
 public:
  // Null and `errors` filled when a file cannot be read, a key does not match its certificate
  // or a cipher string selects nothing.
  static std::shared_ptr<TlsServerContext> create(const TlsServerOptions& options,
                                                  std::vector<TlsError>* errors);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // A server-side SSL on `fd` (null only when OpenSSL is out of memory). The SSL holds a
  // reference to the context, so it stays valid after the snapshot is gone.
  SSL* new_ssl(int fd) const;
  // The same, wrapped in a stream that keeps this context alive (null when out of memory).
  std::unique_ptr<TlsStream> new_stream(int fd) const;
  // The names each certificate answers to (index: certificates), for messages and tests.
  const std::vector<std::vector<std::string>>& names() const { return names_; }

 private:
  TlsServerContext() = default;
  struct Identity {
    X509* cert = nullptr;
    EVP_PKEY* key = nullptr;
    std::vector<X509*> chain;
  };
  static int on_servername(SSL* ssl, int* alert, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                     const unsigned char* in, unsigned int inlen, void* arg);
  const Identity* identity_for(std::string_view server_name) const;

  SSL_CTX* ctx_ = nullptr;
  std::vector<Identity> identities_;                  // [0] is installed in ctx_ already
  std::unordered_map<std::string, size_t> exact_;     // lower-case name → identity
  std::unordered_map<std::string, size_t> wildcard_;  // "example.com" for "*.example.com"
  std::vector<std::vector<std::string>> names_;
  std::string alpn_wire_;  // length-prefixed protocol names
};

struct TlsClientOptions {
  std::string ca_file;      // PEM CAs; empty: the system's default trust store
  std::string server_name;  // SNI and the name verified; empty: the target's host
  bool verify = true;
  std::vector<std::string> alpn = {"http/1.1"};
};

class TlsClientContext : public std::enable_shared_from_this<TlsClientContext> {
 public:
  static std::shared_ptr<TlsClientContext> create(const TlsClientOptions& options,
                                                  std::vector<TlsError>* errors);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // A client-side SSL on `fd` sending SNI and verifying the certificate for `host` (the
  // configured server_name when set; an IP literal is checked against the IP SANs).
  SSL* new_ssl(int fd, std::string_view host) const;
  std::unique_ptr<TlsStream> new_stream(int fd, std::string_view host) const;

 private:
  TlsClientContext() = default;
  SSL_CTX* ctx_ = nullptr;
  std::string server_name_;
  bool verify_ = true;
};

// One connection's TLS. Not thread-safe: it lives on the worker that owns the socket.
class TlsStream {
 public:
  // Owns `ssl`; `keep` holds the context whose callbacks the handshake may still call.
  TlsStream(SSL* ssl, std::shared_ptr<const void> keep) : ssl_(ssl), keep_(std::move(keep)) {}
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Like core::read_into: decrypted bytes until `limit` are buffered or OpenSSL needs more
  // from the socket (drained). Records already buffered inside OpenSSL are consumed before
  // reporting drained, so no edge is needed for them. Handshake failures report error.
  core::ReadOutcome read_into(core::Buffer& in, core::BufferPool& pool, size_t limit);
  // Like core::write_from. blocked also when OpenSSL waits for the peer's bytes (handshake):
  // wants_read_for_write() then says that a readable socket must retry the write.
  core::WriteOutcome write_from(core::Buffer& out, core::BufferPool& pool);
  // Drives the handshake alone (a side with nothing to write yet).
  core::ReadOutcome handshake();
  // With edge-triggered epoll a blocked read may wait for EPOLLOUT and a blocked write for
  // EPOLLIN: the connection retries the other direction's operation on those events.
  bool wants_write_for_read() const { return read_wants_write_; }
  bool wants_read_for_write() const { return write_wants_read_; }
  // Sends close_notify once (best effort: a full socket drops it).
  void shutdown();

  bool handshake_done() const { return done_; }
  bool failed() const { return failed_; }
  // The handshake finished since the last call (for counters and the peer identity).
  bool take_handshake_event() {
    bool e = done_ && !reported_;
    reported_ = true;
    return e;
  }
  // After the handshake: the peer certificate's subject (RFC 2253) and whether it verified.
  std::string peer_subject() const;
  bool peer_verified() const;
  std::string_view alpn() const;
  std::string_view version() const;
  // The OpenSSL reason of the last failure, for logs.
  const std::string& error_text() const { return error_text_; }
  SSL* ssl() const { return ssl_; }

 private:
  // Classifies a failed SSL call: true when the caller should stop for readiness.
  bool settle(int ret, bool reading, core::ReadOutcome* r, bool* error);
  bool finish_handshake(bool reading, core::ReadOutcome* r, bool* error);

  SSL* ssl_;
  std::shared_ptr<const void> keep_;
  bool done_ = false;
  bool reported_ = false;
  bool failed_ = false;
  bool read_wants_write_ = false;
  bool write_wants_read_ = false;
  bool shut_ = false;
  std::string error_text_;
};

// "TLSv1.2" → 0x0303 ... for config values "1.2" and "1.3"; 0 for anything else.
int tls_version_from_text(std::string_view text);

}  // namespace sluice::net
