// TlsStream over a socketpair against a client SSL driven by the test; TlsServerContext's
// certificate loading, SNI choice and errors. Certificates are made in the test (P-256,
// self-signed).
#include "net/tls.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace sluice::net {
namespace {

struct Pem {
  std::string cert;
  std::string key;
};

// A self-signed certificate for `cn` with a DNS SAN of the same name, written to temp files.
Pem make_cert(const std::string& dir, const std::string& cn) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  std::string san = "DNS:" + cn;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(x, key, EVP_sha256());
  Pem p{dir + "/" + cn + ".pem", dir + "/" + cn + ".key"};
  FILE* f = std::fopen(p.cert.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(p.key.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
  return p;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-tls-XXXXXX";
    dir_ = mkdtemp(tmpl);
    a_ = make_cert(dir_, "a.test");
    b_ = make_cert(dir_, "b.test");
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
    client_ctx_ = SSL_CTX_new(TLS_client_method());
  }
  void TearDown() override {
    if (client_ != nullptr) SSL_free(client_);
    SSL_CTX_free(client_ctx_);
    close(fds_[0]);
    close(fds_[1]);
    std::string cmd = "rm -rf " + dir_;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }

  std::shared_ptr<TlsServerContext> server_ctx(TlsServerOptions o = {}) {
    if (o.certificates.empty()) {
      o.certificates = {{a_.cert, a_.key, {}}, {b_.cert, b_.key, {}}};
    }
    std::vector<TlsError> errors;
    auto ctx = TlsServerContext::create(o, &errors);
    EXPECT_TRUE(errors.empty()) << errors[0].key << ": " << errors[0].message;
    return ctx;
  }

  void start_client(const char* sni, int max_version = 0) {
    client_ = SSL_new(client_ctx_);
    SSL_set_fd(client_, fds_[1]);
    SSL_set_connect_state(client_);
    if (sni != nullptr) SSL_set_tlsext_host_name(client_, sni);
    if (max_version != 0) SSL_set_max_proto_version(client_, max_version);
    static const unsigned char kAlpn[] = "\x02h2\x08http/1.1";
    SSL_set_alpn_protos(client_, kAlpn, sizeof(kAlpn) - 1);
  }

  // Alternates both sides until the server's handshake is done (or fails).
  bool handshake(TlsStream& server) {
    for (int i = 0; i < 100 && !server.handshake_done() && !server.failed(); ++i) {
      SSL_do_handshake(client_);
      core::Buffer in;
      core::ReadOutcome r = server.read_into(in, pool_, 1 << 20);
      if (r.error) return false;
    }
    // The client finishes on the server's last flight.
    for (int i = 0; i < 10 && SSL_is_init_finished(client_) != 1; ++i) SSL_do_handshake(client_);
    return server.handshake_done();
  }

  std::string peer_cn() {
    X509* c = SSL_get0_peer_certificate(client_);
    if (c == nullptr) return "";
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof(cn));
    return cn;
  }

  std::string dir_;
  Pem a_, b_;
  int fds_[2] = {-1, -1};
  SSL_CTX* client_ctx_ = nullptr;
  SSL* client_ = nullptr;
  core::BufferPool pool_;
};

TEST_F(TlsTest, HandshakeThenBytesBothWays) {
  auto ctx = server_ctx();
  auto server = ctx->new_stream(fds_[0]);
  start_client("a.test");
  ASSERT_TRUE(handshake(*server)) << server->error_text();
  EXPECT_TRUE(server->take_handshake_event());
  EXPECT_FALSE(server->take_handshake_event());
  EXPECT_EQ(server->alpn(), "http/1.1");  // h2 is offered but not configured
  EXPECT_EQ(peer_cn(), "a.test");

  ASSERT_EQ(SSL_write(client_, "GET / HTTP/1.1\r\n\r\n", 18), 18);
  core::Buffer in;
  core::ReadOutcome r = server->read_into(in, pool_, 1 << 20);
  EXPECT_EQ(r.bytes, 18u);
  EXPECT_TRUE(r.drained);
  EXPECT_FALSE(r.eof);
  EXPECT_EQ(in.view(), "GET / HTTP/1.1\r\n\r\n");

  core::Buffer out;
  out.append(pool_, "HTTP/1.1 200 OK\r\n\r\n");
  core::WriteOutcome w = server->write_from(out, pool_);
  EXPECT_EQ(w.bytes, 19u);
  EXPECT_FALSE(w.blocked);
  EXPECT_TRUE(out.empty());
  char buf[64];
  ASSERT_EQ(SSL_read(client_, buf, sizeof(buf)), 19);
  in.release(pool_);
}

