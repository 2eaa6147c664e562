// The embedded OpenAPI document (src/api/openapi.h): the build embeds every api/**/*.yaml byte
// for byte, they bundle into one self-contained document, and GET /api/v1/openapi.json answers
// it.
#include "api/openapi.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace sluice::api {
namespace {

const Json& served() {
  static const Json doc = [] {
    std::string err;
    const std::string* json = openapi_json(&err);
    EXPECT_NE(json, nullptr) << err;
    Json d;
    if (json != nullptr) {
      EXPECT_TRUE(transform::parse_json(*json, d, &err)) << err;
    }
    return d;
  }();
  return doc;
}

TEST(OpenApi, EmbedsEveryFileAsItIs) {
  const std::filesystem::path api = std::filesystem::path(SLUICE_SOURCE_DIR) / "api";
  std::map<std::string, std::string> on_disk;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(api)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    on_disk[entry.path().lexically_relative(api).generic_string()] = text.str();
  }
  std::map<std::string, std::string> embedded;
  std::string previous;
  for (const EmbeddedFile& f : openapi_files()) {
    EXPECT_LT(previous, std::string(f.name)) << "sorted by name";
    previous = std::string(f.name);
    embedded[std::string(f.name)] = std::string(f.text);
  }
  EXPECT_TRUE(embedded.contains(std::string(kOpenApiRoot)));
  EXPECT_GT(embedded.size(), 5u);
  for (const auto& [name, text] : on_disk) {
    ASSERT_TRUE(embedded.contains(name)) << "rerun cmake: api/" << name << " is new";
    EXPECT_EQ(embedded[name], text) << "rebuild: api/" << name << " changed since";
  }
  EXPECT_EQ(embedded.size(), on_disk.size()) << "rerun cmake: a file of api/ is gone";
}

TEST(OpenApi, BundlesOnceIntoOneSelfContainedDocument) {
  std::string err;
  const std::string* json = openapi_json(&err);
  ASSERT_NE(json, nullptr) << err;
  EXPECT_EQ(openapi_json(&err), json);  // the same text, not bundled again
  const Json& doc = served();
  EXPECT_EQ(doc["openapi"], "3.1.0");
  // No external $ref is left and every internal one resolves.
  const std::vector<std::string> problems = ref_problems(doc);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(json->find(".yaml#"), std::string::npos);
  // Path items are in place, components are where their $refs point.
  const Json& paths = doc["paths"];
  ASSERT_TRUE(paths.contains("/api/v1/openapi.json"));
  EXPECT_FALSE(paths["/healthz"].contains("$ref"));
  EXPECT_TRUE(paths["/api/v1/config/diff"]["get"]["responses"].contains("200"));
  EXPECT_EQ(paths["/api/v1/config/diff"]["get"]["responses"]["404"]["$ref"],
            "#/components/responses/NotFound");
  const Json& components = doc["components"];
  EXPECT_TRUE(components["securitySchemes"].contains("adminToken"));
  for (const char* section : {"schemas", "responses", "parameters", "headers", "requestBodies"}) {
    EXPECT_TRUE(components.contains(section)) << section;
  }
  EXPECT_TRUE(components["schemas"].contains("Error"));
  EXPECT_TRUE(components["schemas"].contains("RouteExplanation"));
  EXPECT_TRUE(components["schemas"].contains("ConfigAppliedEvent"));
}

TEST(OpenApi, EventsAndExplainAreNoLongerPlanned) {
  for (const auto& [path, item] : served()["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (op.is_object()) {
        EXPECT_FALSE(op.contains("x-sluice-status")) << method << " " << path;
      }
    }
  }
}

TEST(OpenApi, AnswersGetOnly) {
  Request req;
  req.method = "GET";
  req.path = "/api/v1/openapi.json";
  Response r = openapi_response(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body.find("{\"openapi\":\"3.1.0\""), 0u);
  req.method = "POST";
  EXPECT_EQ(openapi_response(req).status, 405);
}

}  // namespace
}  // namespace sluice::api
