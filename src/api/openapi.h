// The admin listener's OpenAPI 3.1 document, api/openapi.yaml: embedded in the binary at build
// time (cmake/embed_text.cmake writes openapi_yaml()), converted to JSON once with yaml_to_json
// and served at GET /api/v1/openapi.json. tests/integration/test_71_openapi.py lints it and
// checks live answers against it.
// Example:
//   Response r = openapi_response(req);  // 200 application/json: the document
#pragma once

#include <string>
#include <string_view>

#include "api/rest_api.h"

namespace sluice::api {

// The text of api/openapi.yaml as it was at build time (defined in the generated source).
std::string_view openapi_yaml();
// The document as JSON text ending in a newline, converted at the first call; nullptr (and
// *error set) when the YAML does not convert.
const std::string* openapi_json(std::string* error);
// GET /api/v1/openapi.json: 200 with the document, 405 for another method, 500 when the
// embedded text does not convert (a build that let a broken document through).
Response openapi_response(const Request& req);

}  // namespace sluice::api
