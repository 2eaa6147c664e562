// Configs made of files (config/sources.h): --config files merged in order, includes (relative
// paths, nesting, cycles, depth), errors at the file and line where the value is written, the
// text and hash a version records, and the `reload:` section.
#include "config/sources.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"

namespace sluice::config {
namespace {

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.to_string());
  return out;
}

class SourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-sources-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes dir/name (a leading newline of a raw string is dropped); returns its path.
  std::string write(const std::string& name, std::string text) {
    if (!text.empty() && text.front() == '\n') text.erase(0, 1);
    const std::string path = dir_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }

  Sources load(const std::vector<std::string>& names) {
    std::vector<std::string> paths;
    for (const std::string& n : names) paths.push_back(dir_ + "/" + n);
    return load_sources(paths, [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }

  // "DIR/" taken out of messages.
  std::vector<std::string> errors(const Sources& s) {
    std::vector<std::string> out = messages(s.loaded);
    for (std::string& m : out) {
      for (size_t p = m.find(dir_ + "/"); p != std::string::npos; p = m.find(dir_ + "/")) {
        m.erase(p, dir_.size() + 1);
      }
    }
    return out;
  }

  std::string dir_;
  std::map<std::string, std::string> env_;
};

constexpr const char* kBase = R"(
listeners:
  - address: 127.0.0.1:8080
timeouts:
  idle: 30s
  client_header: 5s
upstreams:
  - name: api
    targets: [{address: 127.0.0.1:9000}]
  - name: old
    targets: [{address: 127.0.0.1:9001}]
routes:
  - name: a
    match: {path: /a}
    upstream: api
  - name: b
    match: {path: /b}
    respond: {status: 200, body: base}
)";

TEST_F(SourcesTest, OneFileIsReadAsItIs) {
  write("one.yaml", kBase);
  Sources s = load({"one.yaml"});
  ASSERT_TRUE(s.loaded.ok()) << testing::PrintToString(errors(s));
  std::string bytes(kBase + 1);
  EXPECT_EQ(s.text, bytes);
  EXPECT_EQ(s.hash, sha256_hex(bytes));
  EXPECT_EQ(s.loaded.config->hash, s.hash);
  ASSERT_EQ(s.files.size(), 1u);
  EXPECT_EQ(s.files[0].sha256, sha256_hex(bytes));
  EXPECT_EQ(s.loaded.config->source_files, std::vector<std::string>{dir_ + "/one.yaml"});
}

TEST_F(SourcesTest, LaterFilesMergeOntoEarlierOnes) {
  write("base.yaml", kBase);
  write("prod.yaml", R"(
timeouts:
  idle: 10s
listeners:
  - address: 127.0.0.1:8443
routes:
  - name: b
    match: {path: /b}
    respond: {status: 200, body: prod}
  - name: c
    match: {path: /c}
    upstream: old
upstreams:
  - name: api
    targets: [{address: 127.0.0.1:9100}, {address: 127.0.0.1:9101}]
)");
  Sources s = load({"base.yaml", "prod.yaml"});
  ASSERT_TRUE(s.loaded.ok()) << testing::PrintToString(errors(s));
  const Config& c = *s.loaded.config;
  // maps: key by key (client_header kept, idle replaced)
  EXPECT_EQ(c.timeouts.idle_ms, 10000u);
  EXPECT_EQ(c.timeouts.client_header_ms, 5000u);
  // other lists: replaced
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].address.port, 8443);
  // named lists: by name, in place; new names appended
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].name, "a");
  EXPECT_EQ(c.routes[1].name, "b");
  EXPECT_EQ(c.routes[1].respond->body, "prod");
  EXPECT_EQ(c.routes[2].name, "c");
  ASSERT_EQ(c.upstreams.size(), 2u);
  EXPECT_EQ(c.upstreams[0].name, "api");
  EXPECT_EQ(c.upstreams[0].targets.size(), 2u);  // the later object whole
  EXPECT_EQ(c.upstreams[1].name, "old");
  // marks name their files
  EXPECT_EQ(c.file_of(c.routes[0].mark), dir_ + "/base.yaml");
  EXPECT_EQ(c.file_of(c.routes[1].mark), dir_ + "/prod.yaml");
  EXPECT_EQ(c.source_files.size(), 2u);
  EXPECT_EQ(s.files.size(), 2u);
  // The recorded text is the merged config, self-contained: loaded alone it is the same.
  EXPECT_EQ(s.text.rfind("# The config made of ", 0), 0u) << s.text;
  LoadResult again = load_config_string(s.text, "v.yaml");
  ASSERT_TRUE(again.ok()) << testing::PrintToString(messages(again));
  ASSERT_EQ(again.config->routes.size(), 3u);
  EXPECT_EQ(again.config->routes[1].respond->body, "prod");
  EXPECT_EQ(again.config->timeouts.client_header_ms, 5000u);
  EXPECT_EQ(again.config->upstreams[0].targets.size(), 2u);
  // the hash: neither file's alone
  EXPECT_NE(s.hash, sha256_hex(kBase + 1));
  EXPECT_EQ(c.hash, s.hash);
}

