#include "api/openapi.h"

#include <cstdio>
#include <optional>

namespace sluice::api {
namespace {

struct Bundled {
  std::optional<std::string> json;
  std::string error;
};

Bundled bundle() {
  Bundled b;
  std::optional<Json> doc = bundle_openapi(openapi_files(), kOpenApiRoot, &b.error);
  if (doc) {
    b.json = doc->dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  } else {
    std::fprintf(stderr, "api/openapi.yaml does not bundle: %s\n", b.error.c_str());
  }
  return b;
}

}  // namespace

const std::string* openapi_json(std::string* error) {
  static const Bundled bundled = bundle();  // once: the files never change
  if (!bundled.json) {
    *error = bundled.error;
    return nullptr;
  }
  return &*bundled.json;
}

Response openapi_response(const Request& req) {
  if (req.method != "GET") return error_response(405, "use GET");
  std::string err;
  const std::string* json = openapi_json(&err);
  if (json == nullptr) return error_response(500, "api/openapi.yaml does not bundle: " + err);
  Response r;
  r.body = *json;
  return r;
}

}  // namespace sluice::api
