// See sources.h.
#include "config/sources.h"

#include <openssl/evp.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "config/emit.h"
#include "config/reader.h"
#include "http/char_class.h"

namespace sluice::config {
namespace {

// Merging trees of aliases over aliases could take exponential time and memory. A step is a map
// entry present in an earlier and a later file at one place (or a merge there); a real config
// takes a few hundred.
constexpr size_t kMaxMergeSteps = size_t{1} << 20;

constexpr std::string_view kNamedLists[] = {"routes", "upstreams", "consumers", "jwt_providers"};

struct IdHash {
  size_t operator()(const NodeId& id) const noexcept {
    return std::hash<const void*>()(id.doc) ^ (std::hash<uint32_t>()(id.index) * 31);
  }
};

bool is_plain_null(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool name_start(char c) {
  return (c >= 'A' && c <= 'Z') || c == '_';
}
bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}

// A reference at text[at] ("${" just before it): its name, its default, and where it ends
// (just past its '}'). kNone: not a reference (a filter's ${path.id}); kUnclosed: an error.
struct Ref {
  enum Kind { kNone, kRef, kUnclosed } kind = kNone;
  std::string_view name;
  std::optional<std::string_view> fallback;
  size_t end = 0;
};

Ref parse_ref(std::string_view text, size_t at) {
  Ref r;
  size_t i = at;
  if (i >= text.size() || !name_start(text[i])) return r;
  while (i < text.size() && name_char(text[i])) ++i;
  r.name = text.substr(at, i - at);
  if (i == text.size()) {
    r.kind = Ref::kUnclosed;
    return r;
  }
  if (text[i] == '}') {
    r.kind = Ref::kRef;
    r.end = i + 1;
    return r;
  }
  if (text.compare(i, 2, ":-") != 0) return r;
  const size_t close = text.find('}', i + 2);
  if (close == std::string_view::npos) {
    r.kind = Ref::kUnclosed;
    return r;
  }
  r.kind = Ref::kRef;
  r.fallback = text.substr(i + 2, close - i - 2);
  r.end = close + 1;
  return r;
}

// Whether substitute_env would change anything: a ${NAME…} or $${NAME…} (or an unclosed one).
bool mentions_env(std::string_view text) {
  for (size_t i = text.find("${"); i != std::string_view::npos; i = text.find("${", i + 1)) {
    if (parse_ref(text, i + 2).kind != Ref::kNone) return true;
  }
  return false;
}

// Incremental SHA-256 (hex), for the hash over every file and value.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("SHA-256 is not available");
    }
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // Each piece with its length, so that no two inputs read the same.
  void add(std::string_view s) {
    const std::string len = std::to_string(s.size()) + ":";
    EVP_DigestUpdate(ctx_, len.data(), len.size());
    EVP_DigestUpdate(ctx_, s.data(), s.size());
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    return http::hex_encode(std::string_view(reinterpret_cast<const char*>(md), n));
  }

 private:
  EVP_MD_CTX* ctx_;
};

// ${…} in the values of one file's tree, into a tree of its own (keys and untouched scalars
// copied; a node shared by aliases is rewritten once).
class Substitution {
 public:
  Substitution(const EnvLookup& env, const std::string& file, std::vector<ConfigError>& errors,
               Sha256& hash)
      : env_(env), file_(file), errors_(errors), hash_(hash) {}

  // nullopt when no value mentions a variable (the tree is used as it is).
  std::optional<Node> run(const Node& root) {
    // One search of the document's text first: most configs mention no variable, and the walk
    // costs a hash insert per node (10 ms for 10,000 routes).
    if (!root.document_may_contain("${")) return std::nullopt;
    std::unordered_set<NodeId, IdHash> seen;
    if (!mentions(root, seen)) return std::nullopt;
    return writer_.finish(walk(root, ""));
  }

 private:
  bool mentions(const Node& n, std::unordered_set<NodeId, IdHash>& seen) {
    if (n.is_scalar()) return mentions_env(n.scalar());
    if (!n.is_map() && !n.is_sequence()) return false;
    if (!seen.insert(n.id()).second) return false;
    for (size_t i = 0; i < n.size(); ++i) {
      if (mentions(n.is_map() ? n.value(i) : n.at(i), seen)) return true;
    }
    return false;
  }

