#include "api/diff.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace sluice::api {
namespace {

// Members of a map whose values differ, in the order of `to` and then of `from`.
Json changed_keys(const Json& from, const Json& to) {
  Json keys = Json::array();
  if (!from.is_object() || !to.is_object()) return keys;
  for (const auto& [k, v] : to.items()) {
    auto it = from.find(k);
    if (it == from.end() || *it != v) keys.push_back(k);
  }
  for (const auto& [k, v] : from.items()) {
    if (!to.contains(k)) keys.push_back(k);
  }
  return keys;
}

Json entry(std::string_view kind, std::string_view name) {
  Json e = Json::object();
  e["kind"] = kind;
  e["name"] = name;
  return e;
}

// A list of maps each with a string "name", and no name twice.
bool named_list(const Json& v) {
  if (!v.is_array()) return false;
  std::unordered_set<std::string_view> names;
  for (const Json& e : v) {
    if (!e.is_object()) return false;
    auto n = e.find("name");
    if (n == e.end() || !n->is_string()) return false;
    if (!names.insert(n->get_ref<const std::string&>()).second) return false;
  }
  return true;
}

// A named list's entries by name (views into the list).
std::unordered_map<std::string_view, const Json*> by_name(const Json& list) {
  std::unordered_map<std::string_view, const Json*> out;
  out.reserve(list.size());
  for (const Json& e : list) out.emplace(e["name"].get_ref<const std::string&>(), &e);
  return out;
}

}  // namespace

bool is_collection(std::string_view key) {
  return std::find(kCollections.begin(), kCollections.end(), key) != kCollections.end();
}

Json diff_configs(const Json& from, const Json& to) {
  static const Json kNone = nullptr;
  static const Json kEmptyList = Json::array();
  Json added = Json::array();
  Json removed = Json::array();
  Json changed = Json::array();
  const auto get = [](const Json& doc, const std::string& k) -> const Json& {
    if (!doc.is_object()) return kNone;
    auto it = doc.find(k);
    return it == doc.end() ? kNone : *it;
  };
  std::vector<std::string> keys;
  for (const Json* doc : {&to, &from}) {
    if (!doc->is_object()) continue;
    for (const auto& [k, v] : doc->items()) {
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
  }
  for (const std::string& k : keys) {
    const Json& a = get(from, k);
    const Json& b = get(to, k);
    if (is_collection(k) && (a.is_null() || named_list(a)) && (b.is_null() || named_list(b))) {
      const Json& la = a.is_null() ? kEmptyList : a;
      const Json& lb = b.is_null() ? kEmptyList : b;
      const auto old_by_name = by_name(la);
      const auto new_by_name = by_name(lb);
      for (const Json& e : lb) {
        const std::string& name = e["name"].get_ref<const std::string&>();
        auto old = old_by_name.find(name);
        if (old == old_by_name.end()) {
          added.push_back(entry(k, name));
        } else if (*old->second != e) {
          Json c = entry(k, name);
          c["keys"] = changed_keys(*old->second, e);
          changed.push_back(std::move(c));
        }
      }
      for (const Json& e : la) {
        const std::string& name = e["name"].get_ref<const std::string&>();
        if (!new_by_name.contains(name)) removed.push_back(entry(k, name));
      }
      continue;
    }
    if (a == b) continue;
    if (a.is_null() && !from.contains(k)) {
      added.push_back(entry("section", k));
    } else if (b.is_null() && !to.contains(k)) {
      removed.push_back(entry("section", k));
    } else {
      Json c = entry("section", k);
      c["keys"] = changed_keys(a, b);
      changed.push_back(std::move(c));
    }
  }
  Json out = Json::object();
  out["added"] = std::move(added);
  out["removed"] = std::move(removed);
  out["changed"] = std::move(changed);
  return out;
}

}  // namespace sluice::api
