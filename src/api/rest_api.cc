#include "api/rest_api.h"

#include <cstdio>
#include <optional>
#include <string>

#include "api/diff.h"
#include "api/explain.h"
#include "api/openapi.h"
#include "config/history.h"
#include "core/clock.h"
#include "http/char_class.h"
#include "http/header.h"

namespace sluice::api {
namespace {

constexpr std::string_view kPrefix = "/api/v1/";

std::optional<uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::string etag(uint64_t version) {
  return "\"" + std::to_string(version) + "\"";
}

// If-Match: absent or "*" matches; else one of the listed entity tags must be the version's
// (weak "W/" prefixes are ignored; a bare number is accepted too).
bool if_match_ok(std::string_view header, uint64_t version) {
  if (header.empty()) return true;
  const std::string want = std::to_string(version);
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') {
      tag = tag.substr(1, tag.size() - 2);
    }
    if (tag == want) return true;
  }
  return false;
}

std::string author_of(const Request& req) {
  std::string out;
  for (char c : req.author.substr(0, 64)) {
    out += (c >= 0x21 && c <= 0x7e) || c == ' ' ? c : '?';
  }
  return out.empty() ? "api" : out;
}

Response json_response(int status, const Json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  return r;
}

Json errors_json(const std::vector<config::ConfigError>& errors) {
  Json list = Json::array();
  for (const config::ConfigError& e : errors) {
    Json item = Json::object();
    item["path"] = e.key;
    item["message"] = e.message;
    list.push_back(std::move(item));
  }
  return list;
}

// The request body as a document: YAML when the Content-Type says so, strict JSON otherwise.
std::optional<Json> parse_body(const Request& req, Response* error) {
  std::string err;
  std::optional<Json> doc;
  if (req.content_type.find("yaml") != std::string_view::npos) {
    doc = yaml_to_json(req.body, &err);
  } else {
    Json j;
    if (transform::parse_json(req.body, j, &err)) doc = std::move(j);
  }
  if (!doc) *error = error_response(400, "the body is not a valid document: " + err);
  return doc;
}

// The collection's list in doc (empty when it has none).
const Json& list_of_ref(const Json& doc, std::string_view kind) {
  static const Json kEmpty = Json::array();
  auto it = doc.find(kind);
  return it == doc.end() || !it->is_array() ? kEmpty : *it;
}

