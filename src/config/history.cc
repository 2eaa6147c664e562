#include "config/history.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "config/config.h"

namespace sluice::config {
namespace {

using json = nlohmann::ordered_json;

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

bool read_file(const std::string& path, std::string* out) {
  return !read_config_file(path, out).has_value();
}

// tmp file, write, fsync, rename, fsync of the directory: the file is whole or absent.
bool write_atomic(const std::string& dir, const std::string& path, std::string_view bytes,
                  std::string* error) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = errno_text("cannot create", tmp);
    return false;
  }
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = errno_text("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    *error = errno_text("cannot sync", tmp);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = errno_text("cannot rename", tmp);
    ::unlink(tmp.c_str());
    return false;
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool make_dir(const std::string& path, std::string* error) {
  if (::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
    errno = ENOTDIR;
  }
  *error = errno_text("cannot create directory", path);
  return false;
}

json to_json(const VersionRecord& r) {
  json j = {{"version", r.version}, {"hash", r.hash},          {"time", iso8601_utc(r.time_ms)},
            {"time_ms", r.time_ms}, {"source", r.source},      {"author", r.author},
            {"format", r.format},   {"file_hash", r.file_hash}};
  if (r.rollback_of != 0) j["rollback_of"] = r.rollback_of;
  return j;
}

bool from_json(const json& j, VersionRecord* r) {
  if (!j.is_object()) return false;
  const auto str = [&](const char* k, std::string* out) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  const auto num = [&](const char* k, uint64_t* out) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_number_unsigned()) return false;
    *out = it->get<uint64_t>();
    return true;
  };
  if (!num("version", &r->version) || r->version == 0 || !str("hash", &r->hash) ||
      !num("time_ms", &r->time_ms) || !str("source", &r->source) || !str("author", &r->author) ||
      !str("format", &r->format) || (r->format != "yaml" && r->format != "json")) {
    return false;
  }
  str("file_hash", &r->file_hash);
  num("rollback_of", &r->rollback_of);
  return true;
}

// "12.meta.json" -> 12; 0 for any other name.
uint64_t meta_version(std::string_view name) {
  constexpr std::string_view kSuffix = ".meta.json";
  if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return 0;
  }
  uint64_t v = 0;
  for (char c : name.substr(0, name.size() - kSuffix.size())) {
    if (c < '0' || c > '9' || v > UINT64_MAX / 10 - 1) return 0;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

std::string version_meta(const VersionRecord& r) {
  return to_json(r).dump();
}

History::History(std::string dir, size_t limit)
    : dir_(std::move(dir)), limit_(std::max<size_t>(limit, 1)) {}

bool History::open(std::string* error) {
  if (dir_.empty()) return true;
  const std::string versions = dir_ + "/versions";
  if (!make_dir(dir_, error) || !make_dir(versions, error)) {
    dir_.clear();
    return false;
  }
  DIR* d = ::opendir(versions.c_str());
  if (d == nullptr) {
    *error = errno_text("cannot read directory", versions);
    dir_.clear();
    return false;
  }
  std::vector<uint64_t> found;
  while (const dirent* e = ::readdir(d)) {
    if (const uint64_t v = meta_version(e->d_name)) found.push_back(v);
  }
  ::closedir(d);
  std::sort(found.begin(), found.end());
  records_.clear();
  texts_.clear();
  for (uint64_t v : found) {
    std::string bytes;
    VersionRecord r;
    if (!read_file(meta_path(v), &bytes)) continue;
    json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (!from_json(j, &r) || r.version != v) continue;
    struct stat st {};
    if (::stat(text_path(r).c_str(), &st) != 0) continue;  // its text is gone: not a version
    records_.push_back(std::move(r));
    texts_.emplace_back();
  }
  while (records_.size() > limit_) forget_oldest();
  return true;
}

const VersionRecord* History::find(uint64_t version) const {
  auto it = std::lower_bound(records_.begin(), records_.end(), version,
                             [](const VersionRecord& r, uint64_t v) { return r.version < v; });
  return it != records_.end() && it->version == version ? &*it : nullptr;
}

bool History::record(VersionRecord& r, const std::string& text, std::string* error) {
  r.version = std::max(r.version, last_version() + 1);
  if (r.time_ms == 0) {
    r.time_ms = core::wall_ms();
  }
  bool ok = true;
  std::optional<std::string> kept;
  if (on_disk()) {
    const std::string dir = dir_ + "/versions";
    ok = write_atomic(dir, text_path(r), text, error) &&
         write_atomic(dir, meta_path(r.version), version_meta(r) + "\n", error);
    if (!ok) kept = text;
  } else {
    kept = text;
  }
  records_.push_back(r);
  texts_.push_back(std::move(kept));
  while (records_.size() > limit_) forget_oldest();
  return ok;
}

std::optional<std::string> History::text(uint64_t version) const {
  const VersionRecord* r = find(version);
  if (r == nullptr) return std::nullopt;
  const size_t i = static_cast<size_t>(r - records_.data());
  if (texts_[i]) return texts_[i];
  std::string bytes;
  if (!on_disk() || !read_file(text_path(*r), &bytes)) return std::nullopt;
  return bytes;
}

std::string History::text_path(const VersionRecord& r) const {
  if (!on_disk()) return "version " + std::to_string(r.version);
  return dir_ + "/versions/" + std::to_string(r.version) + "." + r.format;
}

std::string History::meta_path(uint64_t version) const {
  return dir_ + "/versions/" + std::to_string(version) + ".meta.json";
}

void History::forget_oldest() {
  if (on_disk()) {
    ::unlink(meta_path(records_.front().version).c_str());  // first: the version is gone
    ::unlink(text_path(records_.front()).c_str());
  }
  records_.erase(records_.begin());
  texts_.erase(texts_.begin());
}

}  // namespace sluice::config
