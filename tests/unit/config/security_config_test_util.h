// Helpers shared by the security config tests (security_config_test.cc,
// credentials_config_test.cc): the key files of a fixture directory, a YAML text loaded as
// sec.yaml (@DIR@ is that directory), the one error a text must have, API key hashes and the
// listener every error test starts with.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "auth/api_key.h"
#include "config/config.h"

namespace sluice::config::security_config_test_util {

// Files that keys are read from, in a directory of their own.
inline const std::string& dir() {
  static const std::string d = [] {
    std::string path = testing::TempDir() + "sluice-seccfg-" + std::to_string(::getpid());
    ::mkdir(path.c_str(), 0700);
    return path;
  }();
  return d;
}

inline void write_file(const std::string& name, const std::string& bytes) {
  std::ofstream(dir() + "/" + name, std::ios::binary) << bytes;
}

inline std::string ec_public_pem() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

inline void write_fixtures() {
  static const bool done = [] {
    write_file("secret", "0123456789abcdef-from-file\n");
    write_file("secret2", "0123456789abcdef\r\n\n");
    write_file("short", "short\n");
    write_file("pub.pem", ec_public_pem());
    write_file("bad.pem", "garbage");
    ::mkfifo((dir() + "/fifo").c_str(), 0600);  // opening it for reading must not block
    return true;
  }();
  (void)done;
}

// The YAML starts on the line after R"( so that line 1 of the text is the first line written;
// @DIR@ is the fixture directory.
inline LoadResult load(std::string yaml) {
  write_fixtures();
  if (!yaml.empty() && yaml.front() == '\n') yaml.erase(0, 1);
  for (size_t at = yaml.find("@DIR@"); at != std::string::npos; at = yaml.find("@DIR@", at)) {
    yaml.replace(at, 5, dir());
  }
  return load_config_string(yaml, "sec.yaml");
}

inline std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.to_string());
  return out;
}

// Exactly one error, at `line`, under `key`, saying `text`.
inline void expect_error(const std::string& yaml, int line, const std::string& key,
                         const std::string& text) {
  const LoadResult r = load(yaml);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << testing::PrintToString(messages(r));
  const ConfigError& e = r.errors[0];
  EXPECT_EQ(e.file, "sec.yaml");
  EXPECT_EQ(e.mark.line, line) << e.to_string();
  EXPECT_GT(e.mark.col, 0) << e.to_string();
  EXPECT_EQ(e.key, key) << e.to_string();
  EXPECT_NE(e.message.find(text), std::string::npos) << e.to_string();
}

inline const std::string kHashA = auth::hash_api_key("key-a");
inline const std::string kHashB = auth::hash_api_key("key-b");

inline std::string upper_hex(std::string hash) {
  for (size_t i = auth::kApiKeyHashPrefix.size(); i < hash.size(); ++i) {
    if (hash[i] >= 'a' && hash[i] <= 'f') hash[i] = static_cast<char>(hash[i] - 32);
  }
  return hash;
}

// The listener every error test starts with.
inline const std::string kHead = R"(
listeners:
  - address: 127.0.0.1:8080
)";

}  // namespace sluice::config::security_config_test_util
