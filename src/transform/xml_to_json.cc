#include <charconv>
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <pugixml.hpp>
#include <string>
#include <unordered_map>
#include <unordered_set>
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
using Members = Object::Container;

// Sibling groups and attribute sets up to this size are searched linearly; bigger ones get a
// hash table, so hostile documents with many siblings stay linear.
constexpr size_t kLinear = 16;

constexpr unsigned kParseOptions = pugi::parse_cdata | pugi::parse_escapes | pugi::parse_eol |
                                   pugi::parse_wconv_attribute | pugi::parse_ws_pcdata_single |
                                   pugi::parse_declaration | pugi::parse_doctype;

// pugixml stores strings NUL-terminated, so a NUL byte or a character reference to U+0000
// (which it decodes, like &#4294967296; that wraps around to 0) would silently cut a value.
// Both are illegal XML: find them first. The reference syntax mirrors pugixml's decoder;
// comments, CDATA sections and processing instructions, where '&' is not special, are skipped.
size_t find_nul(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\0') return i;
    if (c == '<') {
      static constexpr std::pair<std::string_view, std::string_view> kSkip[] = {
          {"<!--", "-->"}, {"<![CDATA[", "]]>"}, {"<?", "?>"}};
      for (const auto& [open, close] : kSkip) {
        if (s.substr(i, open.size()) != open) continue;
        const size_t end = s.find(close, i + open.size());
        const size_t nul = s.substr(0, end).find('\0', i);  // only up to the end: stays linear
        if (nul != std::string_view::npos || end == std::string_view::npos) return nul;
        i = end + close.size() - 1;
        break;
      }
    } else if (c == '&' && i + 1 < s.size() && s[i + 1] == '#') {
      const bool hex = i + 2 < s.size() && s[i + 2] == 'x';
      size_t k = i + (hex ? 3 : 2);
      uint32_t value = 0;
      size_t digits = 0;
      for (; k < s.size(); ++k, ++digits) {
        const char d = s[k];
        if (d >= '0' && d <= '9') {
          value = value * (hex ? 16 : 10) + static_cast<uint32_t>(d - '0');
        } else if (hex && ((d | ' ') >= 'a' && (d | ' ') <= 'f')) {
          value = value * 16 + static_cast<uint32_t>((d | ' ') - 'a' + 10);
        } else {
          break;
        }
      }
      if (digits > 0 && k < s.size() && s[k] == ';' && value == 0) return i;
    }
  }
  return std::string_view::npos;
}