TEST_F(TlsTest, SniChoosesTheCertificateAndFallsBackToTheFirst) {
  auto ctx = server_ctx();
  {
    auto server = ctx->new_stream(fds_[0]);
    start_client("B.TEST");
    ASSERT_TRUE(handshake(*server));
    EXPECT_EQ(peer_cn(), "b.test");
  }
  SSL_free(client_);
  close(fds_[0]);
  close(fds_[1]);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
  auto server = ctx->new_stream(fds_[0]);
  start_client("unknown.test");
  ASSERT_TRUE(handshake(*server));
  EXPECT_EQ(peer_cn(), "a.test");
}

TEST_F(TlsTest, ConfiguredWildcardNames) {
  TlsServerOptions o;
  o.certificates = {{a_.cert, a_.key, {}}, {b_.cert, b_.key, {"*.example.com"}}};
  auto ctx = server_ctx(o);
  ASSERT_EQ(ctx->names()[1].size(), 1u);
  auto server = ctx->new_stream(fds_[0]);
  start_client("api.example.com");
  ASSERT_TRUE(handshake(*server));
  EXPECT_EQ(peer_cn(), "b.test");
}

TEST_F(TlsTest, BufferedRecordsAreReadWithoutANewEdge) {
  auto ctx = server_ctx();
  auto server = ctx->new_stream(fds_[0]);
  start_client("a.test");
  ASSERT_TRUE(handshake(*server));
  // Many records queued at once: one read_into call must return all of them.
  std::string chunk(10000, 'x');
  size_t sent = 0;
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(SSL_write(client_, chunk.data(), static_cast<int>(chunk.size())), 10000);
    sent += chunk.size();
  }
  core::Buffer in;
  core::ReadOutcome r = server->read_into(in, pool_, 1 << 20);
  EXPECT_EQ(r.bytes, sent);
  EXPECT_TRUE(r.drained);
  // With a limit the read stops early and is not drained: the connection reads again.
  for (int i = 0; i < 4; ++i) SSL_write(client_, chunk.data(), static_cast<int>(chunk.size()));
  in.clear();
  r = server->read_into(in, pool_, 5000);
  EXPECT_FALSE(r.drained);
  EXPECT_GE(in.size(), 5000u);
  size_t total = in.size();
  in.clear();
  r = server->read_into(in, pool_, 1 << 20);
  EXPECT_TRUE(r.drained);
  EXPECT_EQ(total + in.size(), 40000u);
  in.release(pool_);
}

TEST_F(TlsTest, LargeWriteBlocksAndResumes) {
  auto ctx = server_ctx();
  auto server = ctx->new_stream(fds_[0]);
  start_client("a.test");
  ASSERT_TRUE(handshake(*server));
  core::Buffer out;
  std::string big(4 << 20, 'y');
  out.append(pool_, big);
  size_t received = 0;
  char buf[16384];
  for (int i = 0; i < 10000 && received < big.size(); ++i) {
    core::WriteOutcome w = server->write_from(out, pool_);
    ASSERT_FALSE(w.error);
    int n;
    while ((n = SSL_read(client_, buf, sizeof(buf))) > 0) received += static_cast<size_t>(n);
  }
  EXPECT_EQ(received, big.size());
}

TEST_F(TlsTest, CloseNotifyIsEof) {
  auto ctx = server_ctx();
  auto server = ctx->new_stream(fds_[0]);
  start_client("a.test");
  ASSERT_TRUE(handshake(*server));
  SSL_shutdown(client_);
  core::Buffer in;
  core::ReadOutcome r = server->read_into(in, pool_, 1 << 20);
  EXPECT_TRUE(r.eof);
  EXPECT_FALSE(r.error);
  server->shutdown();
  char b;
  EXPECT_EQ(SSL_read(client_, &b, 1), 0);
  EXPECT_EQ(SSL_get_error(client_, 0), SSL_ERROR_ZERO_RETURN);
}

