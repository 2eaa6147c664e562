#include "transform/json_parse.h"

#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice::transform {
namespace {

using Object = Json::object_t;
using Members = Object::Container;  // the vector under ordered_map: appends without a lookup

// Objects up to this size find a repeated member by a linear scan; bigger ones get a hash
// index so that a body with 100k members parses in linear time, not quadratic.
constexpr size_t kLinearMembers = 16;

// Keeps nlohmann's message but not its "[json.exception...] parse error at line 1, column 9: "
// preamble (we give a byte offset), shortens the echoed token and masks bytes that do not
// belong in a log line.
std::string clean_message(std::string what) {
  if (!what.empty() && what[0] == '[') {
    size_t p = what.find("] ");
    if (p != std::string::npos) what.erase(0, p + 2);
  }
  if (what.rfind("parse error", 0) == 0) {
    size_t p = what.find(": ");
    if (p != std::string::npos) what.erase(0, p + 2);
  }
  constexpr std::string_view kLastRead = "last read: '";
  size_t lr = what.find(kLastRead);
  if (lr != std::string::npos) {
    size_t start = lr + kLastRead.size();
    size_t end = what.find('\'', start);
    constexpr size_t kKeep = 32;
    if (end != std::string::npos && end - start > kKeep) {
      what.replace(start, end - start - kKeep, "...");
    }
  }
  for (char& c : what) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return what;
}

// The first byte at which text opens its (kMaxDepth + 1)-th nested container. Only run after
// the builder refused a level (the SAX interface reports no position for start_object).
size_t too_deep_offset(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return text.size();
}

// Builds an ordered_json DOM like nlohmann's json_sax_dom_parser, plus a depth limit, plus
// linear-time handling of big objects (ordered_map's own insert scans every member).
class Builder {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  explicit Builder(Json& root) : root_(root) {}

  bool null() { return put(nullptr); }
  bool boolean(bool v) { return put(v); }
  bool number_integer(number_integer_t v) { return put(v); }
  bool number_unsigned(number_unsigned_t v) { return put(v); }
  bool number_float(number_float_t v, const string_t&) { return put(v); }
  bool string(string_t& v) { return put(std::move(v)); }
  bool binary(binary_t&) { return false; }  // JSON text has none

  bool start_object(size_t) { return open(Json::object()); }
  bool start_array(size_t) { return open(Json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(string_t& k) {
    Level& level = levels_.back();
    Members& members = level.node->get_ref<Object&>();
    if (level.index) {
      auto [it, inserted] = level.index->try_emplace(k, members.size());
      if (!inserted) return slot(members[it->second].second);
    } else {
      for (auto& m : members) {
        if (m.first == k) return slot(m.second);
      }
      if (members.size() == kLinearMembers) {
        level.index = std::make_unique<std::unordered_map<std::string, size_t>>();
        for (size_t i = 0; i < members.size(); ++i) level.index->emplace(members[i].first, i);
        level.index->emplace(k, members.size());
      }
    }
    return slot(detail::append_member(*level.node->get_ptr<Object*>(), std::move(k), nullptr));
  }

  bool parse_error(size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    error_position_ = position > 0 ? position - 1 : 0;  // nlohmann counts from 1
    error_ = clean_message(ex.what());
    return false;
  }

  bool too_deep() const { return too_deep_; }
  size_t error_position() const { return error_position_; }
  const std::string& error() const { return error_; }

 private:
  struct Level {
    Json* node;
    std::unique_ptr<std::unordered_map<std::string, size_t>> index;  // objects past kLinearMembers
  };

  bool slot(Json& v) {
    pending_ = &v;
    return true;
  }

  // Where the next value goes: the root, the end of the open array, or the member just keyed.
  Json* place(Json&& v) {
    if (levels_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Json* top = levels_.back().node;
    if (top->is_array()) {
      auto& arr = top->get_ref<Json::array_t&>();
      arr.push_back(std::move(v));
      return &arr.back();
    }
    *pending_ = std::move(v);
    return pending_;
  }

  bool put(Json&& v) {
    place(std::move(v));
    return true;
  }

  bool open(Json&& container) {
    if (levels_.size() >= static_cast<size_t>(kMaxDepth)) {
      too_deep_ = true;
      return false;
    }
    levels_.push_back(Level{place(std::move(container)), nullptr});
    return true;
  }

  bool close() {
    levels_.pop_back();
    return true;
  }

  Json& root_;
  std::vector<Level> levels_;
  Json* pending_ = nullptr;
  bool too_deep_ = false;
  size_t error_position_ = 0;
  std::string error_;
};

}  // namespace

bool parse_json(std::string_view text, Json& out, std::string* error) {
  try {
    out = nullptr;
    Builder builder(out);
    if (Json::sax_parse(text.begin(), text.end(), &builder)) return true;
    if (error) {
      if (builder.too_deep()) {
        *error = "invalid JSON at byte " + std::to_string(too_deep_offset(text)) +
                 ": nesting too deep (more than " + std::to_string(kMaxDepth) + " levels)";
      } else {
        *error = "invalid JSON at byte " + std::to_string(builder.error_position()) + ": " +
                 builder.error();
      }
    }
  } catch (const std::exception& e) {  // only std::bad_alloc is expected here
    if (error) *error = std::string("cannot parse JSON: ") + e.what();
  } catch (...) {
    if (error) *error = "cannot parse JSON: unknown error";
  }
  out = nullptr;
  return false;
}

namespace detail {

Json& append_member(Json::object_t& object, std::string key, Json value) {
  Members& members = object;
  if (members.size() == members.capacity()) {
    Members grown;
    grown.reserve(members.empty() ? 4 : 2 * members.size());
    for (auto& m : members) grown.emplace_back(m.first, std::move(m.second));
    members = std::move(grown);  // takes the buffer: no element is copied or moved
  }
  members.emplace_back(std::move(key), std::move(value));
  return members.back().second;
}

}  // namespace detail

std::string dump_json(const Json& doc) {
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace sluice::transform