TEST_F(SourcesTest, ErrorsNameTheFileAndLineOfTheValue) {
  write("base.yaml", kBase);
  write("prod.yaml", R"(
routes:
  - name: c
    match: {path: /c}
    upstream: nope
timeouts:
  idel: 3s
)");
  Sources s = load({"base.yaml", "prod.yaml"});
  ASSERT_FALSE(s.loaded.ok());
  // The key path counts in the merged list (c is the third route).
  EXPECT_EQ(errors(s), (std::vector<std::string>{
                           "prod.yaml:4:15: routes[2].upstream: upstream 'nope' is not defined",
                           "prod.yaml:6:3: timeouts.idel: unknown key 'idel' (did you mean "
                           "'idle'?)"}));
  EXPECT_EQ(s.loaded.errors[0].file, dir_ + "/prod.yaml");
  EXPECT_EQ(s.loaded.errors[0].mark.line, 4);
  EXPECT_EQ(s.loaded.errors[0].mark.col, 15);
}

TEST_F(SourcesTest, TwoOfOneNameInOneFileAreStillADuplicate) {
  write("base.yaml", kBase);
  write("prod.yaml", R"(
routes:
  - name: x
    match: {path: /x1}
    respond: {}
  - name: x
    match: {path: /x2}
    respond: {}
)");
  Sources s = load({"base.yaml", "prod.yaml"});
  EXPECT_EQ(errors(s), std::vector<std::string>{"prod.yaml:5:11: routes[3].name: duplicate route "
                                                "name 'x' (first defined at line 2)"});
}

TEST_F(SourcesTest, AnEarlierLineInAnotherFileIsNamedWithItsFile) {
  write("base.yaml", R"(
listeners: [{address: 127.0.0.1:8080}]
consumers:
  - name: a
    api_keys: ["sha256:0000000000000000000000000000000000000000000000000000000000000000"]
)");
  write("prod.yaml", R"(
consumers:
  - name: b
    api_keys: ["sha256:0000000000000000000000000000000000000000000000000000000000000000"]
)");
  Sources s = load({"base.yaml", "prod.yaml"});
  ASSERT_EQ(s.loaded.errors.size(), 1u);
  EXPECT_EQ(errors(s)[0],
            "prod.yaml:3:16: consumers[1].api_keys[0]: duplicate API key hash (first at "
            "base.yaml:4)");
}

TEST_F(SourcesTest, IncludesMergeBeforeTheIncludingFile) {
  write("main.yaml", R"(
include: [conf.d/upstreams.yaml, conf.d/routes.yaml]
listeners: [{address: 127.0.0.1:8080}]
routes:
  - name: b
    match: {path: /b}
    respond: {status: 200, body: main}
)");
  write("conf.d/upstreams.yaml", R"(
upstreams:
  - name: api
    targets: [{address: 127.0.0.1:9000}]
)");
  write("conf.d/routes.yaml", R"(
include: more/extra.yaml
routes:
  - name: a
    match: {path: /a}
    upstream: api
  - name: b
    match: {path: /b}
    respond: {status: 200, body: included}
)");
  write("conf.d/more/extra.yaml", R"(
routes:
  - name: z
    match: {path: /z}
    respond: {}
)");
  Sources s = load({"main.yaml"});
  ASSERT_TRUE(s.loaded.ok()) << testing::PrintToString(errors(s));
  const Config& c = *s.loaded.config;
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].name, "z");
  EXPECT_EQ(c.routes[1].name, "a");
  EXPECT_EQ(c.routes[2].name, "b");
  EXPECT_EQ(c.routes[2].respond->body, "main");  // the including file's own keys win
  ASSERT_EQ(s.files.size(), 4u);
  EXPECT_EQ(s.files[0].path, dir_ + "/main.yaml");
  EXPECT_EQ(s.files[1].path, dir_ + "/conf.d/upstreams.yaml");
  EXPECT_EQ(s.files[2].path, dir_ + "/conf.d/routes.yaml");
  EXPECT_EQ(s.files[3].path, dir_ + "/conf.d/more/extra.yaml");  // relative to routes.yaml
  EXPECT_EQ(s.text.find("include"), std::string::npos) << s.text;
}