bool is_space(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

// JSON number grammar, then a value that converts back to the same kind of text: integers
// that fit 64 bits, finite normal doubles. Anything else stays a string.
Json infer(std::string&& s) {
  if (s == "true") return true;
  if (s == "false") return false;
  size_t i = 0;
  const size_t n = s.size();
  auto digits = [&] {
    size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return std::move(s);
  }
  bool integer = true;
  if (i < n && s[i] == '.') {
    ++i;
    integer = false;
    if (!digits()) return std::move(s);
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    integer = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return std::move(s);
  }
  if (i != n) return std::move(s);
  const char* first = s.data();
  const char* last = s.data() + n;
  if (integer && s[0] == '-') {
    int64_t v = 0;
    if (std::from_chars(first, last, v).ec == std::errc()) return v;
  } else if (integer) {
    uint64_t v = 0;
    if (std::from_chars(first, last, v).ec == std::errc()) return v;
  } else {
    double v = 0;
    auto r = std::from_chars(first, last, v);
    if (r.ec == std::errc() && std::isfinite(v) && std::fpclassify(v) != FP_SUBNORMAL) return v;
  }
  return std::move(s);
}

class JsonBuilder {
 public:
  explicit JsonBuilder(const XmlOptions& options) : options_(options) {}

  // The value of element el at element depth `depth` (the root is 1) into out, where
  // `enclosing` containers of the JSON output already surround out.
  bool element(pugi::xml_node el, int depth, int enclosing, Json& out) {
    if (depth > kMaxDepth) return fail(el, "XML " + too_deep());
    bool has_elements = false;
    for (pugi::xml_node c = el.first_child(); c; c = c.next_sibling()) {
      if (c.type() == pugi::node_element) {
        has_elements = true;
        break;
      }
    }
    if (!has_elements && !el.first_attribute()) {  // null or a string
      std::string text;
      for (pugi::xml_node c = el.first_child(); c; c = c.next_sibling()) {
        if (!append_text(c, text)) return false;
      }
      out = text.empty() ? Json() : value(std::move(text));
      return true;
    }
    if (enclosing + 1 > kMaxDepth) return fail(el, "JSON " + too_deep());
    if (scratch_.size() < static_cast<size_t>(depth)) scratch_.resize(static_cast<size_t>(depth));
    Scratch& s = scratch_[static_cast<size_t>(depth) - 1];
    if (has_elements) {
      if (!group_children(el, s)) return false;
    } else {
      s.groups.clear();
    }
    out = Json::object();
    Members& members = out.get_ref<Object&>();
    // Exactly enough room (attributes, one member per name, "#text"): a growing vector of
    // pair<const string, Json> would copy the subtrees already converted.
    size_t attribute_count = 0;
    for (pugi::xml_attribute a = el.first_attribute(); a; a = a.next_attribute()) ++attribute_count;
    members.reserve(attribute_count + s.groups.size() + 1);
    if (!attributes(el, members)) return false;

    std::string text;
    size_t text_member = SIZE_MAX;
    size_t next_child = 0;
    for (pugi::xml_node c = el.first_child(); c; c = c.next_sibling()) {
      if (c.type() == pugi::node_element) {
        Group& g = s.groups[s.child_group[next_child++]];
        if (g.count == 1) {
          members.emplace_back(c.name(), nullptr);
          if (!element(c, depth + 1, enclosing + 1, members.back().second)) return false;
          continue;
        }
        if (g.member == SIZE_MAX) {
          if (enclosing + 2 > kMaxDepth) return fail(c, "JSON " + too_deep());
          g.member = members.size();
          members.emplace_back(c.name(), Json::array());
        }
        auto& arr = members[g.member].second.get_ref<Json::array_t&>();
        arr.emplace_back();
        if (!element(c, depth + 1, enclosing + 2, arr.back())) return false;
      } else if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
        // Whitespace between child elements is layout, whatever node it came in.
        if (has_elements && is_space(c.value())) continue;
        if (*c.value() == '\0') continue;
        if (text_member == SIZE_MAX) {
          text_member = members.size();
          members.emplace_back("#text", nullptr);
        }
        if (!append_text(c, text)) return false;
      }
    }
    if (text_member != SIZE_MAX) members[text_member].second = value(std::move(text));
    return true;
  }

  bool fail(pugi::xml_node at, const std::string& why) {
    error_ = why;
    ptrdiff_t offset = at ? at.offset_debug() : -1;
    if (offset >= 0) error_ += " at byte " + std::to_string(offset);
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  struct Group {
    const char* name;
    size_t count;
    size_t member;  // index of its array member once created
  };
  // Per element depth, reused by every element at that depth (they are visited one after
  // another), so a document allocates these once per level rather than once per element.
  struct Scratch {
    std::vector<Group> groups;
    std::vector<uint32_t> child_group;  // the group of each child element, in order
    std::unique_ptr<std::unordered_map<std::string_view, uint32_t>> index;
  };

  Json value(std::string&& text) {
    return options_.infer_types ? infer(std::move(text)) : Json(std::move(text));
  }

  bool append_text(pugi::xml_node c, std::string& text) {
    if (c.type() != pugi::node_pcdata && c.type() != pugi::node_cdata) return true;
    std::string_view v = c.value();
    std::string why = bad_chars(v);
    if (!why.empty()) return fail(c, why + " in text");
    text.append(v);
    return true;
  }

  bool attributes(pugi::xml_node el, Members& members) {
    size_t count = 0;
    std::unordered_set<std::string_view> seen;  // only filled past kLinear attributes
    for (pugi::xml_attribute a = el.first_attribute(); a; a = a.next_attribute(), ++count) {
      std::string_view name = a.name();
      if (!is_xml_name(name)) {
        return fail(el, in_quotes(name) + " is not a valid XML attribute name");
      }
      bool duplicate = false;
      if (count < kLinear) {
        for (pugi::xml_attribute b = el.first_attribute(); b != a; b = b.next_attribute()) {
          if (name == b.name()) duplicate = true;
        }
      } else {
        if (seen.empty()) {
          for (pugi::xml_attribute b = el.first_attribute(); b != a; b = b.next_attribute()) {
            seen.insert(b.name());
          }
        }
        duplicate = !seen.insert(name).second;
      }
      if (duplicate) return fail(el, "duplicate attribute " + in_quotes(name));
      std::string_view v = a.value();
      std::string why = bad_chars(v);
      if (!why.empty()) return fail(el, why + " in attribute " + in_quotes(name));
      std::string key;
      key.reserve(name.size() + 1);
      key += '@';
      key += name;
      members.emplace_back(std::move(key), value(std::string(v)));
    }
    return true;
  }

  // Counts the child elements of each name, in order of first appearance, so that a repeated
  // name becomes an array at the position of its first element.
  bool group_children(pugi::xml_node el, Scratch& s) {
    s.groups.clear();
    s.child_group.clear();
    if (s.index) s.index->clear();
    for (pugi::xml_node c = el.first_child(); c; c = c.next_sibling()) {
      if (c.type() != pugi::node_element) continue;
      std::string_view name = c.name();
      if (!is_xml_name(name)) return fail(c, in_quotes(name) + " is not a valid XML element name");
      uint32_t g = UINT32_MAX;
      if (s.groups.size() <= kLinear) {
        for (uint32_t k = 0; k < s.groups.size(); ++k) {
          if (name == s.groups[k].name) {
            g = k;
            break;
          }
        }
      } else {
        if (!s.index) s.index = std::make_unique<std::unordered_map<std::string_view, uint32_t>>();
        if (s.index->empty()) {
          for (uint32_t k = 0; k < s.groups.size(); ++k) s.index->emplace(s.groups[k].name, k);
        }
        auto it = s.index->find(name);
        if (it != s.index->end()) g = it->second;
      }
      if (g == UINT32_MAX) {
        g = static_cast<uint32_t>(s.groups.size());
        s.groups.push_back(Group{c.name(), 0, SIZE_MAX});
        if (s.index && !s.index->empty()) s.index->emplace(name, g);
      }
      ++s.groups[g].count;
      s.child_group.push_back(g);
    }
    return true;
  }

  const XmlOptions& options_;
  std::deque<Scratch> scratch_;  // a deque: growing it keeps references to its entries
  std::string error_;
};

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | ' ') != (b[i] | ' ')) return false;
  }
  return true;
}

