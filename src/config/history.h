// The numbered versions of the config: every applied change (start, file reload, admin API,
// rollback) is one, with its hash, time, source and author, kept on disk in a state directory
// and bounded in number. The text of each version is stored as it was applied (the file's YAML,
// the API's JSON), so a rollback re-applies the very bytes and restores the very hash.
//
// Layout of the directory (docs/operations.md, "Config versions"):
//   <dir>/versions/<N>.yaml | <N>.json   the config text of version N
//   <dir>/versions/<N>.meta.json         {"version":N,"hash":…,"time":…,"source":…,…}
// The text is written first, then the meta file; each through a temporary file, fsync and
// rename, so a crash leaves either the whole version or none of it (a text without a meta file
// is ignored; the next version of that number overwrites it).
//
// With dir "" (or one that cannot be created) the history lives in memory only: texts are kept
// with their records, and a restart starts from the file again.
// Example:
//   History h("/var/lib/sluice", 50);
//   std::string err;
//   if (!h.open(&err)) log(err);                       // in memory from now on
//   VersionRecord r{.hash = cfg.hash, .source = "api", .author = "ops", .format = "json"};
//   h.record(std::move(r), text, &err);                // r.version = last + 1
//   std::optional<std::string> t = h.text(7);
#pragma once

#include "core/clock.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::config {

struct VersionRecord {
  uint64_t version = 0;
  std::string hash;          // hex SHA-256 of the text
  uint64_t time_ms = 0;      // wall clock, ms since the epoch
  std::string source;        // "file", "api", "rollback"
  std::string author;        // who asked: "file", "signal", the API's author header, …
  std::string format;        // "yaml" or "json": how the text is written
  std::string file_hash;     // hex SHA-256 of the config file as last read when this was applied
  uint64_t rollback_of = 0;  // source "rollback": the version whose text this re-applies
};

using core::iso8601_utc;  // "2026-12-02T14:13:02.123Z"
// The record as compact JSON: {"version":7,"hash":…,"time":"2026-…Z","time_ms":…,"source":…,
// "author":…,"format":…,"file_hash":…[,"rollback_of":N]} (its meta file, and the admin API's).
std::string version_meta(const VersionRecord& r);

class History {
 public:
  History(std::string dir, size_t limit);

  // Creates the directory if needed and reads the versions in it. On failure (the directory
  // cannot be created or read) returns false with *error and the history is in memory only.
  bool open(std::string* error);
  // "" when the history is in memory.
  const std::string& dir() const { return dir_; }
  bool on_disk() const { return !dir_.empty(); }

  // Oldest first, at most `limit` of them.
  const std::vector<VersionRecord>& records() const { return records_; }
  const VersionRecord* find(uint64_t version) const;
  const VersionRecord* latest() const { return records_.empty() ? nullptr : &records_.back(); }
  uint64_t last_version() const { return records_.empty() ? 0 : records_.back().version; }

  // Appends r as version max(last_version() + 1, r.version) (its time set when 0) and drops
  // the oldest beyond the limit. On a write failure the version is still recorded in memory
  // (with its text) and false is returned with *error: the config in force does not depend on
  // the disk.
  bool record(VersionRecord& r, const std::string& text, std::string* error);
  // The text of a recorded version; nullopt when unknown or unreadable.
  std::optional<std::string> text(uint64_t version) const;
  // Where a version's text is kept ("<dir>/versions/7.json"; "version 7" in memory).
  std::string text_path(const VersionRecord& r) const;

 private:
  std::string meta_path(uint64_t version) const;
  void forget_oldest();

  std::string dir_;
  size_t limit_;
  std::vector<VersionRecord> records_;
  std::vector<std::optional<std::string>> texts_;  // in-memory mode, and failed writes
};

}  // namespace sluice::config