TEST_F(SourcesTest, AnIncludeCycleIsRefusedWhereItCloses) {
  write("a.yaml", R"(
listeners: [{address: 127.0.0.1:8080}]
include: b.yaml
)");
  write("b.yaml", R"(
workers: 1
include:
  - ./a.yaml
)");
  Sources s = load({"a.yaml"});
  EXPECT_EQ(errors(s), std::vector<std::string>{
                           "b.yaml:3:5: include[0]: include cycle: a.yaml -> b.yaml -> ./a.yaml"});
}

TEST_F(SourcesTest, IncludesNestBoundedly) {
  for (int i = 0; i <= kMaxIncludeDepth + 1; ++i) {
    write("n" + std::to_string(i) + ".yaml",
          (i == 0 ? "listeners: [{address: 127.0.0.1:8080}]\n" : "workers: 1\n") +
              std::string("include: n") + std::to_string(i + 1) + ".yaml\n");
  }
  Sources s = load({"n0.yaml"});
  ASSERT_EQ(s.loaded.errors.size(), 1u) << testing::PrintToString(errors(s));
  EXPECT_EQ(errors(s)[0], "n" + std::to_string(kMaxIncludeDepth) +
                              ".yaml:2:10: include: includes nest at most " +
                              std::to_string(kMaxIncludeDepth) + " levels deep");
}

TEST_F(SourcesTest, IncludeErrorsAreAtTheEntry) {
  write("main.yaml", R"(
listeners: [{address: 127.0.0.1:8080}]
include:
  - missing.yaml
  - {a: b}
  - empty.yaml
  - list.yaml
)");
  write("empty.yaml", "# nothing\n");
  write("list.yaml", "- a\n");
  Sources s = load({"main.yaml"});
  EXPECT_EQ(errors(s),
            (std::vector<std::string>{
                "main.yaml:3:5: include[0]: cannot read 'missing.yaml': cannot open config file: "
                "No such file or directory",
                "main.yaml:4:5: include[1]: expected a file name, got a map",
                "empty.yaml: the file is empty (a file that adds nothing is written {})",
                "list.yaml:1:1: the top level must be a map, got a list"}));
  // a missing file is still one to watch (it may appear)
  ASSERT_GE(s.files.size(), 2u);
  EXPECT_EQ(s.files[1].sha256, "");
}

TEST_F(SourcesTest, SyntaxErrorsNameTheirFile) {
  write("base.yaml", kBase);
  write("prod.yaml", "routes: [\n");
  Sources s = load({"base.yaml", "prod.yaml"});
  ASSERT_EQ(s.loaded.errors.size(), 1u);
  EXPECT_EQ(s.loaded.errors[0].file, dir_ + "/prod.yaml");
  EXPECT_EQ(s.loaded.errors[0].mark.line, 2);
}

