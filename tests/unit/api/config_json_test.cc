// YAML <-> JSON for the admin API (src/api/config_json.h) and the per-object diff (diff.h).
#include "api/config_json.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "api/diff.h"
#include "config/config.h"
#include "config/document.h"

namespace sluice::api {
namespace {

Json yaml(const std::string& text) {
  std::string err;
  std::optional<Json> j = yaml_to_json(text, &err);
  EXPECT_TRUE(j.has_value()) << err;
  return j.value_or(Json());
}

TEST(ConfigJson, TypesPlainScalarsAndKeepsQuotedOnesStrings) {
  Json j = yaml(
      "a: 42\nb: -7\nc: 0.5\nd: true\ne: false\nf: ~\ng:\nh: null\ni: '42'\nj: 10s\nk: off\n"
      "l: 010\nm: 1.50\nn: 18446744073709551615\no: 99999999999999999999\n");
  EXPECT_EQ(j["a"], 42);
  EXPECT_EQ(j["b"], -7);
  EXPECT_EQ(j["c"], 0.5);
  EXPECT_EQ(j["d"], true);
  EXPECT_EQ(j["e"], false);
  EXPECT_TRUE(j["f"].is_null() && j["g"].is_null() && j["h"].is_null());
  EXPECT_EQ(j["i"], "42");
  EXPECT_EQ(j["j"], "10s");
  EXPECT_EQ(j["k"], "off");
  EXPECT_EQ(j["l"], "010");   // not how JSON writes 10
  EXPECT_EQ(j["m"], "1.50");  // nor 1.5
  EXPECT_EQ(j["n"], uint64_t{18446744073709551615ULL});
  EXPECT_EQ(j["o"], "99999999999999999999");  // past uint64: its text
}

TEST(ConfigJson, KeepsOrderAndNesting) {
  Json j = yaml("z: 1\na: [x, {b: 2, a: 1}]\n");
  EXPECT_EQ(j.dump(), R"({"z":1,"a":["x",{"b":2,"a":1}]})");
}

TEST(ConfigJson, RefusesDuplicateAndComplexKeysWithTheirPlace) {
  std::string err;
  EXPECT_FALSE(yaml_to_json("a: 1\nb: 2\na: 3\n", &err));
  EXPECT_EQ(err, "line 3, column 1: duplicate key 'a'");
  EXPECT_FALSE(yaml_to_json("? [a]\n: 1\n", &err));
  EXPECT_NE(err.find("a map key must be a scalar"), std::string::npos) << err;
  EXPECT_FALSE(yaml_to_json("a: [1,\n", &err));
  EXPECT_EQ(err.rfind("line ", 0), 0u) << err;
}

TEST(ConfigJson, AnAliasBombIsRefusedNotExpanded) {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c, ++prev) {
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) text += std::string(i ? ", *" : "*") + prev;
    text += "]\n";
  }
  std::string err;
  EXPECT_FALSE(yaml_to_json(text, &err, 100000));  // 10^10 values: stops past the limit
  EXPECT_NE(err.find("expands to more than 100000 values"), std::string::npos) << err;
  EXPECT_TRUE(yaml_to_json("a: &a [x, x]\nb: [*a, *a]\n", &err, 100000)) << err;
}

TEST(ConfigJson, JsonTextLoadsAsTheSameConfig) {
  const std::string file =
      "listeners: [{address: \"127.0.0.1:8080\"}]\n"
      "upstreams:\n  - name: u\n    targets: [{address: \"127.0.0.1:9001\", weight: 3}]\n"
      "routes:\n  - name: r\n    match: {path: \"/a/{*rest}\", methods: [GET]}\n"
      "    upstream: u\n    timeout: 2s\n    retry: {attempts: 2}\n";
  const std::string text = json_to_config_text(yaml(file));
  config::LoadResult a = config::load_config_string(file, "f.yaml");
  config::LoadResult b = config::load_config_string(text, "api");
  ASSERT_TRUE(a.ok() && b.ok()) << text;
  EXPECT_EQ(b.config->routes[0].timeout_ms, a.config->routes[0].timeout_ms);
  EXPECT_EQ(b.config->upstreams[0].targets[0].weight, 3u);
  EXPECT_EQ(json_to_config_text(yaml(text)), text);  // stable: same bytes, same hash
}