  uint32_t walk(const Node& n, const std::string& path) {
    if (auto it = done_.find(n.id()); it != done_.end()) return it->second;
    uint32_t out = 0;
    if (n.is_map()) {
      std::vector<uint32_t> kids;
      kids.reserve(n.size() * 2);
      for (size_t i = 0; i < n.size(); ++i) {
        const Node k = n.key(i);
        kids.push_back(writer_.copy(k));  // keys as written
        kids.push_back(walk(n.value(i), join(path, k.is_scalar() ? k.scalar() : "?")));
      }
      out = writer_.map(n.mark(), kids);
    } else if (n.is_sequence()) {
      std::vector<uint32_t> kids;
      kids.reserve(n.size());
      for (size_t i = 0; i < n.size(); ++i) kids.push_back(walk(n.at(i), index(path, i)));
      out = writer_.list(n.mark(), kids);
    } else if (n.is_scalar() && mentions_env(n.scalar())) {
      Substituted s = substitute_env(n.scalar(), env_);
      for (const auto& [name, value] : s.used) {
        hash_.add(name);
        hash_.add(value ? "=" + *value : std::string("unset"));
      }
      if (!s.error.empty()) errors_.push_back(ConfigError{file_, n.mark(), path, s.error});
      // A plain value reads as YAML would read its result written there: empty is null.
      const bool null = !n.quoted() && is_plain_null(s.text);
      out =
          writer_.scalar(null ? NodeType::kNull : NodeType::kScalar, s.text, n.quoted(), n.mark());
    } else {
      out = writer_.copy(n);
    }
    done_[n.id()] = out;
    return out;
  }

  const EnvLookup& env_;
  const std::string& file_;
  std::vector<ConfigError>& errors_;
  Sha256& hash_;
  DocumentWriter writer_;
  std::unordered_map<NodeId, uint32_t, IdHash> done_;
};

// A value of the merged tree while the layers are merged: a node as it is, or a map or list
// made of several layers' entries.
struct Pending {
  enum Kind { kNode, kMap, kList } kind = kNode;
  Node node;  // kNode
  Mark mark;  // kMap, kList: the latest layer's
  std::vector<std::pair<Node, std::unique_ptr<Pending>>> entries;  // kMap
  std::vector<Node> items;                                         // kList
};

std::unique_ptr<Pending> pending(const Node& n) {
  auto p = std::make_unique<Pending>();
  p->node = n;
  return p;
}

std::optional<std::string_view> name_of(const Node& n) {
  if (!n.is_map()) return std::nullopt;
  for (size_t i = 0; i < n.size(); ++i) {
    if (n.key(i).is_scalar() && n.key(i).scalar() == "name") {
      if (n.value(i).is_scalar()) return n.value(i).scalar();
      return std::nullopt;
    }
  }
  return std::nullopt;
}

bool is_named_list(std::string_view key) {
  for (std::string_view k : kNamedLists) {
    if (k == key) return true;
  }
  return false;
}

class Merger {
 public:
  std::optional<Node> run(std::span<const Node> layers, Mark root_mark, std::string* error) {
    Pending root;
    root.kind = Pending::kMap;
    root.mark = root_mark;
    for (const Node& layer : layers) {
      if (!layer.is_map()) continue;
      merge_entries(root, layer, true);
      if (steps_ > kMaxMergeSteps) {
        *error = "the files merge into too large a tree (aliases of aliases?)";
        return std::nullopt;
      }
    }
    return writer_.finish(write(root));
  }

 private:
  void merge(Pending& acc, const Node& next, bool named_list) {
    ++steps_;
    const bool acc_map =
        acc.kind == Pending::kMap || (acc.kind == Pending::kNode && acc.node.is_map());
    const bool acc_list =
        acc.kind == Pending::kList || (acc.kind == Pending::kNode && acc.node.is_sequence());
    if (next.is_map() && acc_map) {
      if (acc.kind == Pending::kNode) {
        steps_ += acc.node.size();
        if (steps_ > kMaxMergeSteps) return;
        for (size_t i = 0; i < acc.node.size(); ++i) {
          acc.entries.emplace_back(acc.node.key(i), pending(acc.node.value(i)));
        }
        acc.kind = Pending::kMap;
        acc.node = Node();
      }
      acc.mark = next.mark();
      merge_entries(acc, next, false);
    } else if (named_list && next.is_sequence() && acc_list) {
      if (acc.kind == Pending::kNode) {
        for (size_t i = 0; i < acc.node.size(); ++i) acc.items.push_back(acc.node.at(i));
        acc.kind = Pending::kList;
        acc.node = Node();
      }
      acc.mark = next.mark();
      // Only the earlier layers' objects are replaced: two of one name in one file stay two
      // (and are reported as a duplicate).
      std::unordered_map<std::string_view, size_t> names;
      for (size_t i = 0; i < acc.items.size(); ++i) {
        if (std::optional<std::string_view> n = name_of(acc.items[i])) names.try_emplace(*n, i);
      }
      for (size_t i = 0; i < next.size(); ++i) {
        const Node e = next.at(i);
        const std::optional<std::string_view> n = name_of(e);
        auto it = n ? names.find(*n) : names.end();
        if (it != names.end()) {
          acc.items[it->second] = e;
        } else {
          acc.items.push_back(e);
        }
      }
    } else {
      acc.kind = Pending::kNode;
      acc.node = next;
      acc.entries.clear();
      acc.items.clear();
    }
  }

