// The embedded OpenAPI document (src/api/openapi.h): the build embeds api/openapi.yaml byte for
// byte, it converts to JSON, and GET /api/v1/openapi.json answers it.
#include "api/openapi.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace sluice::api {
namespace {

TEST(OpenApi, EmbedsTheFileAsItIs) {
  std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/api/openapi.yaml", std::ios::binary);
  ASSERT_TRUE(in.good());
  std::stringstream file;
  file << in.rdbuf();
  EXPECT_EQ(openapi_yaml(), file.str()) << "rebuild: api/openapi.yaml changed since";
}

TEST(OpenApi, ConvertsOnceToJson) {
  std::string err;
  const std::string* json = openapi_json(&err);
  ASSERT_NE(json, nullptr) << err;
  EXPECT_EQ(openapi_json(&err), json);  // the same text, not converted again
  Json doc;
  ASSERT_TRUE(transform::parse_json(*json, doc, &err)) << err;
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_TRUE(doc["paths"].contains("/api/v1/openapi.json"));
  EXPECT_TRUE(doc["paths"]["/api/v1/config/diff"]["get"]["responses"].contains("200"));
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
