// The admin REST API (/api/v1/...), served by the admin listener on the control thread. Every
// write builds the whole new config document (the version in force with the change made),
// applies it through Gateway::apply (validated exactly like a file; nothing changes when it is
// refused) and answers with the new version. docs/admin-api.md describes each endpoint.
//
//   GET                  /api/v1/config                 the config in force, as JSON
//   PUT                  /api/v1/config                 replace it (JSON, or YAML by Content-Type)
//   POST                 /api/v1/config/validate        the dry run of a PUT
//   GET                  /api/v1/config/versions[/N]    the versions (N: with its config)
//   GET                  /api/v1/config/diff?from=&to=  per object: added, removed, changed keys
//   POST                 /api/v1/config/rollback        {"version": N}
//   GET                  /api/v1/{kind}                 {"<kind>": [...]}
//   GET|PUT|PATCH|DELETE /api/v1/{kind}/{name}          one object (PATCH: RFC 7386 merge)
// where kind is routes, upstreams, consumers or jwt_providers.
//
// Answers carry the version in force as ETag ("7"); a write with If-Match naming another
// version gets 412. A refused write is 400 {"errors":[{"path":…,"message":…}]}.
// Example:
//   RestApi api(gateway);
//   Response r = api.handle(Request{.method = "PUT", .path = "/api/v1/routes/a", .body = b});
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/config_json.h"
#include "proxy/gateway.h"

namespace sluice::api {

struct Request {
  std::string_view method;
  std::string_view path;   // percent-encoded, as received
  std::string_view query;  // after '?'
  std::string_view content_type;
  std::string_view if_match;
  std::string_view author;         // X-Sluice-Author; "api" when absent
  std::string_view authorization;  // checked by the admin server before handle()
  std::string_view last_event_id;  // GET /api/v1/events
  std::string_view body;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class RestApi {
 public:
  explicit RestApi(proxy::Gateway& gateway) : gateway_(gateway) {}
  Response handle(const Request& req);
  // Drops the cached document of the config in force when the API was not used for
  // kCacheIdleMs (it costs about 1 KB per route). Called every second (control thread).
  void forget_idle(uint64_t now_ms);
  static constexpr uint64_t kCacheIdleMs = 30000;

 private:
  Response config(const Request& req);
  Response versions(const Request& req, std::string_view rest);
  Response diff(const Request& req);
  Response rollback(const Request& req);
  Response collection(const Request& req, std::string_view kind, std::string_view name);
  // Applies doc as the new config and answers the way every write does (apply()).
  Response write(const Request& req, Json doc, int created_status = 200);
  // Applies text, logs who changed what, and answers {"version","hash","warnings"} with
  // ok_status, or 400 {"version","errors"}.
  // doc: the text's document when it is JSON text made from it (parsing is skipped).
  Response apply(const Request& req, const std::string& text, const proxy::ConfigOrigin& origin,
                 int ok_status, const Json* doc = nullptr);
  // The config in force as JSON (kept in cached_ until the version changes); null (and *error
  // set) when its text cannot be had.
  const Json* current(Response* error);
  std::optional<Json> version_doc(uint64_t version, Response* error);
  Response with_etag(Response r);
  // Logs a write (who, what, the outcome) and answers it: ok_status {"version", "hash", the
  // members of extra, "warnings"}, or 400 {"version", "errors"}. how: what the log says first.
  Response written(const Request& req, const std::string& author, const proxy::ReloadOutcome& r,
                   int ok_status, const std::string& how, Json extra);
  // With config_source etcd: one object written to etcd (json) or removed (nullopt), after the
  // files with etcd's objects so changed are validated; answered with the version that follows.
  Response etcd_write(const Request& req, std::string_view kind, std::string_view name,
                      std::optional<std::string> json, bool exists);
  // 409: with etcd, the whole config is not written through the API.
  Response etcd_only();
  // GET routes/explain is the explanation, unless it has no query and names a route.
  bool explains(const Request& req);

  proxy::Gateway& gateway_;
  std::optional<Json> cached_;  // the document of version cached_version_
  uint64_t cached_version_ = 0;
  uint64_t cache_used_ms_ = 0;
};

// %XX escapes decoded; nullopt for a malformed one.
std::optional<std::string> percent_decode(std::string_view s);

// {"error": message} with the status.
Response error_response(int status, std::string_view message);

}  // namespace sluice::api