  void merge_entries(Pending& acc, const Node& next, bool top) {
    std::unordered_map<std::string_view, size_t> keys;
    for (size_t i = 0; i < acc.entries.size(); ++i) {
      const Node& k = acc.entries[i].first;
      if (k.is_scalar()) keys.try_emplace(k.scalar(), i);
    }
    for (size_t i = 0; i < next.size() && steps_ <= kMaxMergeSteps; ++i) {
      const Node k = next.key(i);
      if (top && k.is_scalar() && k.scalar() == "include") continue;
      auto it = k.is_scalar() ? keys.find(k.scalar()) : keys.end();
      if (it == keys.end()) {
        ++steps_;
        acc.entries.emplace_back(k, pending(next.value(i)));
        continue;
      }
      auto& [key, value] = acc.entries[it->second];
      key = k;  // the later key: its file and line
      merge(*value, next.value(i), top && is_named_list(k.scalar()));
    }
  }

  uint32_t write(const Pending& p) {
    if (p.kind == Pending::kNode) return writer_.copy(p.node);
    std::vector<uint32_t> kids;
    if (p.kind == Pending::kList) {
      kids.reserve(p.items.size());
      for (const Node& n : p.items) kids.push_back(writer_.copy(n));
      return writer_.list(p.mark, kids);
    }
    kids.reserve(p.entries.size() * 2);
    for (const auto& [k, v] : p.entries) {
      kids.push_back(writer_.copy(k));
      kids.push_back(write(*v));
    }
    return writer_.map(p.mark, kids);
  }

  DocumentWriter writer_;
  size_t steps_ = 0;
};

// Reads the files, their includes and their variables.
class Loader {
 public:
  Loader(const EnvLookup& env, Sources& out) : env_(env), out_(out) {}

  void run(const std::vector<std::string>& paths, std::span<const TextLayer> extra) {
    plain_ = paths.size() == 1 && extra.empty();
    for (const std::string& p : paths) {
      if (!load(p, 0, nullptr)) return;
    }
    for (const TextLayer& t : extra) {
      if (!load_text(t)) return;
    }
  }

  bool plain() const { return plain_; }
  std::string take_first_bytes() { return std::move(first_bytes_); }
  std::vector<ConfigError>& errors() { return errors_; }
  std::vector<Node>& layers() { return layers_; }
  std::vector<std::string>& files() { return files_; }
  Sha256& hash() { return hash_; }
  Mark root_mark() const { return root_mark_; }

 private:
  struct IncludedAt {
    const std::string& file;
    Mark mark;
    std::string key;
  };

  // One file (and what it includes); false when no more files should be read.
  bool load(const std::string& path, int depth, const IncludedAt* from) {
    if (files_.size() >= kMaxSourceFiles) {
      fail(path, from, {},
           "a config is made of at most " + std::to_string(kMaxSourceFiles) + " files");
      return false;
    }
    const auto source = static_cast<uint16_t>(files_.size());
    files_.push_back(path);
    std::string bytes;
    if (std::optional<ConfigError> e = read_config_file(path, &bytes)) {
      out_.files.push_back(SourceFile{path, ""});
      if (from != nullptr) {
        errors_.push_back(ConfigError{from->file, from->mark, from->key,
                                      "cannot read " + quote(path) + ": " + e->message});
      } else {
        errors_.push_back(std::move(*e));
      }
      return true;
    }
    out_.files.push_back(SourceFile{path, sha256_hex(bytes)});
    // The file's own hash (its bytes hashed once), not its path: the same files named
    // otherwise are the same config.
    hash_.add(out_.files.back().sha256);
    ParseResult doc = parse_document(bytes, source);
    if (source == 0 && plain_) first_bytes_ = std::move(bytes);
    bytes = {};
    if (!doc.error.empty()) {
      errors_.push_back(ConfigError{path, doc.error_mark, "", std::move(doc.error)});
      return true;
    }
    Node root = doc.root;
    if (!root.is_defined() || root.is_null()) {
      errors_.push_back(ConfigError{path,
                                    {0, 0, source},
                                    "",
                                    source == 0 ? "the config is empty"
                                                : "the file is empty (a file that adds nothing "
                                                  "is written {})"});
      return true;
    }
    if (!root.is_map()) {
      errors_.push_back(ConfigError{path, mark_of(root, {1, 1, source}), "",
                                    "the top level must be a map, got " + describe(root)});
      return true;
    }
    if (source == 0) root_mark_ = mark_of(root, {1, 1, 0});
    const size_t errors_before = errors_.size();
    if (std::optional<Node> s = Substitution(env_, path, errors_, hash_).run(root)) {
      root = std::move(*s);
      plain_ = false;
    }
    if (errors_.size() > errors_before) return true;
    stack_.emplace_back(canonical(path), path);
    includes(path, root, depth);
    stack_.pop_back();
    layers_.push_back(std::move(root));
    return true;
  }