bool xml_to_json_impl(std::string_view xml, const XmlOptions& options, std::string& out,
                      std::string* error) {
  auto fail = [&](std::string why) {
    if (error) *error = std::move(why);
    return false;
  };
  if (xml.size() >= 2 &&
      ((xml[0] == '\xFE' && xml[1] == '\xFF') || (xml[0] == '\xFF' && xml[1] == '\xFE'))) {
    return fail("invalid XML: only UTF-8 is supported (this is UTF-16 or UTF-32)");
  }
  size_t nul = find_nul(xml);
  if (nul != std::string_view::npos)
    return fail("invalid XML at byte " + std::to_string(nul) + ": U+0000 is not allowed in XML");
  pugi::xml_document doc;
  pugi::xml_parse_result parsed =
      doc.load_buffer(xml.data(), xml.size(), kParseOptions, pugi::encoding_utf8);
  if (!parsed) {
    return fail("invalid XML at byte " + std::to_string(parsed.offset) + ": " +
                parsed.description());
  }
  JsonBuilder builder(options);
  pugi::xml_node root;
  for (pugi::xml_node c = doc.first_child(); c; c = c.next_sibling()) {
    switch (c.type()) {
      case pugi::node_declaration: {
        if (c != doc.first_child()) {
          builder.fail(c, "XML declaration after the start");
          return fail("invalid XML: " + builder.error());
        }
        std::string_view enc = c.attribute("encoding").value();
        if (!enc.empty() && !equals_ignore_case(enc, "UTF-8") &&
            !equals_ignore_case(enc, "US-ASCII")) {
          return fail("invalid XML: unsupported encoding " + in_quotes(enc) + " (only UTF-8)");
        }
        break;
      }
      case pugi::node_doctype:
        builder.fail(c, "DOCTYPE is not allowed (DTDs and entities are never processed)");
        return fail("invalid XML: " + builder.error());
      case pugi::node_element:
        if (root) {
          builder.fail(c, "more than one root element");
          return fail("invalid XML: " + builder.error());
        }
        root = c;
        break;
      case pugi::node_pcdata:
      case pugi::node_cdata:
        builder.fail(c, "text outside the root element");
        return fail("invalid XML: " + builder.error());
      default:  // comments and processing instructions are dropped
        break;
    }
  }
  if (!root) return fail("invalid XML: no root element");
  if (!is_xml_name(root.name())) {
    builder.fail(root, in_quotes(root.name()) + " is not a valid XML element name");
    return fail("invalid XML: " + builder.error());
  }
  Json top = Json::object();
  Members& members = top.get_ref<Object&>();
  members.emplace_back(root.name(), nullptr);
  if (!builder.element(root, 1, 1, members.back().second)) {
    return fail("cannot convert XML: " + builder.error());
  }
  out = dump_json(top);
  return true;
}

}  // namespace

bool xml_to_json(std::string_view xml, const XmlOptions& options, std::string& out,
                 std::string* error) {
  try {
    return xml_to_json_impl(xml, options, out, error);
  } catch (const std::exception& e) {
    if (error) *error = std::string("cannot convert XML to JSON: ") + e.what();
  } catch (...) {
    if (error) *error = "cannot convert XML to JSON: unknown error";
  }
  return false;
}

}  // namespace sluice::transform