Json list_of(const Json& doc, std::string_view kind) {
  return list_of_ref(doc, kind);
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = http::hex_value(s[i + 1]);
    const int lo = http::hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Response error_response(int status, std::string_view message) {
  Json body = Json::object();
  body["error"] = message;
  return json_response(status, body);
}

Response RestApi::with_etag(Response r) {
  r.headers.emplace_back("etag", etag(gateway_.version()));
  return r;
}

Response RestApi::etcd_only() {
  return with_etag(error_response(
      409,
      "with config_source etcd the config is the files and etcd's objects: change objects "
      "one by one (PUT, PATCH or DELETE /api/v1/{kind}/{name}), or edit the files"));
}

Response RestApi::etcd_write(const Request& req, std::string_view kind, std::string_view name,
                             std::optional<std::string> json, bool exists) {
  proxy::EtcdSync& etcd = *gateway_.etcd();
  const proxy::EtcdSync::Change change{std::string(kind), std::string(name), std::move(json)};
  const std::string what = std::string(kind) + " '" + std::string(name) + "'";
  if (!change.json && !etcd.holds(change.kind, change.name)) {
    if (!exists) return error_response(404, "no " + what);
    return with_etag(error_response(409, what + " is defined in the config files, not in etcd: "
                                                "remove it there"));
  }
  const std::string author = author_of(req);
  proxy::ReloadOutcome r = gateway_.check_etcd(change);
  if (r.ok) {
    std::string err;
    if (!etcd.write(change, &err)) {
      std::fprintf(stderr, "admin api: %.*s %.*s by %s: etcd: %s\n",
                   static_cast<int>(req.method.size()), req.method.data(),
                   static_cast<int>(req.path.size()), req.path.data(), author.c_str(), err.c_str());
      return with_etag(error_response(503, "etcd: " + err));
    }
    r = gateway_.apply_etcd(author);
  }
  Json extra = Json::object();
  extra["etcd_revision"] = etcd.revision();
  const bool created = !exists && change.json;
  return written(req, author, r, created ? 201 : 200,
                 "written to etcd (revision " + std::to_string(etcd.revision()) + "); ",
                 std::move(extra));
}

void RestApi::forget_idle(uint64_t now_ms) {
  if (cached_ && now_ms - cache_used_ms_ > kCacheIdleMs) cached_.reset();
}

bool RestApi::explains(const Request& req) {
  if (!req.query.empty()) return true;
  const router::Router& r = *gateway_.current()->router;
  for (size_t i = 0; i < r.size(); ++i) {
    if (r.route(i).name == "explain") return false;  // GET of the route named explain
  }
  return true;
}

Response RestApi::handle(const Request& req) {
  std::string_view rest = req.path.substr(kPrefix.size());
  const bool writes = req.method == "PUT" || req.method == "PATCH" || req.method == "DELETE" ||
                      (req.method == "POST" && rest != "config/validate");
  if (writes && !if_match_ok(req.if_match, gateway_.version())) {
    return with_etag(error_response(412, "If-Match " + std::string(req.if_match) +
                                             " does not name the version in force, " +
                                             etag(gateway_.version())));
  }
  if (rest == "openapi.json") return with_etag(openapi_response(req));
  if (rest == "routes/explain" && req.method == "GET" && explains(req)) {
    return with_etag(explain_response(*gateway_.current(), req.query));
  }
  if (rest == "config" || rest == "config/validate") return config(req);
  if (rest == "config/versions" || rest.starts_with("config/versions/")) {
    return versions(req, rest.substr(std::string_view("config/versions").size()));
  }
  if (rest == "config/diff") return diff(req);
  if (rest == "config/rollback") return rollback(req);
  const size_t slash = rest.find('/');
  const std::string_view kind = rest.substr(0, slash);
  if (!is_collection(kind)) return error_response(404, "no such endpoint");
  if (slash == std::string_view::npos) return collection(req, kind, {});
  std::optional<std::string> name = percent_decode(rest.substr(slash + 1));
  if (!name || name->empty() || name->find('/') != std::string::npos) {
    return error_response(404, "no such object");
  }
  return collection(req, kind, *name);
}

const Json* RestApi::current(Response* error) {
  // The document of the version in force, converted once per version (a 10,000-route config
  // is a megabyte of YAML to read again for every call otherwise).
  const uint64_t version = gateway_.version();
  cache_used_ms_ = core::monotonic_ms();
  if (cached_ && cached_version_ == version) return &*cached_;
  cached_.reset();
  std::optional<std::string> text = gateway_.current_text();
  if (!text) {
    *error = error_response(503, "the text of the config in force cannot be read");
    return nullptr;
  }
  std::string err;
  cached_ = yaml_to_json(*text, &err);
  if (!cached_) {
    *error = error_response(500, "the config in force cannot be converted: " + err);
    return nullptr;
  }
  cached_version_ = version;
  return &*cached_;
}

std::optional<Json> RestApi::version_doc(uint64_t version, Response* error) {
  const config::History* h = gateway_.history();
  std::optional<std::string> text = h != nullptr ? h->text(version) : std::nullopt;
  if (!text) {
    *error = error_response(404, "no version " + std::to_string(version) + " in the history");
    return std::nullopt;
  }
  std::string err;
  std::optional<Json> doc = yaml_to_json(*text, &err);
  if (!doc) *error = error_response(500, "version " + std::to_string(version) + ": " + err);
  return doc;
}

Response RestApi::write(const Request& req, Json doc, int created_status) {
  if (!doc.is_object()) return error_response(400, "the config must be a JSON object");
  const std::string text = json_to_config_text(doc);
  Response r =
      apply(req, text, proxy::ConfigOrigin{"api", author_of(req), "json", 0}, created_status, &doc);
  if (r.status == created_status) {
    // What was applied is the document of the new version (JSON text reads back as itself).
    cached_ = std::move(doc);
    cached_version_ = gateway_.version();
  }
  return r;
}

Response RestApi::apply(const Request& req, const std::string& text,
                        const proxy::ConfigOrigin& origin, int ok_status, const Json* doc) {
  proxy::ReloadOutcome r = doc != nullptr ? gateway_.apply_tree(json_to_node(*doc), text, origin)
                                          : gateway_.apply(text, origin);
  Json extra = Json::object();
  if (origin.rollback_of != 0) extra["rollback_of"] = origin.rollback_of;
  return written(req, origin.author, r, ok_status, "", std::move(extra));
}

Response RestApi::written(const Request& req, const std::string& author,
                          const proxy::ReloadOutcome& r, int ok_status, const std::string& how,
                          Json extra) {
  std::fprintf(stderr, "admin api: %.*s %.*s by %s: %s\n", static_cast<int>(req.method.size()),
               req.method.data(), static_cast<int>(req.path.size()), req.path.data(),
               author.c_str(),
               r.ok ? (how + "version " + std::to_string(r.version) + " in force").c_str()
                    : ("refused, " + std::to_string(r.errors.size()) + " error(s)").c_str());
  Json body = Json::object();
  body["version"] = r.version;
  if (!r.ok) {
    body["errors"] = errors_json(r.errors);
    return with_etag(json_response(400, body));
  }
  body["hash"] = r.hash;
  for (auto& [k, v] : extra.items()) body[k] = v;
  body["warnings"] = r.warnings;
  return with_etag(json_response(ok_status, body));
}

Response RestApi::config(const Request& req) {
  const bool validate = req.path.ends_with("/validate");
  if (validate ? req.method != "POST" : (req.method != "GET" && req.method != "PUT")) {
    return error_response(405, validate ? "use POST" : "use GET or PUT");
  }
  Response err;
  if (req.method == "GET") {
    const Json* doc = current(&err);
    return doc != nullptr ? with_etag(json_response(200, *doc)) : err;
  }
  std::optional<Json> doc = parse_body(req, &err);
  if (!doc) return err;
  if (!validate && gateway_.etcd() != nullptr) return etcd_only();
  if (!validate) return write(req, std::move(*doc));
  if (!doc->is_object()) return error_response(400, "the config must be a JSON object");
  proxy::ReloadOutcome r = gateway_.check(json_to_config_text(*doc), "api");
  Json body = Json::object();
  body["ok"] = r.ok;
  if (r.ok) {
    body["hash"] = r.hash;
  } else {
    body["errors"] = errors_json(r.errors);
  }
  return with_etag(json_response(r.ok ? 200 : 400, body));
}

Response RestApi::versions(const Request& req, std::string_view rest) {
  if (req.method != "GET") return error_response(405, "use GET");
  const config::History* h = gateway_.history();
  if (h == nullptr) return error_response(404, "no history");
  const auto meta = [](const config::VersionRecord& r) {
    Json j;
    transform::parse_json(config::version_meta(r), j, nullptr);
    return j;
  };
  if (rest.empty()) {
    Json list = Json::array();
    for (const config::VersionRecord& r : h->records()) list.push_back(meta(r));
    Json body = Json::object();
    body["current"] = gateway_.version();
    body["versions"] = std::move(list);
    return with_etag(json_response(200, body));
  }
  std::optional<uint64_t> v = parse_u64(rest.substr(1));
  const config::VersionRecord* r = v ? h->find(*v) : nullptr;
  if (r == nullptr) return error_response(404, "no such version in the history");
  Response err;
  std::optional<Json> doc = version_doc(r->version, &err);
  if (!doc) return err;
  Json body = meta(*r);
  body["config"] = std::move(*doc);
  return with_etag(json_response(200, body));
}

Response RestApi::diff(const Request& req) {
  if (req.method != "GET") return error_response(405, "use GET");
  const config::History* h = gateway_.history();
  if (h == nullptr) return error_response(404, "no history");
  const auto param = [&](std::string_view name, uint64_t fallback) -> std::optional<uint64_t> {
    const std::string_view p = http::query_param(req.query, name);  // digits: no decoding
    return p.empty() ? std::optional<uint64_t>(fallback) : parse_u64(p);
  };
  std::optional<uint64_t> to = param("to", gateway_.version());
  if (!to) return error_response(400, "to: not a version number");
  // `from` defaults to the version before `to` in the history.
  uint64_t before = 0;
  for (const config::VersionRecord& r : h->records()) {
    if (r.version < *to) before = r.version;
  }
  std::optional<uint64_t> from = param("from", before);
  if (!from) return error_response(400, "from: not a version number");
  Response err;
  std::optional<Json> a = version_doc(*from, &err);
  if (!a) return err;
  std::optional<Json> b = version_doc(*to, &err);
  if (!b) return err;
  Json body = Json::object();
  body["from"] = *from;
  body["to"] = *to;
  Json changes = diff_configs(*a, *b);
  for (auto& [k, v] : changes.items()) body[k] = std::move(v);
  return with_etag(json_response(200, body));
}

Response RestApi::rollback(const Request& req) {
  if (req.method != "POST") return error_response(405, "use POST");
  if (gateway_.etcd() != nullptr) return etcd_only();
  Json body;
  std::string perr;
  if (!transform::parse_json(req.body, body, &perr) || !body.is_object() ||
      !body.contains("version") || !body["version"].is_number_unsigned()) {
    return error_response(400, "the body must be {\"version\": N}");
  }
  const uint64_t v = body["version"].get<uint64_t>();
  const config::History* h = gateway_.history();
  const config::VersionRecord* rec = h != nullptr ? h->find(v) : nullptr;
  std::optional<std::string> text = rec != nullptr ? h->text(v) : std::nullopt;
  if (!text) return error_response(404, "no version " + std::to_string(v) + " in the history");
  return apply(req, *text, proxy::ConfigOrigin{"rollback", author_of(req), rec->format, v}, 200);
}

Response RestApi::collection(const Request& req, std::string_view kind, std::string_view name) {
  Response err;
  const Json* in_force = current(&err);
  if (in_force == nullptr) return err;
  if (name.empty()) {
    if (req.method != "GET") return error_response(405, "use GET (or a method on one object)");
    Json body = Json::object();
    body[std::string(kind)] = list_of(*in_force, kind);
    return with_etag(json_response(200, body));
  }
  if (req.method == "GET") {
    for (const Json& o : list_of_ref(*in_force, kind)) {
      if (o.is_object() && o.value("name", Json()) == name) return with_etag(json_response(200, o));
    }
    return error_response(404, "no " + std::string(kind) + " '" + std::string(name) + "'");
  }
  // A write: the cached document becomes the new version's (or is read again after a refusal),
  // so it is taken rather than copied.
  Json doc = std::move(*cached_);
  cached_.reset();
  Json list = Json::array();  // moved out of doc and back (a copy of 10,000 routes took 10 ms)
  if (auto it = doc.find(kind); it != doc.end() && it->is_array()) list = std::move(*it);
  Json* found = nullptr;
  size_t index = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].is_object() && list[i].value("name", Json()) == name) {
      found = &list[i];
      index = i;
      break;
    }
  }
  const std::string what = std::string(kind) + " '" + std::string(name) + "'";
  if (req.method == "DELETE") {
    if (gateway_.etcd() != nullptr)
      return etcd_write(req, kind, name, std::nullopt, found != nullptr);
    if (found == nullptr) return error_response(404, "no " + what);
    list.erase(index);
  } else if (req.method == "PUT" || req.method == "PATCH") {
    std::optional<Json> body = parse_body(req, &err);
    if (!body) return err;
    if (!body->is_object()) return error_response(400, "the body must be a JSON object");
    if (req.method == "PATCH") {
      if (found == nullptr) return error_response(404, "no " + what);
      Json patched = *found;
      patched.merge_patch(*body);
      *body = std::move(patched);
    }
    auto n = body->find("name");
    if (n != body->end() && *n != name) {
      return error_response(400, "the body's name must be the URL's, '" + std::string(name) +
                                     "' (renaming is a PUT of the new name and a DELETE)");
    }
    Json obj = Json::object();  // the name first, as the docs write objects
    obj["name"] = name;
    for (auto& [k, v] : body->items()) {
      if (k != "name") obj[k] = v;
    }
    if (gateway_.etcd() != nullptr)
      return etcd_write(req, kind, name, obj.dump(), found != nullptr);
    if (found != nullptr) {
      *found = std::move(obj);
    } else {
      list.push_back(std::move(obj));
    }
  } else {
    return error_response(405, "use GET, PUT, PATCH or DELETE");
  }
  const bool created = found == nullptr && req.method == "PUT";
  doc[std::string(kind)] = std::move(list);
  return write(req, std::move(doc), created ? 201 : 200);
}

}  // namespace sluice::api
