// Bundling a document of several files (src/api/openapi_bundle.h): component $refs become
// #/components/… ones, path items are put in place, and what cannot be bundled is an error.
#include "api/openapi_bundle.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::api {
namespace {

std::optional<Json> bundle(const std::vector<EmbeddedFile>& files, std::string* err) {
  return bundle_openapi(files, "openapi.yaml", err);
}

Json must_bundle(const std::vector<EmbeddedFile>& files) {
  std::string err;
  std::optional<Json> doc = bundle(files, &err);
  EXPECT_TRUE(doc) << err;
  if (doc) {
    const std::vector<std::string> problems = ref_problems(*doc);
    EXPECT_TRUE(problems.empty()) << problems.front();
  }
  return doc.value_or(Json());
}

std::string bundle_error(const std::vector<EmbeddedFile>& files) {
  std::string err;
  EXPECT_FALSE(bundle(files, &err));
  return err;
}

constexpr std::string_view kRoot = R"(openapi: 3.1.0
info: {title: t, version: '1'}
paths:
  /a:
    $ref: 'paths/a.yaml#/a'
  /b:
    $ref: paths/b.yaml
    summary: the root's words win
components:
  securitySchemes:
    token: {type: http, scheme: bearer}
)";

constexpr std::string_view kPathA = R"(a:
  get:
    parameters:
      - $ref: '../components/parameters.yaml#/Name'
    responses:
      '200':
        description: ok
        content:
          application/json:
            schema:
              $ref: '../components/schemas.yaml#/Thing'
            example: {$ref: 'not a reference: data'}
      '404':
        $ref: '../components/responses.yaml#/NotFound'
)";

constexpr std::string_view kPathB = R"(summary: b
get:
  responses:
    '200':
      description: ok
      content:
        application/json:
          schema:
            $ref: ../components/schemas.yaml#/Thing
            description: a thing
    '404':
      $ref: ../components/responses.yaml#/NotFound
)";

constexpr std::string_view kSchemas = R"(Thing:
  type: object
  properties:
    id: {$ref: '#/Id'}
    other: {$ref: 'whole.yaml'}
Id:
  type: integer
)";

constexpr std::string_view kResponses = R"(NotFound:
  description: no such thing
  content:
    application/json:
      schema: {$ref: 'schemas.yaml#/Id'}
)";

std::vector<EmbeddedFile> document() {
  return {{"openapi.yaml", kRoot},
          {"paths/a.yaml", kPathA},
          {"paths/b.yaml", kPathB},
          {"components/schemas.yaml", kSchemas},
          {"components/responses.yaml", kResponses},
          {"components/whole.yaml", "type: string\n"},
          {"components/parameters.yaml", "Name: {name: n, in: query, schema: {type: string}}\n"}};
}

