// ${VAR} substitution in one value (config/sources.h) and a tree written back as YAML
// (config/emit.h): the text parses into the same tree.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "config/document.h"
#include "config/emit.h"
#include "config/sources.h"

namespace sluice::config {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const EnvLookup kEnv = env_of({{"HOST", "db.internal"}, {"PORT", "5432"}, {"EMPTY", ""}});

std::string sub(std::string_view text) {
  Substituted s = substitute_env(text, kEnv);
  EXPECT_EQ(s.error, "") << text;
  return s.text;
}

TEST(SubstituteEnv, ValuesAndDefaults) {
  EXPECT_EQ(sub("${HOST}:${PORT}"), "db.internal:5432");
  EXPECT_EQ(sub("${NOPE:-fallback}"), "fallback");
  EXPECT_EQ(sub("${EMPTY:-fallback}"), "fallback");  // :- also when empty
  EXPECT_EQ(sub("[${EMPTY}]"), "[]");
  EXPECT_EQ(sub("${NOPE:-}x"), "x");
  EXPECT_EQ(sub("${HOST:-other}"), "db.internal");
  EXPECT_EQ(sub("${NOPE:-a:b/c}"), "a:b/c");
  EXPECT_EQ(sub("${_X1:-u}"), "u");
}

TEST(SubstituteEnv, WhatIsLeftAlone) {
  for (const char* t : {"${path.id}", "${status}", "${header.x-tenant}", "$$ ${jwt.sub}", "$1",
                        "cost: $5", "${Host}", "${1X}", "${HOST.x}", "$", "${", "a$b"}) {
    Substituted s = substitute_env(t, kEnv);
    EXPECT_EQ(s.text, t);
    EXPECT_FALSE(s.changed) << t;
    EXPECT_EQ(s.error, "");
  }
}

TEST(SubstituteEnv, Escapes) {
  EXPECT_EQ(sub("$${HOST}"), "${HOST}");
  EXPECT_EQ(sub("$${HOST:-x} ${PORT}"), "${HOST:-x} 5432");
  EXPECT_EQ(sub("$$${HOST}"), "$${HOST}");       // a template's literal '$' before the text
  EXPECT_EQ(sub("$${path.id}"), "$${path.id}");  // a template's own escape, untouched
  EXPECT_TRUE(substitute_env("$${HOST}", kEnv).changed);
}

TEST(SubstituteEnv, Errors) {
  Substituted s = substitute_env("x${NOPE}y${PORT}", kEnv);
  EXPECT_EQ(s.error, "environment variable NOPE is not set (give a default with ${NOPE:-value})");
  EXPECT_EQ(substitute_env("${HOST", kEnv).error,
            "unclosed ${HOST (write ${HOST} or ${HOST:-default})");
  EXPECT_EQ(substitute_env("${HOST:-abc", kEnv).error,
            "unclosed ${HOST (write ${HOST} or ${HOST:-default})");
}

TEST(SubstituteEnv, UsedVariablesAreListed) {
  Substituted s = substitute_env("${HOST}${NOPE:-d}", kEnv);
  ASSERT_EQ(s.used.size(), 2u);
  EXPECT_EQ(s.used[0].first, "HOST");
  EXPECT_EQ(s.used[0].second, "db.internal");
  EXPECT_EQ(s.used[1].first, "NOPE");
  EXPECT_EQ(s.used[1].second, std::nullopt);
}

// The tree of `text` and of to_yaml(tree), compared node by node.
void expect_same(const Node& a, const Node& b, const std::string& where) {
  ASSERT_EQ(a.type(), b.type()) << where;
  if (a.is_scalar()) {
    EXPECT_EQ(a.scalar(), b.scalar()) << where;
    EXPECT_EQ(a.quoted(), b.quoted()) << where << ": " << a.scalar();
  }
  ASSERT_EQ(a.size(), b.size()) << where;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a.is_map()) {
      expect_same(a.key(i), b.key(i), where + "." + std::string(a.key(i).scalar()));
      expect_same(a.value(i), b.value(i), where + "." + std::string(a.key(i).scalar()));
    } else {
      expect_same(a.at(i), b.at(i), where + "[" + std::to_string(i) + "]");
    }
  }
}