  // A layer given as text (no include, no substitution); false when no more should be read.
  bool load_text(const TextLayer& t) {
    if (files_.size() >= kMaxSourceFiles) {
      fail(t.name, nullptr, {},
           "a config is made of at most " + std::to_string(kMaxSourceFiles) + " files");
      return false;
    }
    const auto source = static_cast<uint16_t>(files_.size());
    files_.push_back(t.name);  // names it in marks; not a file to watch (Sources::files)
    hash_.add(sha256_hex(t.text));
    ParseResult doc = parse_document(t.text, source);
    if (!doc.error.empty()) {
      errors_.push_back(ConfigError{t.name, doc.error_mark, "", std::move(doc.error)});
      return true;
    }
    if (!doc.root.is_defined() || doc.root.is_null()) return true;  // adds nothing
    if (!doc.root.is_map()) {
      errors_.push_back(ConfigError{t.name, mark_of(doc.root, {1, 1, source}), "",
                                    "the top level must be a map, got " + describe(doc.root)});
      return true;
    }
    layers_.push_back(doc.root);
    return true;
  }

  void includes(const std::string& path, const Node& root, int depth) {
    for (size_t i = 0; i < root.size(); ++i) {
      const Node k = root.key(i);
      if (!k.is_scalar() || k.scalar() != "include") continue;
      plain_ = false;
      const Node v = root.value(i);
      const Mark at = value_mark(v, mark_of(k, root.mark()));
      std::vector<std::pair<Node, std::string>> entries;  // each with its key path
      if (v.is_scalar()) {
        entries.emplace_back(v, "include");
      } else if (v.is_sequence()) {
        for (size_t j = 0; j < v.size(); ++j) entries.emplace_back(v.at(j), index("include", j));
      } else if (!v.is_null()) {
        errors_.push_back(ConfigError{
            path, at, "include", "expected a file name or a list of them, got " + describe(v)});
      }
      for (const auto& [e, key] : entries) {
        const Mark m = mark_of(e, at);
        if (!e.is_scalar() || e.scalar().empty()) {
          errors_.push_back(ConfigError{path, m, key, "expected a file name, got " + describe(e)});
          continue;
        }
        const std::string target = resolve(path, e.scalar());
        const IncludedAt from{path, m, key};
        if (depth + 1 > kMaxIncludeDepth) {
          fail(target, &from, m,
               "includes nest at most " + std::to_string(kMaxIncludeDepth) + " levels deep");
          continue;
        }
        const std::string id = canonical(target);
        auto first = std::find_if(stack_.begin(), stack_.end(),
                                  [&](const auto& f) { return f.first == id; });
        if (first != stack_.end()) {
          std::string chain;
          for (auto f = first; f != stack_.end(); ++f) chain.append(f->second).append(" -> ");
          fail(target, &from, m, "include cycle: " + chain.append(target));
          continue;
        }
        if (!load(target, depth + 1, &from)) return;
      }
    }
  }

  void fail(const std::string& path, const IncludedAt* from, Mark m, std::string message) {
    if (from != nullptr) {
      errors_.push_back(
          ConfigError{from->file, m.line > 0 ? m : from->mark, from->key, std::move(message)});
    } else {
      errors_.push_back(ConfigError{path, {}, "", std::move(message)});
    }
  }

  // An include names a file relative to the folder of the file that includes it.
  static std::string resolve(const std::string& including, std::string_view name) {
    const std::filesystem::path p{std::string(name)};
    if (p.is_absolute()) return p.string();
    const std::filesystem::path dir = std::filesystem::path(including).parent_path();
    return dir.empty() ? p.string() : (dir / p).string();
  }