TEST(OpenApiBundle, ComponentsByNameAndPathItemsInPlace) {
  const Json doc = must_bundle(document());
  const Json& a = doc["paths"]["/a"];
  EXPECT_FALSE(a.contains("$ref"));
  EXPECT_EQ(a["get"]["parameters"][0], Json::parse(R"({"$ref":"#/components/parameters/Name"})"));
  const Json& ok = a["get"]["responses"]["200"]["content"]["application/json"];
  EXPECT_EQ(ok["schema"]["$ref"], "#/components/schemas/Thing");
  EXPECT_EQ(ok["example"]["$ref"], "not a reference: data");  // data is not bundled
  EXPECT_EQ(a["get"]["responses"]["404"]["$ref"], "#/components/responses/NotFound");
  // A path item's siblings win over its members; a schema $ref keeps its siblings.
  EXPECT_EQ(doc["paths"]["/b"]["summary"], "the root's words win");
  const Json& b = doc["paths"]["/b"]["get"]["responses"]["200"]["content"]["application/json"];
  EXPECT_EQ(b["schema"], Json::parse(R"({"$ref":"#/components/schemas/Thing",
                                         "description":"a thing"})"));
  // One component per target, however often it is referenced; refs inside a file too; a
  // whole file is named after it.
  const Json& schemas = doc["components"]["schemas"];
  EXPECT_EQ(schemas.size(), 3u);
  EXPECT_EQ(schemas["Thing"]["properties"]["id"]["$ref"], "#/components/schemas/Id");
  EXPECT_EQ(schemas["Thing"]["properties"]["other"]["$ref"], "#/components/schemas/whole");
  EXPECT_EQ(schemas["whole"], Json::parse(R"({"type":"string"})"));
  EXPECT_EQ(doc["components"]["responses"]["NotFound"]["content"]["application/json"]["schema"],
            Json::parse(R"({"$ref":"#/components/schemas/Id"})"));
  EXPECT_TRUE(doc["components"]["securitySchemes"].contains("token"));  // the root's own
}

TEST(OpenApiBundle, MissingFilesAndPointersFailLoudly) {
  std::vector<EmbeddedFile> files = document();
  files.pop_back();  // components/parameters.yaml
  EXPECT_EQ(bundle_error(files),
            "paths/a.yaml: $ref '../components/parameters.yaml#/Name': no file "
            "components/parameters.yaml");
  files = document();
  files[4].text = "Gone: {description: x}\n";  // components/responses.yaml without NotFound
  EXPECT_NE(bundle_error(files).find("no '/NotFound' in components/responses.yaml"),
            std::string::npos);
  EXPECT_EQ(bundle_error({{"other.yaml", "a: 1\n"}}), "no file openapi.yaml");
  files = document();
  files[3].text = "Thing: [unclosed\n";
  EXPECT_NE(bundle_error(files).find("components/schemas.yaml: line"), std::string::npos);
}

TEST(OpenApiBundle, CyclesFailLoudly) {
  std::vector<EmbeddedFile> files = document();
  files[3].text =
      "Thing: {properties: {next: {$ref: '#/Next'}}}\nNext: {items: {$ref: '#/Thing'}}\n";
  EXPECT_NE(bundle_error(files).find("a cycle of $refs: components/schemas.yaml#/Thing -> "
                                     "components/schemas.yaml#/Next -> "
                                     "components/schemas.yaml#/Thing"),
            std::string::npos);
  // Path items that include each other.
  files = document();
  files[1].text = "a: {$ref: 'b.yaml'}\n";
  files[2].text = "$ref: 'a.yaml#/a'\n";
  EXPECT_NE(bundle_error(files).find("a cycle of $refs"), std::string::npos);
}

TEST(OpenApiBundle, RefusesWhatItCannotBundle) {
  std::vector<EmbeddedFile> files = document();
  files[5].text = "$ref: '../../elsewhere.yaml'\n";
  EXPECT_NE(bundle_error(files).find("leaves the folder of openapi.yaml"), std::string::npos);
  files[5].text = "$ref: 'https://example.com/s.yaml'\n";
  EXPECT_NE(bundle_error(files).find("only files relative to it"), std::string::npos);
  files[5].text = "$ref: 'schemas.yaml#Id'\n";
  EXPECT_NE(bundle_error(files).find("not a JSON pointer"), std::string::npos);
  // Two targets that would be one component.
  files = document();
  files[3].text = "Thing: {properties: {b: {$ref: 'other/Thing.yaml'}}}\n";
  files.push_back({"components/other/Thing.yaml", "type: boolean\n"});
  EXPECT_NE(bundle_error(files).find("two schemas named 'Thing': components/schemas.yaml#/Thing "
                                     "and components/other/Thing.yaml#"),
            std::string::npos);
  // An internal $ref of the root that does not resolve.
  files = document();
  files[0].text =
      "openapi: 3.1.0\npaths: {/a: {get: {responses: {'200': "
      "{$ref: '#/components/responses/Nope'}}}}}\n";
  EXPECT_EQ(bundle_error(files),
            "openapi.yaml: $ref '#/components/responses/Nope': no '/components/responses/Nope' in "
            "openapi.yaml");
}

TEST(OpenApiBundle, RefProblemsFindsExternalAndDanglingRefs) {
  const Json doc = Json::parse(R"({"a":{"$ref":"x.yaml#/A"},"b":[{"$ref":"#/nope"}],
                                   "c":{"$ref":"#/a"},"d":{"$ref":"#/e~1f"},"e/f":1})");
  EXPECT_EQ(ref_problems(doc), (std::vector<std::string>{"/a: external $ref 'x.yaml#/A'",
                                                         "/b/0: $ref '#/nope' does not resolve"}));
}

}  // namespace
}  // namespace sluice::api
