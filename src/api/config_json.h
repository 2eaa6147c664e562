// The config as JSON, for the admin REST API: a YAML document (the file, or a YAML request body)
// becomes an ordered JSON value, and a JSON value becomes config text the loader reads. JSON is
// YAML's flow syntax, so the loader reads the JSON text itself and its errors keep their keys.
//
// Typing of YAML scalars: quoted ones are strings; plain `true`/`false` are booleans, plain
// null / `~` / empty are null, plain numbers written the way JSON writes them (`42`, `-1`,
// `0.5`) are numbers; everything else is a string ("10s", "off", "010"). The loader reads a
// scalar by its text only, so this changes no meaning.
// Example:
//   std::string err;
//   std::optional<Json> doc = yaml_to_json(file_text, &err);   // GET /api/v1/config
//   (*doc)["routes"].push_back(route);
//   std::string text = json_to_config_text(*doc);               // load_config_string(text, …)
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "config/document.h"
#include "transform/json_parse.h"

namespace sluice::api {

using Json = transform::Json;

// An alias may make a small text a huge tree; converting stops past this many values.
inline constexpr size_t kMaxJsonValues = size_t{20} << 20;

// The node as JSON; nullopt with *error on a map key that is not a scalar, a key repeated in
// one map, or more than max_values values.
std::optional<Json> node_to_json(const config::Node& node, std::string* error,
                                 size_t max_values = kMaxJsonValues);
// Parses YAML (or JSON) text and converts it; *error has "line L, column C: …" on a syntax
// error.
std::optional<Json> yaml_to_json(std::string_view text, std::string* error,
                                 size_t max_values = kMaxJsonValues);
// Pretty JSON (two-space indents, one member per line, so a loader error's line is readable),
// ending in a newline. Deterministic: the same value gives the same bytes (and hash).
std::string json_to_config_text(const Json& doc);

// The document as a config tree, as parsing json_to_config_text(doc) would give it (strings
// quoted, numbers and booleans plain), without writing and parsing the text: API writes of a
// large config skip the YAML parser. Marks count the nodes (no text has lines).
config::Node json_to_node(const Json& doc);

}  // namespace sluice::api