  // The same file, however it is named (for cycles); the path itself when it does not exist.
  static std::string canonical(const std::string& path) {
    char* real = ::realpath(path.c_str(), nullptr);
    if (real == nullptr) return path;
    std::string out(real);
    std::free(real);
    return out;
  }

  const EnvLookup& env_;
  Sources& out_;
  bool plain_ = true;
  std::string first_bytes_;
  std::vector<ConfigError> errors_;
  std::vector<Node> layers_;
  std::vector<std::string> files_;
  // The files being read, outermost first: canonical path (for cycles) and path as named.
  std::vector<std::pair<std::string, std::string>> stack_;
  Sha256 hash_;
  Mark root_mark_{1, 1, 0};
};

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Substituted substitute_env(std::string_view text, const EnvLookup& env) {
  Substituted out;
  out.text.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t dollar = text.find('$', i);
    if (dollar == std::string_view::npos) {
      out.text.append(text.substr(i));
      break;
    }
    out.text.append(text.substr(i, dollar - i));
    i = dollar;
    const bool escaped = text.compare(i, 3, "$${") == 0;
    const size_t open = escaped ? i + 1 : i;
    if (text.compare(open, 2, "${") != 0) {
      out.text += '$';
      ++i;
      continue;
    }
    const Ref r = parse_ref(text, open + 2);
    if (r.kind == Ref::kNone) {
      out.text += '$';
      ++i;
      continue;
    }
    out.changed = true;
    if (r.kind == Ref::kUnclosed) {
      if (out.error.empty()) {
        out.error = "unclosed ${" + std::string(r.name) + " (write ${" + std::string(r.name) +
                    "} or ${" + std::string(r.name) + ":-default})";
      }
      out.text.append(text.substr(i));
      break;
    }
    if (escaped) {  // $${NAME} is the text ${NAME}
      out.text.append(text.substr(open, r.end - open));
      i = r.end;
      continue;
    }
    const std::string name(r.name);
    std::optional<std::string> value = env(name);
    out.used.emplace_back(name, value);
    if (r.fallback && (!value || value->empty())) {
      out.text.append(*r.fallback);
    } else if (value) {
      out.text.append(*value);
    } else if (out.error.empty()) {
      out.error = "environment variable " + name + " is not set (give a default with ${";
      out.error.append(name).append(":-value})");
    }
    i = r.end;
  }
  return out;
}

std::optional<Node> merge_trees(std::span<const Node> layers, Mark root_mark, std::string* error) {
  return Merger().run(layers, root_mark, error);
}

Sources load_sources(const std::vector<std::string>& paths, const EnvLookup& env) {
  return load_sources(paths, {}, env);
}

Sources load_sources(const std::vector<std::string>& paths, std::span<const TextLayer> extra,
                     const EnvLookup& env, const RouteReuse* reuse) {
  Sources out;
  const std::string first = paths.empty() ? std::string() : paths.front();
  try {
    Loader loader(env, out);
    loader.run(paths, extra);
    std::vector<ConfigError>& errors = loader.errors();
    if (paths.empty()) errors.push_back(ConfigError{"", {}, "", "no config file given"});
    if (!errors.empty()) {
      out.loaded.errors = std::move(errors);
      return out;
    }
    if (loader.plain()) {
      out.text = loader.take_first_bytes();
      out.hash = out.files.front().sha256;
      out.loaded = load_config_tree(loader.layers().front(), loader.files(), out.hash, reuse);
      return out;
    }
    std::string why;
    std::optional<Node> root = merge_trees(loader.layers(), loader.root_mark(), &why);
    if (!root) {
      out.loaded.errors.push_back(ConfigError{first, {}, "", why});
      return out;
    }
    out.hash = loader.hash().hex();
    std::string header = "# The config made of";
    for (const std::string& f : loader.files()) header += " " + f;
    for (char& c : header) {
      if (c == '\n' || c == '\r') c = '?';  // a file name stays on the comment's line
    }
    header += " (merged, variables substituted).\n";
    out.text = to_yaml(*root, header);
    out.loaded = load_config_tree(*root, loader.files(), out.hash, reuse);
  } catch (const std::exception& e) {
    out.loaded = {};
    out.loaded.errors.push_back(
        ConfigError{first, {}, "", std::string("internal error: ") + e.what()});
  }
  return out;
}

}  // namespace sluice::config
