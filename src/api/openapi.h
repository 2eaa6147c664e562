// The admin listener's OpenAPI 3.1 document: api/openapi.yaml and the files it $refs
// (api/paths/*.yaml, api/components/**.yaml). Every api/**/*.yaml is embedded in the binary at
// build time (cmake/embed_text.cmake writes openapi_files()); at the first request they are
// bundled into one self-contained JSON document (api/openapi_bundle.h: external $refs become
// #/components/… ones, as `redocly bundle` makes them) and served at GET /api/v1/openapi.json.
// tests/integration/test_71_openapi.py lints the files and checks live answers against it.
// Example:
//   Response r = openapi_response(req);  // 200 application/json: the document
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "api/openapi_bundle.h"
#include "api/rest_api.h"

namespace sluice::api {

// The root file's name among openapi_files().
inline constexpr std::string_view kOpenApiRoot = "openapi.yaml";

// Every api/**/*.yaml as it was at build time, named relative to api/ and sorted by name
// (defined in the generated source).
std::span<const EmbeddedFile> openapi_files();
// The bundled document as JSON text ending in a newline, made at the first call; nullptr (and
// *error set) when the files do not bundle.
const std::string* openapi_json(std::string* error);
// GET /api/v1/openapi.json: 200 with the document, 405 for another method, 500 when the
// embedded files do not bundle (a build that let a broken document through).
Response openapi_response(const Request& req);

}  // namespace sluice::api
