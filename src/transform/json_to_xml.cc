#include <string>
#include <vector>

#include "transform/json_parse.h"
#include "transform/xml_chars.h"
#include "transform/xml_json.h"

namespace sluice::transform {
namespace {

using detail::bad_chars;
using detail::in_quotes;
using detail::is_xml_name;
using detail::too_deep;
using Object = Json::object_t;

// Where a value is in the JSON document, built only for an error message.
struct Path {
  const Path* parent;
  std::string_view key;  // a member name, or "" with is_index
  size_t index;
  bool is_index;
};

std::string pointer(const Path* p) {
  std::vector<const Path*> chain;
  for (; p; p = p->parent) chain.push_back(p);
  std::string s;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    s += '/';
    if ((*it)->is_index) {
      s += std::to_string((*it)->index);
      continue;
    }
    for (char c : (*it)->key) {
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

class XmlWriter {
 public:
  XmlWriter(const XmlOptions& options, std::string& out) : options_(options), out_(out) {}

  // One element named `name` for value v, at element depth `depth` (the root is 1).
  bool element(std::string_view name, const Json& v, int depth, const Path* path) {
    if (depth > kMaxDepth) return fail(path, "XML " + too_deep());
    if (!is_xml_name(name)) return fail(path, in_quotes(name) + " is not a valid XML element name");
    out_ += '<';
    out_ += name;
    if (v.is_object()) {
      for (const auto& [key, value] : v.get_ref<const Object&>()) {
        if (key.empty() || key[0] != '@') continue;
        Path here{path, key, 0, false};
        std::string_view attr = std::string_view(key).substr(1);
        if (!is_xml_name(attr)) {
          return fail(&here, in_quotes(attr) + " is not a valid XML attribute name");
        }
        if (value.is_structured()) {
          return fail(&here, "an attribute value must be a string, number, boolean or null");
        }
        out_ += ' ';
        out_ += attr;
        out_ += "=\"";
        if (!scalar(value, true, &here)) return false;
        out_ += '"';
      }
    }
    out_ += '>';
    const size_t mark = out_.size();
    if (!content(v, depth, path)) return false;
    if (out_.size() == mark) {  // nothing inside: <name/>
      out_.back() = '/';
      out_ += '>';
    } else {
      out_ += "</";
      out_ += name;
      out_ += '>';
    }
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool content(const Json& v, int depth, const Path* path) {
    if (v.is_object()) {
      for (const auto& [key, value] : v.get_ref<const Object&>()) {
        if (!key.empty() && key[0] == '@') continue;
        Path here{path, key, 0, false};
        if (key == "#text") {
          if (value.is_structured()) {
            return fail(&here, "text must be a string, number, boolean or null");
          }
          if (!scalar(value, false, &here)) return false;
        } else if (value.is_array()) {
          size_t i = 0;
          for (const auto& item : value) {
            Path at{&here, "", i++, true};
            if (!element(key, item, depth + 1, &at)) return false;
          }
        } else if (!element(key, value, depth + 1, &here)) {
          return false;
        }
      }
    } else if (v.is_array()) {
      size_t i = 0;
      for (const auto& item : v) {
        Path at{path, "", i++, true};
        if (!element(options_.item, item, depth + 1, &at)) return false;
      }
    } else {
      return scalar(v, false, path);
    }
    return true;
  }

  bool scalar(const Json& v, bool attribute, const Path* path) {
    if (v.is_string()) return escape(v.get_ref<const std::string&>(), attribute, path);
    if (!v.is_null()) out_ += v.dump();  // numbers and booleans: their JSON text
    return true;
  }

  // Appends s as text or a double-quoted attribute value. Tab, LF and CR in attributes and CR
  // in text are written as references so that the reader's whitespace normalisation gives
  // them back unchanged.
  bool escape(std::string_view s, bool attribute, const Path* path) {
    size_t run = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      const char* ref = nullptr;
      switch (c) {
        case '&':
          ref = "&amp;";
          break;
        case '<':
          ref = "&lt;";
          break;
        case '>':
          ref = "&gt;";
          break;
        case '"':
          if (attribute) ref = "&quot;";
          break;
        case '\t':
          if (attribute) ref = "&#9;";
          break;
        case '\n':
          if (attribute) ref = "&#10;";
          break;
        case '\r':
          ref = "&#13;";
          break;
        default:
          // Controls, and U+FFFE/U+FFFF (EF BF BE/BF): strings from parse_json are valid
          // UTF-8, so nothing else can be outside the Char production.
          if ((c < 0x20 && c != '\t' && c != '\n') ||
              (c == 0xEF && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
               static_cast<unsigned char>(s[i + 2]) >= 0xBE)) {
            return fail(path, bad_chars(s.substr(i)));
          }
          break;
      }
      if (ref) {
        out_.append(s.data() + run, i - run);
        out_ += ref;
        run = i + 1;
      }
    }
    out_.append(s.data() + run, s.size() - run);
    return true;
  }

  bool fail(const Path* path, const std::string& why) {
    error_ = "cannot convert " + (path ? pointer(path) : std::string("the document")) + ": " + why;
    return false;
  }

  const XmlOptions& options_;
  std::string& out_;
  std::string error_;
};

bool json_to_xml_impl(std::string_view json, const XmlOptions& options, std::string& out,
                      std::string* error) {
  auto fail = [&](std::string why) {
    if (error) *error = std::move(why);
    return false;
  };
  if (!is_xml_name(options.root)) {
    return fail("XmlOptions::root " + in_quotes(options.root) + " is not a valid XML name");
  }
  if (!is_xml_name(options.item)) {
    return fail("XmlOptions::item " + in_quotes(options.item) + " is not a valid XML name");
  }
  Json doc;
  if (!parse_json(json, doc, error)) return false;
  out = R"(<?xml version="1.0" encoding="UTF-8"?>)";
  XmlWriter writer(options, out);
  bool ok;
  const Object* obj = doc.is_object() ? &doc.get_ref<const Object&>() : nullptr;
  if (obj && obj->size() == 1 && !obj->front().first.empty() && obj->front().first[0] != '@' &&
      obj->front().first != "#text" && !obj->front().second.is_array()) {
    const auto& [name, value] = obj->front();
    Path path{nullptr, name, 0, false};
    ok = writer.element(name, value, 1, &path);
  } else {
    ok = writer.element(options.root, doc, 1, nullptr);
  }
  return ok || fail(writer.error());
}

}  // namespace

bool json_to_xml(std::string_view json, const XmlOptions& options, std::string& out,
                 std::string* error) {
  try {
    return json_to_xml_impl(json, options, out, error);
  } catch (const std::exception& e) {  // std::bad_alloc is the only one expected
    if (error) *error = std::string("cannot convert JSON to XML: ") + e.what();
  } catch (...) {
    if (error) *error = "cannot convert JSON to XML: unknown error";
  }
  return false;
}

}  // namespace sluice::transform