TEST(ToYaml, ParsesBackToTheSameTree) {
  const char* text = R"(
plain: value
number: 8080
quoted: "8080"
single: 'on'
nulls: [~, null, ]
empty: ""
quoted_null: "null"
colon: "a: b"
hash: "a #b"
lead: " spaces "
multi: |
  line one
  line two
folded: >
  one
  two
unicode: "caf\u00e9 \u2603"
control: "tab\there\x01"
path: /users/{id}
flow: {a: [1, 2], "b c": {}}
anchor: &x {k: v, l: [1]}
alias: *x
"quoted key": 1
? [complex]
: x
list:
  - - nested
  - {}
  - []
)";
  ParseResult p = parse_document(text);
  ASSERT_EQ(p.error, "");
  const std::string out = to_yaml(p.root, "# header\n");
  EXPECT_EQ(out.rfind("# header\n", 0), 0u);
  ParseResult q = parse_document(out);
  ASSERT_EQ(q.error, "") << out;
  expect_same(p.root, q.root, "root");
}

TEST(ToYaml, SharedSubtreesAreWrittenOnce) {
  // An alias bomb: 9 levels of 10 aliases, about a billion leaves if written out.
  std::string text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) text += (j ? ", " : "") + prev;
    text += "]\n";
  }
  ParseResult p = parse_document(text);
  ASSERT_EQ(p.error, "");
  const std::string out = to_yaml(p.root);
  EXPECT_LT(out.size(), text.size() * 4) << out;
  ParseResult q = parse_document(out);
  ASSERT_EQ(q.error, "") << out;
  EXPECT_EQ(q.root.value(8).at(9).at(9).at(9).at(0).is_sequence(), true);
}

TEST(MergeTrees, AliasesOfAliasesAreBounded) {
  std::string text = "l0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n";
  for (int i = 1; i < 10; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " {";
    for (char c = 'a'; c <= 'h'; ++c) text += std::string(c == 'a' ? "" : ", ") + c + ": " + prev;
    text += "}\n";
  }
  ParseResult a = parse_document(text, 0);
  ParseResult b = parse_document(text, 1);
  ASSERT_EQ(a.error, "");
  const Node layers[] = {a.root, b.root};
  std::string error;
  std::optional<Node> merged = merge_trees(layers, {1, 1, 0}, &error);
  EXPECT_FALSE(merged.has_value());
  EXPECT_EQ(error, "the files merge into too large a tree (aliases of aliases?)");
}

TEST(MergeTrees, MarksKeepTheirFile) {
  ParseResult a = parse_document("x: {a: 1, b: 2}\nroutes: [{name: r, v: 1}]\n", 0);
  ParseResult b = parse_document("x: {b: 3}\nroutes: [{name: r, v: 2}, {name: s}]\n", 1);
  const Node layers[] = {a.root, b.root};
  std::string error;
  std::optional<Node> m = merge_trees(layers, {1, 1, 0}, &error);
  ASSERT_TRUE(m.has_value()) << error;
  const Node x = m->value(0);
  EXPECT_EQ(x.value(0).scalar(), "1");
  EXPECT_EQ(x.value(0).mark().source, 0);
  EXPECT_EQ(x.value(1).scalar(), "3");
  EXPECT_EQ(x.value(1).mark().source, 1);
  EXPECT_EQ(x.value(1).mark().line, 1);
  const Node routes = m->value(1);
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes.at(0).value(1).scalar(), "2");
  EXPECT_EQ(routes.at(0).mark().source, 1);
}

}  // namespace
}  // namespace sluice::config
