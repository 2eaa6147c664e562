// Bundles an OpenAPI document written as several files (api/openapi.yaml, api/paths/*.yaml,
// api/components/**.yaml) into one self-contained JSON document, as `redocly bundle` does:
//   - a $ref to another file (`../components/responses.yaml#/NotFound`, relative to the file it
//     is written in, with an optional #/json/pointer) in a position of a component type (a
//     schema, response, parameter, header, request body, example, link, callback or security
//     scheme, by where it stands in the OpenAPI structure) copies its target into components
//     under the pointer's last segment (the file's base name without a pointer) and points there
//     (`#/components/responses/NotFound`); the target's own $refs are bundled the same way;
//   - any other external $ref (a path item: `paths/config.yaml#/diff`) is replaced by its
//     target, the $ref's sibling members kept (and winning);
//   - $refs of the root file into itself stay as they are, and must resolve.
// Errors, never a partial document: a file that does not parse, a $ref to a file that is not
// among the files, a pointer that does not resolve, a $ref out of the root's folder or to a URL,
// a cycle of $refs (a recursive schema too), two different targets that would get one
// component name, and an internal $ref of the result that does not resolve.
// tests/integration/openapi_bundle.py does the same in Python; test_71 compares the two and
// `redocly bundle`.
// Example:
//   const EmbeddedFile files[] = {{"openapi.yaml", root_text}, {"paths/a.yaml", a_text}};
//   std::optional<Json> doc = bundle_openapi(files, "openapi.yaml", &err);
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/config_json.h"

namespace sluice::api {

// One file of the document: its name relative to the root's folder ("paths/config.yaml").
struct EmbeddedFile {
  std::string_view name;
  std::string_view text;
};

// The bundled document; nullopt and *error (naming the file and the $ref) when it cannot be.
std::optional<Json> bundle_openapi(std::span<const EmbeddedFile> files, std::string_view root,
                                   std::string* error);

// Every $ref of the OpenAPI document doc (data such as examples aside) that is not internal
// ("#/…") or does not resolve in doc, as "/json/pointer/of/the/ref: …"; empty for a
// self-contained document.
std::vector<std::string> ref_problems(const Json& doc);

}  // namespace sluice::api
