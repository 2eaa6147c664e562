// A config made of files: several --config files merged in order, the files each one lists
// under `include:` merged before its own keys, and ${VAR} / ${VAR:-default} in values taken from
// the environment (docs/configuration.md, "Several files, includes and the environment").
//
// Merging a later tree onto an earlier one: maps merge key by key (recursively; the later
// value wins), the top-level lists of named objects (routes, upstreams, consumers,
// jwt_providers) merge by `name` (a later object replaces the earlier one of that name whole,
// in its place; a new name is appended), any other value (a list, a scalar, a map meeting a
// non-map) replaces the earlier one. Every node keeps its file and position (Mark::source), so
// an error names the file and line where the offending value is written.
//
// Substitution happens in every scalar value of every file (not in keys), before the merge:
// ${NAME} is the variable's value (unset: an error at its file:line), ${NAME:-text} the text
// when the variable is unset or empty; NAME is [A-Z_][A-Z0-9_]*, so a filter's ${path.id} or
// ${status} is left alone; $${NAME} is the text ${NAME}.
// Example:
//   Sources s = load_sources({"base.yaml", "prod.yaml"});
//   if (!s.loaded.ok()) for (const ConfigError& e : s.loaded.errors) log(e.to_string());
//   record(s.text, s.hash);  // the version's text; the hash of every input
//   watch(s.files);          // every file read (or tried), with the hash of its bytes
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/document.h"

namespace sluice::config {

// The value of an environment variable; nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// getenv().
EnvLookup process_env();

// Includes nest at most this deep, and a config is made of at most kMaxSourceFiles files.
inline constexpr int kMaxIncludeDepth = 8;
inline constexpr size_t kMaxSourceFiles = 1000;

struct SourceFile {
  std::string path;    // as given (--config), or the include resolved against its file's folder
  std::string sha256;  // of its bytes; "" when it could not be read
};

struct Sources {
  LoadResult loaded;  // the typed config (source_files: every file, Mark::source indexes it)
  // The config as one text, what a version records: the file's bytes when the config is one file
  // without include and substitution, else the merged and substituted tree as YAML.
  std::string text;
  // The file's SHA-256 in the first case, else the SHA-256 of every file's path and bytes and
  // every variable's value: any change to any of them changes it.
  std::string hash;
  std::vector<SourceFile> files;  // in the order read (duplicates possible)
};

Sources load_sources(const std::vector<std::string>& paths, const EnvLookup& env = process_env());

// A layer that is not a file (the objects kept in etcd): merged after the files like one more
// file named `name` (errors name it; it counts in the hash), without include or substitution.
struct TextLayer {
  std::string name;
  std::string text;
};
// reuse: what the snapshot in force compiled (load_config_tree), or null.
Sources load_sources(const std::vector<std::string>& paths, std::span<const TextLayer> extra,
                     const EnvLookup& env = process_env(), const RouteReuse* reuse = nullptr);

// --- the pieces, for tests --------------------------------------------------------------------

// One scalar's substitution.
struct Substituted {
  std::string text;
  bool changed = false;  // a ${NAME} or $${NAME} was seen
  std::string error;     // "" when fine
  // The variables looked up, with their values (nullopt: unset), for the hash.
  std::vector<std::pair<std::string, std::optional<std::string>>> used;
};
Substituted substitute_env(std::string_view text, const EnvLookup& env);

// The trees (maps, in order) merged as described above, the root marked `root_mark`. Top-level
// `include` keys are dropped. Fails (nullopt, *error) only when the merge would take too many
// steps (trees of aliases over aliases).
std::optional<Node> merge_trees(std::span<const Node> layers, Mark root_mark, std::string* error);

}  // namespace sluice::config
