#include "api/openapi.h"

#include <optional>

namespace sluice::api {
namespace {

struct Converted {
  std::optional<std::string> json;
  std::string error;
};

Converted convert() {
  Converted c;
  std::optional<Json> doc = yaml_to_json(openapi_yaml(), &c.error);
  if (doc) c.json = doc->dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  return c;
}

}  // namespace

const std::string* openapi_json(std::string* error) {
  static const Converted converted = convert();  // once: the text never changes
  if (!converted.json) {
    *error = converted.error;
    return nullptr;
  }
  return &*converted.json;
}

Response openapi_response(const Request& req) {
  if (req.method != "GET") return error_response(405, "use GET");
  std::string err;
  const std::string* json = openapi_json(&err);
  if (json == nullptr) return error_response(500, "api/openapi.yaml does not convert: " + err);
  Response r;
  r.body = *json;
  return r;
}

}  // namespace sluice::api
