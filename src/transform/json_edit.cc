#include "transform/json_edit.h"

#include <limits>

namespace sluice::transform {
namespace {

using detail::JsonPointer;
using Object = Json::object_t;
using Members = Object::Container;

// RFC 6901: "" or ("/" token)*, where "~0" is '~', "~1" is '/' and any other '~' is invalid.
bool parse_pointer(std::string_view text, JsonPointer& out, std::string* why) {
  out.text = std::string(text);
  out.tokens.clear();
  if (text.empty()) return true;
  if (text[0] != '/') {
    *why = "must be empty or start with '/'";
    return false;
  }
  std::string token;
  for (size_t i = 1; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '/') {
      out.tokens.push_back(std::move(token));
      token.clear();
    } else if (text[i] == '~') {
      char next = i + 1 < text.size() ? text[i + 1] : '\0';
      if (next != '0' && next != '1') {
        *why = "'~' at byte " + std::to_string(i) + " must be followed by 0 or 1";
        return false;
      }
      token += next == '0' ? '~' : '/';
      ++i;
    } else {
      token += text[i];
    }
  }
  return true;
}

// The pointer to the first n tokens of p, written for a message ("the document" for none).
std::string prefix(const JsonPointer& p, size_t n) {
  if (n == 0) return "the document";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += '/';
    for (char c : p.tokens[i]) {
      if (c == '~') {
        s += "~0";
      } else if (c == '/') {
        s += "~1";
      } else {
        s += c;
      }
    }
  }
  return s;
}

std::string kind_of(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    default:
      return "a number";
  }
}

enum class Index { kIndex, kAppend, kNotIndex };

// An array reference token: "0" or a digit string without a leading zero, or "-". A number too
// big for size_t is still an index (past the end of any array).
Index parse_index(const std::string& token, size_t& index) {
  if (token == "-") return Index::kAppend;
  if (token.empty() || (token.size() > 1 && token[0] == '0')) return Index::kNotIndex;
  index = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return Index::kNotIndex;
    size_t digit = static_cast<size_t>(c - '0');
    if (index > (std::numeric_limits<size_t>::max() - digit) / 10) {
      index = std::numeric_limits<size_t>::max();
    } else {
      index = index * 10 + digit;
    }
  }
  return Index::kIndex;
}

// The existing value `token` names inside node, or nullptr.
Json* child(Json& node, const std::string& token) {
  if (node.is_object()) {
    auto& obj = node.get_ref<Object&>();
    auto it = obj.find(token);
    return it == obj.end() ? nullptr : &it->second;
  }
  if (node.is_array()) {
    auto& arr = node.get_ref<Json::array_t&>();
    size_t i = 0;
    if (parse_index(token, i) == Index::kIndex && i < arr.size()) return &arr[i];
  }
  return nullptr;
}

// The container holding p's last token, or nullptr when the path to it does not exist.
Json* parent_of(Json& doc, const JsonPointer& p) {
  Json* node = &doc;
  for (size_t i = 0; node && i + 1 < p.tokens.size(); ++i) node = child(*node, p.tokens[i]);
  return node;
}

// Removes the value at p (not the root) and moves it to *taken when non-null. False when
// there was none.
bool take(Json& doc, const JsonPointer& p, Json* taken) {
  Json* parent = parent_of(doc, p);
  if (!parent) return false;
  const std::string& last = p.tokens.back();
  if (parent->is_object()) {
    auto& obj = parent->get_ref<Object&>();
    auto it = obj.find(last);
    if (it == obj.end()) return false;
    if (taken) *taken = std::move(it->second);
    obj.erase(it);
    return true;
  }
  if (parent->is_array()) {
    auto& arr = parent->get_ref<Json::array_t&>();
    size_t i = 0;
    if (parse_index(last, i) != Index::kIndex || i >= arr.size()) return false;
    if (taken) *taken = std::move(arr[i]);
    arr.erase(arr.begin() + static_cast<std::ptrdiff_t>(i));
    return true;
  }
  return false;
}

