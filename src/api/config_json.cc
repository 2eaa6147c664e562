#include "api/config_json.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <unordered_set>

namespace sluice::api {
namespace {

bool is_json_integer(std::string_view s) {
  size_t i = s.starts_with('-') ? 1 : 0;
  if (i >= s.size()) return false;
  if (s[i] == '0') return i + 1 == s.size();
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// A plain scalar's JSON value: see the header for the rules.
Json plain_scalar(std::string_view s) {
  if (s.empty() || s == "~" || s == "null") return nullptr;
  if (s == "true") return true;
  if (s == "false") return false;
  const std::string text(s);
  if (is_json_integer(s) && s.size() <= 20) {
    errno = 0;
    char* end = nullptr;
    if (s.starts_with('-')) {
      const long long v = std::strtoll(text.c_str(), &end, 10);
      if (errno == 0 && *end == '\0') return static_cast<int64_t>(v);
    } else {
      const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
      if (errno == 0 && *end == '\0') return static_cast<uint64_t>(v);
    }
    return text;
  }
  const char c = s.front();
  if ((c == '-' || (c >= '0' && c <= '9')) &&
      s.find_first_not_of("-+.eE0123456789") == std::string_view::npos) {
    char* end = nullptr;
    const double d = std::strtod(text.c_str(), &end);
    // Only when JSON writes the number back the same way: "1.50" stays the text it was.
    if (*end == '\0' && std::isfinite(d) && Json(d).dump() == text) return d;
  }
  return text;
}

class Converter {
 public:
  Converter(std::string* error, size_t max_values) : error_(error), max_values_(max_values) {}

  std::optional<Json> convert(const config::Node& n) {
    if (++values_ > max_values_) {
      return fail(n, "the document expands to more than " + std::to_string(max_values_) +
                         " values (aliases)");
    }
    switch (n.type()) {
      case config::NodeType::kUndefined:
      case config::NodeType::kNull:
        return Json(nullptr);
      case config::NodeType::kScalar:
        return n.quoted() ? Json(std::string(n.scalar())) : plain_scalar(n.scalar());
      case config::NodeType::kSequence: {
        Json out = Json::array();
        for (size_t i = 0; i < n.size(); ++i) {
          std::optional<Json> v = convert(n.at(i));
          if (!v) return std::nullopt;
          out.push_back(std::move(*v));
        }
        return out;
      }
      case config::NodeType::kMap: {
        Json out = Json::object();
        std::unordered_set<std::string_view> seen;
        for (size_t i = 0; i < n.size(); ++i) {
          const config::Node k = n.key(i);
          if (!k.is_scalar()) return fail(k, "a map key must be a scalar");
          if (!seen.insert(k.scalar()).second) {
            return fail(k, "duplicate key '" + std::string(k.scalar()) + "'");
          }
          std::optional<Json> v = convert(n.value(i));
          if (!v) return std::nullopt;
          transform::detail::append_member(out.get_ref<Json::object_t&>(), std::string(k.scalar()),
                                           std::move(*v));
        }
        return out;
      }
    }
    return Json(nullptr);
  }

 private:
  std::nullopt_t fail(const config::Node& at, const std::string& what) {
    const config::Mark m = at.mark();
    *error_ = "line " + std::to_string(m.line) + ", column " + std::to_string(m.col) + ": " + what;
    return std::nullopt;
  }

  std::string* error_;
  size_t max_values_;
  size_t values_ = 0;
};

}  // namespace

std::optional<Json> node_to_json(const config::Node& node, std::string* error, size_t max_values) {
  try {
    return Converter(error, max_values).convert(node);
  } catch (const std::exception& e) {
    *error = e.what();
    return std::nullopt;
  }
}

std::optional<Json> yaml_to_json(std::string_view text, std::string* error, size_t max_values) {
  config::ParseResult p = config::parse_document(text);
  if (!p.error.empty()) {
    *error = "line " + std::to_string(p.error_mark.line) + ", column " +
             std::to_string(p.error_mark.col) + ": " + p.error;
    return std::nullopt;
  }
  return node_to_json(p.root, error, max_values);
}

std::string json_to_config_text(const Json& doc) {
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace sluice::api

namespace sluice::api {
namespace {

uint32_t write_node(config::DocumentWriter& w, const Json& j, uint32_t* counter) {
  const config::Mark mark{static_cast<int>(++*counter), 1, 0};
  switch (j.type()) {
    case Json::value_t::null:
      return w.scalar(config::NodeType::kNull, "null", false, mark);
    case Json::value_t::boolean:
      return w.scalar(config::NodeType::kScalar, j.get<bool>() ? "true" : "false", false, mark);
    case Json::value_t::string:
      return w.scalar(config::NodeType::kScalar, j.get_ref<const std::string&>(), true, mark);
    case Json::value_t::array: {
      std::vector<uint32_t> items;
      items.reserve(j.size());
      for (const Json& e : j) items.push_back(write_node(w, e, counter));
      return w.list(mark, items);
    }
    case Json::value_t::object: {
      std::vector<uint32_t> kv;
      kv.reserve(j.size() * 2);
      for (const auto& [k, v] : j.items()) {
        kv.push_back(
            w.scalar(config::NodeType::kScalar, k, true, {static_cast<int>(++*counter), 1, 0}));
        kv.push_back(write_node(w, v, counter));
      }
      return w.map(mark, kv);
    }
    default:  // numbers: as JSON writes them (what json_to_config_text puts in the text)
      return w.scalar(config::NodeType::kScalar, j.dump(), false, mark);
  }
}

}  // namespace

config::Node json_to_node(const Json& doc) {
  config::DocumentWriter w;
  uint32_t counter = 0;
  const uint32_t root = write_node(w, doc, &counter);
  return w.finish(root);
}

}  // namespace sluice::api
