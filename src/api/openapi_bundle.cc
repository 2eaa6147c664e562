#include "api/openapi_bundle.h"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <utility>

#include "api/rest_api.h"

namespace sluice::api {
namespace {

// Where a node stands in the OpenAPI 3.1 structure, as far as bundling needs to know.
enum class Kind {
  kOther,
  kRoot,
  kComponents,
  kPaths,
  kPathItem,
  kPathItems,
  kOperation,
  kParameterList,
  kParameters,
  kParameter,
  kHeaders,
  kHeader,
  kRequestBodies,
  kRequestBody,
  kResponses,
  kResponse,
  kContent,
  kMediaType,
  kEncodings,
  kEncoding,
  kSchemas,
  kSchemaList,
  kSchema,
  kExamples,
  kExample,
  kLinks,
  kLink,
  kCallbacks,
  kCallback,
  kSecuritySchemes,
  kSecurityScheme,
};

bool is_any(std::string_view key, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (key == n) return true;
  }
  return false;
}

Kind field_kind(Kind kind, std::string_view key) {
  switch (kind) {
    case Kind::kRoot:
      if (key == "paths") return Kind::kPaths;
      if (key == "webhooks") return Kind::kPathItems;
      if (key == "components") return Kind::kComponents;
      return Kind::kOther;
    case Kind::kComponents:
      if (key == "schemas") return Kind::kSchemas;
      if (key == "responses") return Kind::kResponses;
      if (key == "parameters") return Kind::kParameters;
      if (key == "examples") return Kind::kExamples;
      if (key == "requestBodies") return Kind::kRequestBodies;
      if (key == "headers") return Kind::kHeaders;
      if (key == "securitySchemes") return Kind::kSecuritySchemes;
      if (key == "links") return Kind::kLinks;
      if (key == "callbacks") return Kind::kCallbacks;
      if (key == "pathItems") return Kind::kPathItems;
      return Kind::kOther;
    case Kind::kPathItem:
      if (is_any(key, {"get", "put", "post", "delete", "options", "head", "patch", "trace"})) {
        return Kind::kOperation;
      }
      return key == "parameters" ? Kind::kParameterList : Kind::kOther;
    case Kind::kOperation:
      if (key == "parameters") return Kind::kParameterList;
      if (key == "requestBody") return Kind::kRequestBody;
      if (key == "responses") return Kind::kResponses;
      if (key == "callbacks") return Kind::kCallbacks;
      return Kind::kOther;
    case Kind::kParameter:
    case Kind::kHeader:
      if (key == "schema") return Kind::kSchema;
      if (key == "content") return Kind::kContent;
      if (key == "examples") return Kind::kExamples;
      return Kind::kOther;
    case Kind::kRequestBody:
      return key == "content" ? Kind::kContent : Kind::kOther;
    case Kind::kResponse:
      if (key == "headers") return Kind::kHeaders;
      if (key == "content") return Kind::kContent;
      if (key == "links") return Kind::kLinks;
      return Kind::kOther;
    case Kind::kMediaType:
      if (key == "schema") return Kind::kSchema;
      if (key == "examples") return Kind::kExamples;
      if (key == "encoding") return Kind::kEncodings;
      return Kind::kOther;
    case Kind::kEncoding:
      return key == "headers" ? Kind::kHeaders : Kind::kOther;
    case Kind::kSchema:
      if (is_any(key,
                 {"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"})) {
        return Kind::kSchemas;
      }
      if (is_any(key, {"allOf", "anyOf", "oneOf", "prefixItems"})) return Kind::kSchemaList;
      if (is_any(key,
                 {"not", "if", "then", "else", "contains", "propertyNames", "contentSchema",
                  "items", "additionalProperties", "unevaluatedItems", "unevaluatedProperties"})) {
        return Kind::kSchema;
      }
      return Kind::kOther;
    default:
      return Kind::kOther;
  }
}

// The kind of a member of a map, or of an item of a list; kOther when kind is neither.
Kind member_kind(Kind kind) {
  switch (kind) {
    case Kind::kPaths:
    case Kind::kPathItems:
    case Kind::kCallback:
      return Kind::kPathItem;
    case Kind::kParameterList:
    case Kind::kParameters:
      return Kind::kParameter;
    case Kind::kHeaders:
      return Kind::kHeader;
    case Kind::kRequestBodies:
      return Kind::kRequestBody;
    case Kind::kResponses:
      return Kind::kResponse;
    case Kind::kContent:
      return Kind::kMediaType;
    case Kind::kEncodings:
      return Kind::kEncoding;
    case Kind::kSchemas:
    case Kind::kSchemaList:
      return Kind::kSchema;
    case Kind::kExamples:
      return Kind::kExample;
    case Kind::kLinks:
      return Kind::kLink;
    case Kind::kCallbacks:
      return Kind::kCallback;
    case Kind::kSecuritySchemes:
      return Kind::kSecurityScheme;
    default:
      return Kind::kOther;
  }
}

Kind child_kind(Kind kind, std::string_view key) {
  const Kind m = member_kind(kind);
  return m != Kind::kOther ? m : field_kind(kind, key);
}

// Members that hold data rather than document: never searched for $refs.
bool is_data(Kind kind, std::string_view key) {
  switch (kind) {
    case Kind::kSchema:
      return is_any(key, {"example", "examples", "const", "default", "enum"});
    case Kind::kExample:
      return key == "value";
    case Kind::kMediaType:
    case Kind::kParameter:
    case Kind::kHeader:
      return key == "example";
    default:
      return false;
  }
}

// The components section a $ref standing in this kind of position is bundled into; nullptr for
// the positions whose $refs are replaced by their targets.
const char* component_section(Kind kind) {
  switch (kind) {
    case Kind::kSchema:
      return "schemas";
    case Kind::kParameter:
      return "parameters";
    case Kind::kResponse:
      return "responses";
    case Kind::kExample:
      return "examples";
    case Kind::kRequestBody:
      return "requestBodies";
    case Kind::kHeader:
      return "headers";
    case Kind::kSecurityScheme:
      return "securitySchemes";
    case Kind::kLink:
      return "links";
    case Kind::kCallback:
      return "callbacks";
    default:
      return nullptr;
  }
}

std::string escape_segment(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape_segment(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '~' && i + 1 < s.size() && (s[i + 1] == '0' || s[i + 1] == '1')) {
      out += s[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The node at pointer ("" or "/a/b~1c/0") in doc, or nullptr.
const Json* resolve_pointer(const Json& doc, std::string_view pointer) {
  const Json* node = &doc;
  if (pointer.empty()) return node;
  if (pointer.front() != '/') return nullptr;
  size_t start = 1;
  for (;;) {
    const size_t slash = std::min(pointer.find('/', start), pointer.size());
    const std::string part = unescape_segment(pointer.substr(start, slash - start));
    if (node->is_object()) {
      auto it = node->find(part);
      if (it == node->end()) return nullptr;
      node = &*it;
    } else if (node->is_array()) {
      if (part.empty() || part.size() > 9 ||
          part.find_first_not_of("0123456789") != std::string::npos)
        return nullptr;
      const size_t i = std::stoul(part);
      if (i >= node->size()) return nullptr;
      node = &(*node)[i];
    } else {
      return nullptr;
    }
    if (slash == pointer.size()) return node;
    start = slash + 1;
  }
}

// dir/part with "." and ".." segments resolved; nullopt when it climbs above the root folder.
std::optional<std::string> join_path(std::string_view file, std::string_view part) {
  std::vector<std::string> segments;
  const size_t last = file.rfind('/');
  std::string whole = last == std::string_view::npos
                          ? std::string(part)
                          : std::string(file.substr(0, last + 1)) + std::string(part);
  size_t start = 0;
  while (start <= whole.size()) {
    const size_t slash = std::min(whole.find('/', start), whole.size());
    const std::string seg = whole.substr(start, slash - start);
    if (seg == "..") {
      if (segments.empty()) return std::nullopt;
      segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    start = slash + 1;
  }
  std::string out;
  for (const std::string& s : segments) out += (out.empty() ? "" : "/") + s;
  return out;
}

class Bundler {
 public:
  Bundler(std::span<const EmbeddedFile> files, std::string root) : root_(std::move(root)) {
    for (const EmbeddedFile& f : files) texts_.emplace(std::string(f.name), f.text);
  }

  std::optional<Json> run(std::string* error) {
    const Json* root = doc(root_);
    if (root == nullptr) return fail(error);
    if (root->is_object() && root->contains("components") && root->at("components").is_object()) {
      for (const auto& [section, members] : root->at("components").items()) {
        if (!members.is_object()) continue;
        for (const auto& [name, value] : members.items()) {
          owner_[{section, name}] =
              root_ + "#/components/" + escape_segment(section) + "/" + escape_segment(name);
        }
      }
    }
    Json out;
    if (!walk(*root, Kind::kRoot, root_, &out)) return fail(error);
    if (!components_.empty()) {
      if (!out.contains("components") || !out["components"].is_object()) {
        out["components"] = Json::object();
      }
      for (auto& [section, members] : components_.items()) {
        Json& into = out["components"][section];
        if (!into.is_object()) into = Json::object();
        for (auto& [name, value] : members.items()) into[name] = std::move(value);
      }
    }
    std::vector<std::string> problems = ref_problems(out);
    if (!problems.empty()) {
      error_ = root_ + ": " + problems.front();
      return fail(error);
    }
    return out;
  }

 private:
  std::optional<Json> fail(std::string* error) {
    *error = error_;
    return std::nullopt;
  }

  // The parsed file, parsed at its first use; nullptr with error_ set.
  const Json* doc(const std::string& name) {
    auto parsed = docs_.find(name);
    if (parsed != docs_.end()) return &parsed->second;
    auto text = texts_.find(name);
    if (text == texts_.end()) {
      error_ = "no file " + name;
      return nullptr;
    }
    std::string err;
    std::optional<Json> j = yaml_to_json(text->second, &err);
    if (!j) {
      error_ = name + ": " + err;
      return nullptr;
    }
    return &docs_.emplace(name, std::move(*j)).first->second;
  }

  bool walk(const Json& node, Kind kind, const std::string& file, Json* out) {
    if (node.is_array()) {
      *out = Json::array();
      for (const Json& item : node) {
        Json o;
        if (!walk(item, member_kind(kind), file, &o)) return false;
        out->push_back(std::move(o));
      }
      return true;
    }
    if (!node.is_object()) {
      *out = node;
      return true;
    }
    auto ref = node.find("$ref");
    if (ref != node.end() && ref->is_string()) return bundle_ref(node, kind, file, out);
    return members(node, kind, file, out);
  }

  // The members of node but $ref, each walked.
  bool members(const Json& node, Kind kind, const std::string& file, Json* out) {
    *out = Json::object();
    for (const auto& [key, value] : node.items()) {
      if (key == "$ref") continue;
      if (is_data(kind, key)) {
        (*out)[key] = value;
        continue;
      }
      Json o;
      if (!walk(value, child_kind(kind, key), file, &o)) return false;
      (*out)[key] = std::move(o);
    }
    return true;
  }

  bool bundle_ref(const Json& node, Kind kind, const std::string& file, Json* out) {
    const std::string& ref = node.at("$ref").get_ref<const std::string&>();
    const std::string where = file + ": $ref '" + ref + "'";
    const size_t hash = ref.find('#');
    const std::string_view part = std::string_view(ref).substr(0, hash);
    std::optional<std::string> pointer =
        percent_decode(hash == std::string::npos ? std::string_view() : ref.substr(hash + 1));
    if (!pointer || (!pointer->empty() && pointer->front() != '/')) {
      error_ = where + ": the fragment is not a JSON pointer";
      return false;
    }
    std::string target_file = file;
    if (!part.empty()) {
      std::optional<std::string> decoded = percent_decode(part);
      if (!decoded || decoded->find("://") != std::string::npos || decoded->front() == '/') {
        error_ = where + ": only files relative to it are bundled";
        return false;
      }
      std::optional<std::string> joined = join_path(file, *decoded);
      if (!joined) {
        error_ = where + ": leaves the folder of " + root_;
        return false;
      }
      target_file = std::move(*joined);
    }
    const Json* target_doc = doc(target_file);
    if (target_doc == nullptr) {
      error_ = where + ": " + error_;
      return false;
    }
    const Json* target = resolve_pointer(*target_doc, *pointer);
    if (target == nullptr) {
      error_ = where + ": no '" + *pointer + "' in " + target_file;
      return false;
    }
    Json siblings;
    if (!members(node, kind, file, &siblings)) return false;
    if (target_file == root_) {  // into the root: its members stay where they are
      *out = Json::object();
      (*out)["$ref"] = "#" + *pointer;
      for (auto& [k, v] : siblings.items()) (*out)[k] = std::move(v);
      return true;
    }
    const std::string key = target_file + "#" + *pointer;
    for (size_t i = 0; i < stack_.size(); ++i) {
      if (stack_[i] != key) continue;
      error_ = "a cycle of $refs: ";
      for (size_t j = i; j < stack_.size(); ++j) error_ += stack_[j] + " -> ";
      error_ += key;
      return false;
    }
    const char* section = component_section(kind);
    if (section == nullptr) {  // not a component: the target in its place
      stack_.push_back(key);
      const bool ok = walk(*target, kind, target_file, out);
      stack_.pop_back();
      if (!ok) return false;
      if (out->is_object()) {
        for (auto& [k, v] : siblings.items()) (*out)[k] = std::move(v);
      }
      return true;
    }
    auto named = names_.find(key);
    if (named == names_.end()) {
      std::string name;
      if (const size_t slash = pointer->rfind('/'); slash != std::string::npos) {
        name = unescape_segment(std::string_view(*pointer).substr(slash + 1));
      }
      if (name.empty()) {
        const size_t dir = target_file.rfind('/');
        name = target_file.substr(dir == std::string::npos ? 0 : dir + 1);
        if (const size_t dot = name.rfind('.'); dot != std::string::npos && dot > 0) {
          name.resize(dot);
        }
      }
      auto [own, fresh] = owner_.try_emplace({section, name}, key);
      if (!fresh && own->second != key) {
        error_ =
            where + ": two " + section + " named '" + name + "': " + own->second + " and " + key;
        return false;
      }
      named =
          names_.emplace(key, std::string("#/components/") + section + "/" + escape_segment(name))
              .first;
      components_[section][name] = nullptr;  // its place: the order they were met in
      stack_.push_back(key);
      Json bundled;
      const bool ok = walk(*target, kind, target_file, &bundled);
      stack_.pop_back();
      if (!ok) return false;
      components_[section][name] = std::move(bundled);
    }
    *out = Json::object();
    (*out)["$ref"] = named->second;
    for (auto& [k, v] : siblings.items()) (*out)[k] = std::move(v);
    return true;
  }

  std::string root_;
  std::map<std::string, std::string_view> texts_;
  std::map<std::string, Json> docs_;          // parsed; std::map keeps references stable
  std::vector<std::string> stack_;            // the $ref targets being bundled, outermost first
  std::map<std::string, std::string> names_;  // file#pointer -> its internal $ref
  std::map<std::pair<std::string, std::string>, std::string> owner_;  // (section, name) -> key
  Json components_ = Json::object();
  std::string error_;
};

void collect_problems(const Json& doc, const Json& node, Kind kind, const std::string& at,
                      std::vector<std::string>* problems) {
  if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) {
      collect_problems(doc, node[i], member_kind(kind), at + "/" + std::to_string(i), problems);
    }
    return;
  }
  if (!node.is_object()) return;
  auto ref = node.find("$ref");
  if (ref != node.end() && ref->is_string()) {
    const std::string& r = ref->get_ref<const std::string&>();
    std::optional<std::string> pointer =
        r.starts_with("#") ? percent_decode(std::string_view(r).substr(1)) : std::nullopt;
    if (!r.starts_with("#")) {
      problems->push_back(at + ": external $ref '" + r + "'");
    } else if (!pointer || resolve_pointer(doc, *pointer) == nullptr) {
      problems->push_back(at + ": $ref '" + r + "' does not resolve");
    }
  }
  for (const auto& [key, value] : node.items()) {
    if (is_data(kind, key)) continue;
    collect_problems(doc, value, child_kind(kind, key), at + "/" + escape_segment(key), problems);
  }
}

}  // namespace

std::optional<Json> bundle_openapi(std::span<const EmbeddedFile> files, std::string_view root,
                                   std::string* error) {
  return Bundler(files, std::string(root)).run(error);
}

std::vector<std::string> ref_problems(const Json& doc) {
  std::vector<std::string> problems;
  collect_problems(doc, doc, Kind::kRoot, "", &problems);
  return problems;
}

}  // namespace sluice::api