TEST_F(SourcesTest, VariablesAreSubstitutedInEveryFile) {
  env_["PORT"] = "8081";
  env_["BACKEND"] = "127.0.0.1:9500";
  write("base.yaml", R"(
listeners: [{address: "127.0.0.1:${PORT}"}]
include: ${EXTRA:-up.yaml}
routes:
  - name: r
    match: {path: /r}
    respond: {status: 200, body: "${GREETING:-hello} $${PORT} ${path.id}"}
)");
  write("up.yaml", R"(
upstreams:
  - name: api
    targets: [{address: "${BACKEND}"}]
)");
  Sources s = load({"base.yaml"});
  ASSERT_TRUE(s.loaded.ok()) << testing::PrintToString(errors(s));
  const Config& c = *s.loaded.config;
  EXPECT_EQ(c.listeners[0].address.port, 8081);
  EXPECT_EQ(c.upstreams[0].targets[0].address.port, 9500);
  EXPECT_EQ(c.routes[0].respond->body, "hello ${PORT} ${path.id}");
  // the version's text holds the values
  EXPECT_NE(s.text.find("127.0.0.1:8081"), std::string::npos) << s.text;
  LoadResult again = load_config_string(s.text, "v.yaml");
  ASSERT_TRUE(again.ok()) << testing::PrintToString(messages(again));
  EXPECT_EQ(again.config->routes[0].respond->body, "hello ${PORT} ${path.id}");

  // a changed value is a changed config; the same values, the same hash
  const std::string hash = s.hash;
  EXPECT_EQ(load({"base.yaml"}).hash, hash);
  env_["BACKEND"] = "127.0.0.1:9501";
  EXPECT_NE(load({"base.yaml"}).hash, hash);
}

TEST_F(SourcesTest, AnUnsetVariableIsAnErrorAtItsValue) {
  write("base.yaml", R"(
listeners:
  - address: "127.0.0.1:${PORT}"
routes:
  - name: r
    match: {path: /r}
    respond: {status: 200, body: "${A}${B:-b}"}
)");
  Sources s = load({"base.yaml"});
  EXPECT_EQ(errors(s), (std::vector<std::string>{
                           "base.yaml:2:14: listeners[0].address: environment variable PORT is "
                           "not set (give a default with ${PORT:-value})",
                           "base.yaml:6:34: routes[0].respond.body: environment variable A is not "
                           "set (give a default with ${A:-value})"}));
}

TEST_F(SourcesTest, APlainValueSubstitutedEmptyIsNull) {
  env_["EMPTY"] = "";
  write("base.yaml", R"(
listeners: [{address: 127.0.0.1:8080}]
include: ${EMPTY}
admin: ${EMPTY}
)");
  Sources s = load({"base.yaml"});
  ASSERT_TRUE(s.loaded.ok()) << testing::PrintToString(errors(s));
  EXPECT_TRUE(s.loaded.config->admin.enabled);  // `admin:` alone: the defaults
  EXPECT_EQ(s.files.size(), 1u);
}

TEST_F(SourcesTest, KeysAreNotSubstituted) {
  env_["K"] = "workers";
  write("base.yaml", R"(
listeners: [{address: 127.0.0.1:8080}]
${K}: 2
)");
  Sources s = load({"base.yaml"});
  ASSERT_EQ(s.loaded.errors.size(), 1u);
  EXPECT_EQ(s.loaded.errors[0].key, "${K}");
}

TEST_F(SourcesTest, TheReloadSection) {
  write("a.yaml", R"(
listeners: [{address: 127.0.0.1:8080}]
reload: {watch: true, debounce: 50ms}
)");
  Sources s = load({"a.yaml"});
  ASSERT_TRUE(s.loaded.ok()) << testing::PrintToString(errors(s));
  EXPECT_TRUE(s.loaded.config->reload.watch);
  EXPECT_EQ(s.loaded.config->reload.debounce_ms, 50u);

  write("b.yaml", R"(
listeners: [{address: 127.0.0.1:8080}]
reload: {watch: yes, debounce: 2m, wach: true}
)");
  EXPECT_EQ(
      errors(load({"b.yaml"})),
      (std::vector<std::string>{"b.yaml:2:17: reload.watch: expected true or false, got 'yes'",
                                "b.yaml:2:32: reload.debounce: at most 1m",
                                "b.yaml:2:36: reload.wach: unknown key 'wach' (did you mean "
                                "'watch'?)"}));
  write("c.yaml", "listeners: [{address: 127.0.0.1:8080}]\n");
  Sources d = load({"c.yaml"});
  ASSERT_TRUE(d.loaded.ok());
  EXPECT_FALSE(d.loaded.config->reload.watch);
  EXPECT_EQ(d.loaded.config->reload.debounce_ms, 200u);
}

}  // namespace
}  // namespace sluice::config
