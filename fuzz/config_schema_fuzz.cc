// Structure-aware fuzz target for the config: YAML text → load_config_string (the typed config
// and its validation) → build_snapshot (what `sluice validate` and every reload run: the router,
// the filter chains with the ported security filters, rate limits, TLS contexts). Most random
// bytes die in the YAML parser, so this target has a custom mutator: it reads the input as YAML
// (falling back to a valid skeleton), and edits the tree with the real schema of
// config_schema.h: a key of the section a map is in, with a value of that key's kind (valid,
// boundary or near miss), a value replaced, a subtree deleted, duplicated or taken from another
// input, a scalar where a map is expected. One mutation in eight is libFuzzer's own on the text.
// Seeds: config/sluice.yaml, bench/configs/*.yaml (ports filled in) and hand-written configs.
// Invariants, besides no crash, no sanitizer report and no exception escaping:
//   - a LoadResult is exactly one of a config or errors; every error has a message, this file
//     name and a non-negative position; a config has listeners and a 64-digit hash;
//   - build_snapshot gives a snapshot or errors, never both, and a snapshot has one route per
//     configured route, a router, upstream indices in range, chains null or not empty;
//   - building the same config again on the same RuntimeRegistry (a reload to an unchanged
//     config) succeeds or fails the same way, with the same messages (one input in four).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config_schema.h"
#include "fuzz_check.h"
#include "proxy/runtime.h"
#include "proxy/snapshot.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using namespace sluice;
using fuzz::Field;
using fuzz::Kind;
using fuzz::Section;

const fuzz::Schema& schema() {
  static const fuzz::Schema s = fuzz::parse_schema();
  return s;
}

// --- the files the pools name ------------------------------------------------------------------

bool write_file(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

EVP_PKEY* new_key() {
  return EVP_EC_gen("P-256");
}

bool write_pem(const std::string& path, EVP_PKEY* key, X509* cert, bool public_only) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  bool ok = cert != nullptr ? PEM_write_X509(f, cert) == 1
            : public_only
                ? PEM_write_PUBKEY(f, key) == 1
                : PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  return std::fclose(f) == 0 && ok;
}