TEST_F(TlsTest, MinVersionRefusesOlderClients) {
  TlsServerOptions o;
  o.min_version = tls_version_from_text("1.3");
  auto ctx = server_ctx(o);
  auto server = ctx->new_stream(fds_[0]);
  start_client("a.test", TLS1_2_VERSION);
  EXPECT_FALSE(handshake(*server));
  EXPECT_TRUE(server->failed());
  EXPECT_FALSE(server->error_text().empty());
}

TEST_F(TlsTest, ClientCertificateRequired) {
  TlsServerOptions o;
  o.client_ca = a_.cert;
  auto ctx = server_ctx(o);
  {
    auto server = ctx->new_stream(fds_[0]);
    start_client("a.test");  // no certificate
    EXPECT_FALSE(handshake(*server));
  }
  SSL_free(client_);
  close(fds_[0]);
  close(fds_[1]);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
  auto server = ctx->new_stream(fds_[0]);
  start_client("a.test");
  // a.test is self-signed and is the CA: it verifies.
  ASSERT_EQ(SSL_use_certificate_file(client_, a_.cert.c_str(), SSL_FILETYPE_PEM), 1);
  ASSERT_EQ(SSL_use_PrivateKey_file(client_, a_.key.c_str(), SSL_FILETYPE_PEM), 1);
  ASSERT_TRUE(handshake(*server)) << server->error_text();
  EXPECT_TRUE(server->peer_verified());
  EXPECT_EQ(server->peer_subject(), "CN=a.test");
}

TEST_F(TlsTest, ErrorsNameTheKey) {
  TlsServerOptions o;
  o.certificates = {{a_.cert, a_.key, {}}, {b_.cert, a_.key, {}}, {dir_ + "/none.pem", a_.key, {}}};
  o.ciphers = "NOTACIPHER";
  std::vector<TlsError> errors;
  EXPECT_EQ(TlsServerContext::create(o, &errors), nullptr);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].key, "ciphers");
  EXPECT_EQ(errors[1].key, "certificates[1].key");
  EXPECT_NE(errors[1].message.find("is not the key of"), std::string::npos);
  EXPECT_EQ(errors[2].key, "certificates[2].cert");
}

TEST_F(TlsTest, ClientContextVerifiesTheServer) {
  auto ctx = server_ctx();
  std::vector<TlsError> errors;
  TlsClientOptions co;
  co.ca_file = b_.cert;  // the server presents a.test: not trusted
  auto cctx = TlsClientContext::create(co, &errors);
  ASSERT_NE(cctx, nullptr);
  auto server = ctx->new_stream(fds_[0]);
  auto client = cctx->new_stream(fds_[1], "a.test");
  core::Buffer out, in;
  out.append(pool_, "hello");
  bool client_failed = false;
  for (int i = 0; i < 20; ++i) {
    core::WriteOutcome w = client->write_from(out, pool_);
    if (w.error) {
      client_failed = true;
      break;
    }
    server->read_into(in, pool_, 1 << 20);
  }
  EXPECT_TRUE(client_failed);

  // Trusting a.test, the same exchange works and the write waited for the handshake's reads.
  close(fds_[0]);
  close(fds_[1]);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
  co.ca_file = a_.cert;
  cctx = TlsClientContext::create(co, &errors);
  server = ctx->new_stream(fds_[0]);
  client = cctx->new_stream(fds_[1], "a.test");
  out.clear();
  out.append(pool_, "hello");
  core::WriteOutcome w = client->write_from(out, pool_);
  EXPECT_TRUE(w.blocked);
  EXPECT_TRUE(client->wants_read_for_write());
  for (int i = 0; i < 20 && !out.empty(); ++i) {
    server->read_into(in, pool_, 1 << 20);
    w = client->write_from(out, pool_);
    ASSERT_FALSE(w.error) << client->error_text();
  }
  server->read_into(in, pool_, 1 << 20);
  EXPECT_EQ(in.view(), "hello");
}

}  // namespace
}  // namespace sluice::net