TEST(ConfigJson, TheTreeOfAJsonDocumentIsTheTreeOfItsText) {
  const Json doc = yaml(
      "listeners: [{address: \"127.0.0.1:8080\"}]\nworkers: 2\n"
      "routes:\n  - {name: r, match: {path: /a, methods: [GET]}, upstream: u, timeout: 2s,\n"
      "     retry: {attempts: 2}, mirror: null, x: 1.5, on: 'on', yes: true}\n"
      "upstreams: [{name: u, targets: [{address: \"127.0.0.1:9001\", weight: 3}]}]\n");
  const config::Node direct = json_to_node(doc);
  config::ParseResult parsed = config::parse_document(json_to_config_text(doc));
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  std::string e1;
  std::string e2;
  // Same types, texts and quoting: converted back they are the same document.
  EXPECT_EQ(node_to_json(direct, &e1)->dump(), node_to_json(parsed.root, &e2)->dump());
  EXPECT_EQ(node_to_json(direct, &e1)->dump(), doc.dump());
  std::function<void(const config::Node&, const config::Node&)> same = [&](const config::Node& a,
                                                                           const config::Node& b) {
    ASSERT_EQ(a.type(), b.type());
    EXPECT_EQ(a.scalar(), b.scalar());
    EXPECT_EQ(a.quoted(), b.quoted()) << a.scalar();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      if (a.is_map()) {
        same(a.key(i), b.key(i));
        same(a.value(i), b.value(i));
      } else {
        same(a.at(i), b.at(i));
      }
    }
  };
  same(direct, parsed.root);
  // x, on, yes and a null mirror are refused just as from the text, at the same keys.
  config::LoadResult from_tree = config::load_config_tree(direct, {"api"}, "h");
  config::LoadResult from_text = config::load_config_string(json_to_config_text(doc), "api");
  ASSERT_FALSE(from_tree.ok());
  ASSERT_EQ(from_tree.errors.size(), from_text.errors.size());
  for (size_t i = 0; i < from_tree.errors.size(); ++i) {
    EXPECT_EQ(from_tree.errors[i].key, from_text.errors[i].key);
    EXPECT_EQ(from_tree.errors[i].message, from_text.errors[i].message);
  }
}

TEST(ConfigDiff, PerObjectAddedRemovedChangedKeys) {
  Json from = yaml(
      "routes: [{name: a, upstream: u}, {name: b, upstream: u, timeout: 1s}]\n"
      "redis: {address: '127.0.0.1:6379', db: 1}\nlimits: {max_headers: 10}\n");
  Json to = yaml(
      "routes: [{name: b, upstream: v}, {name: c, upstream: u}]\n"
      "redis: {address: '127.0.0.1:6380', db: 1}\ntimeouts: {drain: 1s}\n");
  Json d = diff_configs(from, to);
  EXPECT_EQ(d["added"].dump(),
            R"([{"kind":"routes","name":"c"},{"kind":"section","name":"timeouts"}])");
  EXPECT_EQ(d["removed"].dump(),
            R"([{"kind":"routes","name":"a"},{"kind":"section","name":"limits"}])");
  EXPECT_EQ(d["changed"].dump(), R"([{"kind":"routes","name":"b","keys":["upstream","timeout"]},)"
                                 R"({"kind":"section","name":"redis","keys":["address"]}])");
  Json same = diff_configs(from, from);
  EXPECT_TRUE(same["added"].empty() && same["removed"].empty() && same["changed"].empty());
}

}  // namespace
}  // namespace sluice::api