// Writes value at p with set's rules. `from` is the rename source, for the message only.
bool put(Json& doc, const JsonPointer& p, Json&& value, const JsonPointer* from,
         std::string* error) {
  auto fail = [&](const std::string& why) {
    if (error) {
      *error = from ? "cannot rename " + from->text + " to " + p.text + ": " + why
                    : "cannot set " + p.text + ": " + why;
    }
    return false;
  };
  Json* node = &doc;
  const size_t n = p.tokens.size();
  for (size_t i = 0; i < n; ++i) {
    const std::string& token = p.tokens[i];
    const bool last = i + 1 == n;
    if (node->is_object()) {
      auto& obj = node->get_ref<Object&>();
      auto it = obj.find(token);
      if (it != obj.end()) {
        node = &it->second;
      } else {
        node = &detail::append_member(obj, token, last ? Json() : Json::object());
      }
    } else if (node->is_array()) {
      auto& arr = node->get_ref<Json::array_t&>();
      size_t index = 0;
      switch (parse_index(token, index)) {
        case Index::kAppend:
          if (!last) return fail("\"-\" can only be the last token");
          arr.emplace_back();
          node = &arr.back();
          break;
        case Index::kNotIndex:
          return fail(prefix(p, i) + " is an array and \"" + token + "\" is not an index");
        case Index::kIndex:
          if (index >= arr.size()) {
            return fail("index " + token + " is past the end of " + prefix(p, i) + " (size " +
                        std::to_string(arr.size()) + ")");
          }
          node = &arr[index];
          break;
      }
    } else {
      return fail(prefix(p, i) + " is " + kind_of(*node));
    }
  }
  *node = std::move(value);
  return true;
}

// A rename inside one object to a member that does not exist yet keeps the member's position
// ({"name":..,"age":..} becomes {"full_name":..,"age":..}). ordered_map keys are const, so the
// object is rebuilt. False when this case does not apply.
bool rename_in_place(Json& doc, const JsonPointer& from, const JsonPointer& to) {
  if (from.tokens.empty() || to.tokens.size() != from.tokens.size()) return false;
  for (size_t i = 0; i + 1 < from.tokens.size(); ++i) {
    if (from.tokens[i] != to.tokens[i]) return false;
  }
  Json* parent = parent_of(doc, from);
  if (!parent || !parent->is_object()) return false;
  auto& obj = parent->get_ref<Object&>();
  const std::string& old_name = from.tokens.back();
  const std::string& new_name = to.tokens.back();
  if (obj.find(old_name) == obj.end() || obj.find(new_name) != obj.end()) return false;
  Object renamed;
  renamed.reserve(obj.size());
  for (auto& m : obj) {
    renamed.Members::emplace_back(m.first == old_name ? new_name : m.first, std::move(m.second));
  }
  obj = std::move(renamed);
  return true;
}

}  // namespace

bool JsonEdit::compile(const JsonEditSpec& spec, JsonEdit& out, std::string* error) {
  JsonEdit e;
  std::string why;
  auto bad = [&](const char* list, const std::string& text, const std::string& reason) {
    if (error) *error = std::string(list) + ": invalid JSON pointer \"" + text + "\": " + reason;
    return false;
  };
  for (const auto& text : spec.remove) {
    Pointer p;
    if (!parse_pointer(text, p, &why)) return bad("remove", text, why);
    if (p.tokens.empty()) return bad("remove", text, "the whole document cannot be removed");
    e.remove_.push_back(std::move(p));
  }
  for (const auto& [from_text, to_text] : spec.rename) {
    Pointer from, to;
    if (!parse_pointer(from_text, from, &why)) return bad("rename", from_text, why);
    if (from.tokens.empty()) return bad("rename", from_text, "the whole document cannot be moved");
    if (!parse_pointer(to_text, to, &why)) return bad("rename", to_text, why);
    e.rename_.emplace_back(std::move(from), std::move(to));
  }
  for (const auto& s : spec.set) {
    SetOp op;
    if (!parse_pointer(s.pointer, op.target, &why)) return bad("set", s.pointer, why);
    op.per_request = s.per_request;
    if (s.per_request) {
      ++e.per_request_values_;
    } else {
      op.value = s.value;
    }
    e.set_.push_back(std::move(op));
  }
  out = std::move(e);
  return true;
}

bool JsonEdit::apply(std::string_view body, std::span<const std::string> values, std::string& out,
                     std::string* error) const {
  if (values.size() != per_request_values_) {
    if (error) {
      *error = "expected " + std::to_string(per_request_values_) + " per-request values, got " +
               std::to_string(values.size());
    }
    return false;
  }
  try {
    Json doc;
    if (!parse_json(body, doc, error)) return false;
    for (const auto& p : remove_) take(doc, p, nullptr);
    for (const auto& [from, to] : rename_) {
      if (rename_in_place(doc, from, to)) continue;
      Json moved;
      if (take(doc, from, &moved) && !put(doc, to, std::move(moved), &from, error)) return false;
    }
    size_t next_value = 0;
    for (const auto& op : set_) {
      Json value = op.per_request ? Json(values[next_value++]) : op.value;
      if (!put(doc, op.target, std::move(value), nullptr, error)) return false;
    }
    out = dump_json(doc);
    return true;
  } catch (const std::exception& e) {
    if (error) *error = std::string("cannot edit JSON: ") + e.what();
  } catch (...) {
    if (error) *error = "cannot edit JSON: unknown error";
  }
  return false;
}

}  // namespace sluice::transform