// Written into a fresh directory that is then renamed into place, so that concurrent fuzzer
// processes (-merge, -jobs) see all the files or none, and a certificate with its own key.
void make_files() {
  const std::string dir(fuzz::kFilesDir);
  struct stat st {};
  if (::stat((dir + "/secret.txt").c_str(), &st) == 0) return;
  std::string tmpl = dir + ".XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return;
  EVP_PKEY* key = new_key();
  EVP_PKEY* other = new_key();
  X509* cert = X509_new();
  bool ok = key != nullptr && other != nullptr && cert != nullptr;
  if (ok) {
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3650L * 86400);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("fuzz.test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    ok = X509_sign(cert, key, EVP_sha256()) > 0 &&
         write_pem(tmpl + "/cert.pem", key, cert, false) &&
         write_pem(tmpl + "/key.pem", key, nullptr, false) &&
         write_pem(tmpl + "/other.key", other, nullptr, false) &&
         write_pem(tmpl + "/pub.pem", key, nullptr, true) &&
         write_file(tmpl + "/mock.json", "{\"id\": \"${path.id}\", \"m\": \"${method}\"}\n") &&
         write_file(tmpl + "/secret.txt", "fuzz-secret-0123456789abcdef\n");
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  EVP_PKEY_free(other);
  if (!ok || ::rename(tmpl.c_str(), dir.c_str()) != 0) {  // another process won the race
    for (const char* f : {"cert.pem", "key.pem", "other.key", "pub.pem", "mock.json", "secret.txt"})
      ::unlink((tmpl + "/" + f).c_str());
    ::rmdir(tmpl.c_str());
  }
}

// --- a YAML tree the mutator can edit (duplicate keys and all) ---------------------------------

struct KV;

struct V {
  enum Type : uint8_t { kNull, kScalar, kSeq, kMap } type = kNull;
  std::string text;
  bool quoted = false;
  std::vector<V> items;    // kSeq
  std::vector<KV> fields;  // kMap, in document order
};

struct KV {
  V key;
  V value;
};

constexpr size_t kMaxNodes = 20000;  // aliases can make a small text a huge tree

bool from_yaml(const sluice::config::Node& n, V& out, size_t& budget, int depth) {
  using sluice::config::NodeType;
  if (budget-- == 0 || depth > 64) return false;
  switch (n.type()) {
    case NodeType::kScalar:
      out.type = V::kScalar;
      out.text = std::string(n.scalar());
      out.quoted = n.quoted();
      return true;
    case NodeType::kSequence:
      out.type = V::kSeq;
      for (size_t i = 0; i < n.size(); ++i) {
        out.items.emplace_back();
        if (!from_yaml(n.at(i), out.items.back(), budget, depth + 1)) return false;
      }
      return true;
    case NodeType::kMap:
      out.type = V::kMap;
      for (size_t i = 0; i < n.size(); ++i) {
        out.fields.emplace_back();
        if (!from_yaml(n.key(i), out.fields.back().key, budget, depth + 1) ||
            !from_yaml(n.value(i), out.fields.back().value, budget, depth + 1)) {
          return false;
        }
      }
      return true;
    default:
      out.type = V::kNull;
      return true;
  }
}

// A plain scalar that reads back as itself (and not as null) in any flow context.
bool plain_safe(const std::string& t) {
  if (t.empty() || t == "~" || t == "null" || t == "Null" || t == "NULL") return false;
  if (t.front() == ' ' || t.back() == ' ') return false;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@`").find(t.front()) != std::string_view::npos) {
    return t.size() > 1 && t.front() == '-' && t[1] >= '0' && t[1] <= '9' &&
           t.find_first_not_of("0123456789.-") == std::string::npos;
  }
  for (size_t i = 0; i < t.size(); ++i) {
    const auto c = static_cast<unsigned char>(t[i]);
    if (c < 0x20 || c >= 0x7f || c == ',' || c == '[' || c == ']' || c == '{' || c == '}') {
      return false;
    }
    if ((c == ':' || c == '#') &&
        (i + 1 == t.size() || t[i + 1] == ' ' || (i > 0 && t[i - 1] == ' ')))
      return false;
  }
  return true;
}

// Flow-style YAML, every scalar plain where that reads back the same, double-quoted otherwise.
void emit(std::string& out, const V& v) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (v.type) {
    case V::kNull:
      out += '~';
      break;
    case V::kScalar:
      if (!v.quoted && plain_safe(v.text)) {
        out += v.text;
        break;
      }
      out += '"';
      for (const char ch : v.text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
          out += '\\';
          out += ch;
        } else if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
      }
      out += '"';
      break;
    case V::kSeq:
      out += '[';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i > 0) out += ", ";
        emit(out, v.items[i]);
      }
      out += ']';
      break;
    case V::kMap:
      out += '{';
      for (size_t i = 0; i < v.fields.size(); ++i) {
        if (i > 0) out += ", ";
        if (v.fields[i].key.type != V::kScalar) out += "? ";
        emit(out, v.fields[i].key);
        out += ": ";
        emit(out, v.fields[i].value);
      }
      out += '}';
      break;
  }
}

V scalar(std::string text, bool quoted = false) {
  V v;
  v.type = V::kScalar;
  v.text = std::move(text);
  v.quoted = quoted;
  return v;
}

const char kSkeleton[] =
    "listeners: [{address: 127.0.0.1:8080}]\n"
    "upstreams: [{name: backend, targets: [{address: 127.0.0.1:9001}]}]\n"
    "routes: [{name: r, match: {path: /{*rest}}, upstream: backend}]\n";

// --- the mutator -------------------------------------------------------------------------------

// A place in the tree with what the schema says about it.
struct Slot {
  enum Role : uint8_t { kValue, kElement, kEntry };
  V* node;
  const Field* field;      // the key it is the value of, or a list or free map of; null: unknown
  Role role;               // the value of field, an element of its list, an entry of its map
  const Section* section;  // for maps: the section they are an instance of
  std::vector<V>* seq;     // set when node is an element of this list
  std::vector<KV>* map;    // set when node is the value of an entry of this map
  size_t index;
};

class Mutator {
 public:
  Mutator(V& root, unsigned seed) : root_(root), rng_(seed) {}

  void collect() {
    slots_.clear();
    names_.clear();
    walk(root_, nullptr, Slot::kValue, section("root"), nullptr, nullptr, 0);
  }

  // One edit; false when nothing applicable was found.
  bool mutate() {
    collect();
    if (slots_.empty()) return false;
    Slot s = slots_[pick(slots_.size())];
    switch (pick(9)) {
      case 0:
      case 1:
      case 2:  // a key of the section, with a value of its kind
        if (const Slot* m = pick_map()) return add_key(*m);
        return false;
      case 3:
      case 4:  // a new value for a known key
        if (s.field == nullptr) return false;
        *s.node = regenerate(s);
        return true;
      case 5:  // delete a list element or a map entry
        if (s.seq != nullptr) {
          s.seq->erase(s.seq->begin() + static_cast<std::ptrdiff_t>(s.index));
        } else if (s.map != nullptr) {
          s.map->erase(s.map->begin() + static_cast<std::ptrdiff_t>(s.index));
        } else {
          return false;
        }
        return true;
      case 6:  // duplicate a list element (two routes, two targets ...), maybe renamed
        if (s.seq == nullptr) return false;
        {
          V copy = (*s.seq)[s.index];
          if (copy.type == V::kMap && pick(2) == 0) rename(copy);
          s.seq->insert(s.seq->begin() + static_cast<std::ptrdiff_t>(pick(s.seq->size() + 1)),
                        std::move(copy));
        }
        return true;
      case 7:  // the wrong shape: a scalar for a map, a list for a scalar, a null
        *s.node = wrong_shape(*s.node);
        return true;
      default:  // a scalar from any pool (what a typo or a pasted line gives)
        if (s.node->type != V::kScalar && s.node->type != V::kNull) return false;
        *s.node = scalar(any_pool_value(), pick(4) == 0);
        return true;
    }
  }

  // Replaces a map of `other` into a map of the same section here (else a top-level entry).
  bool cross(V& other) {
    Mutator o(other, static_cast<unsigned>(rng_()));
    o.collect();
    collect();
    std::vector<const Slot*> mine;
    for (const Slot& s : slots_) {
      if (s.section != nullptr) mine.push_back(&s);
    }
    if (mine.empty()) return false;
    const Slot* to = mine[pick(mine.size())];
    std::vector<const Slot*> same;
    for (const Slot& s : o.slots_) {
      if (s.section == to->section) same.push_back(&s);
    }
    if (same.empty()) return false;
    *to->node = *same[pick(same.size())]->node;
    return true;
  }

 private:
  size_t pick(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  const Section* section(std::string_view name) const {
    auto it = schema().sections.find(name);
    return it == schema().sections.end() ? nullptr : &it->second;
  }

  static bool is_free(const Field* f) {
    return f != nullptr &&
           (f->kind == Kind::kFree || f->kind == Kind::kFreeLists || f->kind == Kind::kFreeMaps);
  }

  void walk(V& v, const Field* field, Slot::Role role, const Section* sec, std::vector<V>* seq,
            std::vector<KV>* map, size_t index) {
    if (slots_.size() > 4096) return;
    const Section* as_map = v.type == V::kMap ? sec : nullptr;
    slots_.push_back(Slot{&v, field, role, as_map, seq, map, index});
    if (v.type == V::kSeq) {
      // A list of maps (Q) or of scalars (O, L): the elements have the field's schema.
      for (size_t i = 0; i < v.items.size(); ++i) {
        walk(v.items[i], field, Slot::kElement, sec, &v.items, nullptr, i);
      }
      return;
    }
    if (v.type != V::kMap) return;
    const bool free = is_free(field) && role != Slot::kEntry;
    for (size_t i = 0; i < v.fields.size(); ++i) {
      V& key = v.fields[i].key;
      V& val = v.fields[i].value;
      if (free) {  // the entries of a free map share its field
        const Section* s = field->kind == Kind::kFreeMaps ? section(field->ref2) : nullptr;
        walk(val, field, Slot::kEntry, s, nullptr, &v.fields, i);
        continue;
      }
      const Field* f = sec != nullptr && key.type == V::kScalar ? sec->find(key.text) : nullptr;
      if (f != nullptr && f->key == "name" && val.type == V::kScalar && field != nullptr) {
        names_.emplace_back(field->key, val.text);  // upstreams[].name, jwt_providers[].name
      }
      const bool has_section = f != nullptr && (f->kind == Kind::kMap || f->kind == Kind::kSeq ||
                                                f->kind == Kind::kMapOrScalar);
      const bool other_form = has_section && f->kind == Kind::kSeq && !f->ref2.empty() &&
                              val.type == V::kMap;  // rate_limit: {policies: [...]}
      walk(val, f, Slot::kValue, has_section ? section(other_form ? f->ref2 : f->ref) : nullptr,
           nullptr, &v.fields, i);
    }
  }

  // A new node for the place s, by its field and role.
  V regenerate(const Slot& s) {
    const Field& f = *s.field;
    if (s.role == Slot::kEntry) {
      if (f.kind == Kind::kFree) return pool_scalar(f.ref2);
      if (f.kind == Kind::kFreeLists) return list_of(f.ref2, 2);
      return map_of(*section(f.ref2), 0);
    }
    if (s.role == Slot::kElement) {
      switch (f.kind) {
        case Kind::kScalar:
        case Kind::kOne:
        case Kind::kList:
          return pool_scalar(f.ref);
        case Kind::kMap:
        case Kind::kSeq:
        case Kind::kMapOrScalar:
          return map_of(*section(f.ref), 0);
        default:
          break;
      }
    }
    return value(f, 0);
  }

  const Slot* pick_map() {
    std::vector<const Slot*> maps;
    for (const Slot& s : slots_) {
      if (s.section != nullptr) maps.push_back(&s);
    }
    return maps.empty() ? nullptr : maps[pick(maps.size())];
  }

  bool add_key(const Slot& m) {
    const std::vector<Field>& fields = m.section->fields;
    if (fields.empty()) return false;
    const Field& f = fields[pick(fields.size())];
    std::string key = f.key;
    if (pick(16) == 0) key = typo(key);  // "did you mean"
    for (KV& kv : m.node->fields) {
      if (kv.key.type == V::kScalar && kv.key.text == key && pick(8) != 0) {
        kv.value = value(f, 0);  // replace rather than duplicate, mostly
        return true;
      }
    }
    m.node->fields.push_back(KV{scalar(key), value(f, 0)});
    return true;
  }

  std::string typo(std::string key) {
    if (key.empty()) return "x";
    const size_t i = pick(key.size());
    switch (pick(3)) {
      case 0:
        key.erase(i, 1);
        break;
      case 1:
        key.insert(i, 1, key[i]);
        break;
      default:
        key[i] = static_cast<char>('a' + pick(26));
    }
    return key;
  }

  void rename(V& map) {
    for (KV& kv : map.fields) {
      if (kv.key.type == V::kScalar && kv.key.text == "name" && kv.value.type == V::kScalar) {
        kv.value.text += std::to_string(pick(10));
      }
    }
  }

  const std::string& pool_value(const std::string& pool) {
    if (pool[0] == '@') {
      // A name defined in the document: upstreams[].name or jwt_providers[].name.
      const std::string list = pool == "@upstream" ? "upstreams" : "jwt_providers";
      std::vector<const std::string*> defined;
      for (const auto& [where, name] : names_) {
        if (where == list) defined.push_back(&name);
      }
      if (!defined.empty() && pick(8) != 0) return *defined[pick(defined.size())];
      return pool_value("name");
    }
    const std::vector<std::string>& values = schema().pools.find(pool)->second;
    return values[pick(values.size())];
  }

  std::string any_pool_value() {
    const auto& pools = schema().pools;
    auto it = pools.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(pick(pools.size())));
    return it->second[pick(it->second.size())];
  }

  V pool_scalar(const std::string& pool) {
    const std::string& text = pool_value(pool);
    if (text == "~") return V{};
    // Quoted or plain: "1.2" and 1.2 load alike, but `on` and "on" are different YAML.
    return scalar(text, pick(5) == 0);
  }

  V list_of(const std::string& pool, size_t max) {
    V v;
    v.type = V::kSeq;
    for (size_t n = 1 + pick(max); n > 0; --n) v.items.push_back(pool_scalar(pool));
    return v;
  }

  V map_of(const Section& sec, int depth) {
    V v;
    v.type = V::kMap;
    for (const Field& f : sec.fields) {
      if (f.required && pick(16) != 0) v.fields.push_back(KV{scalar(f.key), value(f, depth + 1)});
    }
    if (!sec.fields.empty()) {
      for (size_t n = pick(3); n > 0; --n) {
        const Field& f = sec.fields[pick(sec.fields.size())];
        if (!f.required) v.fields.push_back(KV{scalar(f.key), value(f, depth + 1)});
      }
    }
    return v;
  }

  // A value for field f, of its kind; deep sections stop at a few levels.
  V value(const Field& f, int depth) {
    if (depth > 4) return V{};
    switch (f.kind) {
      case Kind::kScalar:
        return pool_scalar(f.ref);
      case Kind::kOne:
        return pick(3) == 0 ? pool_scalar(f.ref) : list_of(f.ref, 3);
      case Kind::kList:
        return list_of(f.ref, 3);
      case Kind::kMap:
        return map_of(*section(f.ref), depth);
      case Kind::kSeq: {
        if (!f.ref2.empty() && pick(3) == 0) return map_of(*section(f.ref2), depth);
        V v;
        v.type = V::kSeq;
        for (size_t n = 1 + pick(2); n > 0; --n) v.items.push_back(map_of(*section(f.ref), depth));
        return v;
      }
      case Kind::kMapOrScalar:
        return pick(4) == 0 ? pool_scalar(f.ref2) : map_of(*section(f.ref), depth);
      case Kind::kFree:
      case Kind::kFreeLists:
      case Kind::kFreeMaps: {
        V v;
        v.type = V::kMap;
        for (size_t n = 1 + pick(2); n > 0; --n) {
          V val = f.kind == Kind::kFree        ? pool_scalar(f.ref2)
                  : f.kind == Kind::kFreeLists ? list_of(f.ref2, 2)
                                               : map_of(*section(f.ref2), depth);
          v.fields.push_back(KV{pool_scalar(f.ref), std::move(val)});
        }
        return v;
      }
    }
    return V{};
  }

  V wrong_shape(const V& v) {
    switch (pick(4)) {
      case 0:
        return V{};
      case 1:
        return scalar(pick(2) == 0 ? "off" : "x");
      case 2: {
        V seq;
        seq.type = V::kSeq;
        seq.items.push_back(v);
        return seq;
      }
      default: {
        V map;
        map.type = V::kMap;
        map.fields.push_back(KV{scalar("x"), v});
        return map;
      }
    }
  }

  V& root_;
  std::minstd_rand rng_;
  std::vector<Slot> slots_;
  std::vector<std::pair<std::string, std::string>> names_;  // (list key, name)
};

bool parse_tree(const uint8_t* data, size_t size, V& out) {
  const sluice::config::ParseResult r =
      sluice::config::parse_document(std::string_view(reinterpret_cast<const char*>(data), size));
  size_t budget = kMaxNodes;
  return r.root.is_map() && from_yaml(r.root, out, budget, 0);
}

size_t write_tree(const V& v, uint8_t* out, size_t max_size) {
  std::string text;
  emit(text, v);
  text += '\n';
  if (text.size() > max_size) return 0;
  std::memcpy(out, text.data(), text.size());
  return text.size();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)schema();  // aborts on a broken table
  make_files();
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned seed) {
  std::minstd_rand rng(seed);
  V root;
  if (rng() % 8 == 0) return LLVMFuzzerMutate(data, size, max_size);
  if (!parse_tree(data, size, root)) {
    if (rng() % 2 == 0) return LLVMFuzzerMutate(data, size, max_size);
    parse_tree(reinterpret_cast<const uint8_t*>(kSkeleton), sizeof(kSkeleton) - 1, root);
  }
  Mutator m(root, static_cast<unsigned>(rng()));
  bool changed = false;
  for (size_t n = 1 + rng() % 3, tries = 0; n > 0 && tries < 16; ++tries) {
    if (m.mutate()) {
      changed = true;
      --n;
    }
  }
  const size_t len = changed ? write_tree(root, data, max_size) : 0;
  return len != 0 ? len : LLVMFuzzerMutate(data, size, max_size);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* d1, size_t s1, const uint8_t* d2,
                                            size_t s2, uint8_t* out, size_t max_out,
                                            unsigned seed) {
  V a, b;
  if (!parse_tree(d1, s1, a) || !parse_tree(d2, s2, b)) return 0;
  Mutator m(a, seed);
  if (!m.cross(b)) return 0;
  return write_tree(a, out, max_out);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  config::LoadResult r;
  try {
    r = config::load_config_string(yaml, "fuzz.yaml");
  } catch (...) {
    abort();  // load_config_* promise not to throw
  }
  CHECK(r.ok() == r.errors.empty());
  CHECK(r.config.has_value() == r.ok());
  for (const config::ConfigError& e : r.errors) {
    CHECK(!e.message.empty() && !e.to_string().empty() && e.file == "fuzz.yaml");
    CHECK(e.mark.line >= 0 && e.mark.col >= 0);
  }
  if (!r.ok()) return 0;
  CHECK(!r.config->listeners.empty() && r.config->hash.size() == 64);

  proxy::RuntimeRegistry registry;
  proxy::SnapshotResult first, again;
  // The reload check doubles the cost of a run: one input in four (chosen by its bytes) has it.
  const bool reload = (std::hash<std::string>{}(yaml)&3) == 0;
  try {
    first = proxy::build_snapshot(*r.config, 1, 1, registry, {});
    if (reload) again = proxy::build_snapshot(*r.config, 2, 2, registry, {});
  } catch (...) {
    abort();  // `sluice validate` and reloads do not catch
  }
  CHECK((first.snapshot != nullptr) == first.errors.empty());
  for (const config::ConfigError& e : first.errors) CHECK(!e.message.empty());
  if (reload) {
    CHECK((again.snapshot != nullptr) == (first.snapshot != nullptr));
    CHECK(again.errors.size() == first.errors.size());
    for (size_t i = 0; i < first.errors.size(); ++i) {
      CHECK(first.errors[i].to_string() == again.errors[i].to_string());
    }
  }
  if (const proxy::Snapshot* s = first.snapshot.get()) {
    CHECK(s->router != nullptr && s->security != nullptr);
    CHECK(s->routes.size() == r.config->routes.size());
    for (const proxy::Route& route : s->routes) {
      CHECK(route.chain == nullptr || !route.chain->empty());  // null: no filters
      CHECK(route.upstream >= -1 && route.upstream < static_cast<int>(s->upstreams.size()));
      if (route.mirror) {
        CHECK(route.mirror->upstream >= 0 &&
              route.mirror->upstream < static_cast<int>(s->upstreams.size()));
      }
    }
  }
  return 0;
}
