// The config's YAML document tree (src/config/document.h): what the loader relies on.
#include "config/document.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::config {
namespace {

Node parse_ok(const std::string& text) {
  ParseResult r = parse_document(text);
  EXPECT_EQ(r.error, "") << text;
  return r.root;
}

ParseResult parse_bad(const std::string& text) {
  ParseResult r = parse_document(text);
  EXPECT_NE(r.error, "") << text;
  EXPECT_FALSE(r.root.is_defined());
  return r;
}

TEST(Document, MapsListsScalarsAndMarks) {
  const Node root = parse_ok("a: 1\nb:\n  - x\n  - 'y'\nc: {d: e}\n");
  ASSERT_TRUE(root.is_map());
  ASSERT_EQ(root.size(), 3u);
  EXPECT_EQ(root.key(0).scalar(), "a");
  EXPECT_EQ(root.value(0).scalar(), "1");
  EXPECT_EQ(root.value(0).mark().line, 1);
  EXPECT_EQ(root.value(0).mark().col, 4);
  const Node b = root.value(1);
  ASSERT_TRUE(b.is_sequence());
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.at(0).scalar(), "x");
  EXPECT_FALSE(b.at(0).quoted());
  EXPECT_EQ(b.at(1).scalar(), "y");
  EXPECT_TRUE(b.at(1).quoted());
  EXPECT_EQ(b.at(1).mark().line, 4);
  EXPECT_EQ(b.at(1).mark().col, 5);
  EXPECT_TRUE(root.value(2).is_map());
  EXPECT_EQ(root.value(2).value(0).scalar(), "e");
  // Out of range and wrong kind: undefined, never a crash.
  EXPECT_FALSE(b.at(2).is_defined());
  EXPECT_FALSE(b.key(0).is_defined());
  EXPECT_FALSE(root.at(0).is_defined());
  EXPECT_EQ(root.scalar(), "");
  EXPECT_EQ(Node().size(), 0u);
  EXPECT_EQ(Node().mark().line, 0);
}

TEST(Document, NullIsOnlyUnquoted) {
  const Node root = parse_ok("a:\nb: ~\nc: null\nd: NULL\ne: 'null'\nf: \"\"\ng: nulls\n");
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(root.value(i).is_null()) << i;
  EXPECT_TRUE(root.value(4).is_scalar());
  EXPECT_EQ(root.value(4).scalar(), "null");
  EXPECT_TRUE(root.value(5).is_scalar());
  EXPECT_EQ(root.value(5).scalar(), "");
  EXPECT_TRUE(root.value(6).is_scalar());
}

TEST(Document, DuplicateKeysAreKeptInOrder) {
  const Node root = parse_ok("a: 1\na: 2\n");
  ASSERT_EQ(root.size(), 2u);
  EXPECT_EQ(root.value(0).scalar(), "1");
  EXPECT_EQ(root.value(1).scalar(), "2");
}

TEST(Document, ScalarsKeepTheirBytes) {
  const Node root = parse_ok("a: \"x\\0y\\u00e9\"\nb: |\n  line1\n  line2\n");
  EXPECT_EQ(root.value(0).scalar(), std::string("x\0y\xc3\xa9", 5));
  EXPECT_EQ(root.value(1).scalar(), "line1\nline2\n");
}

TEST(Document, AliasesShareTheirAnchorsNode) {
  const Node root = parse_ok("base: &b {x: 1}\nuse: *b\ns: &s text\nt: *s\n");
  EXPECT_TRUE(root.value(1).is_map());
  EXPECT_EQ(root.value(1).value(0).scalar(), "1");
  EXPECT_EQ(root.value(3).scalar(), "text");
}

TEST(Document, AliasBombStaysSmall) {
  // Each level refers to the previous one ten times: 10^9 leaves if expanded.
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    const std::string p = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + p;
    for (int k = 0; k < 9; ++k) text += ", " + p;
    text += "]\n";
  }
  const Node root = parse_ok(text);
  EXPECT_EQ(root.size(), 10u);
  // A detached copy keeps the sharing too.
  const Node copy = root.value(9).detach();
  ASSERT_EQ(copy.size(), 10u);
  EXPECT_EQ(copy.at(3).at(4).at(5).size(), 10u);
}

TEST(Document, UndefinedOrRecursiveAliasIsRefused) {
  ParseResult r = parse_bad("a: *nope\n");
  EXPECT_NE(r.error.find("'nope' is not defined"), std::string::npos) << r.error;
  EXPECT_EQ(r.error_mark.line, 1);
  EXPECT_EQ(r.error_mark.col, 4);
  r = parse_bad("a: &x [1, *x]\n");
  EXPECT_NE(r.error.find("'x' is not defined"), std::string::npos) << r.error;
}

TEST(Document, TagsAreRefusedWhereTheyAre) {
  ParseResult r = parse_bad("a:\n  b: !secret s\n");
  EXPECT_EQ(r.error, "YAML tag '!secret' is not supported (write the value itself)");
  EXPECT_EQ(r.error_mark.line, 2);
  EXPECT_EQ(r.error_mark.col, 6);
  EXPECT_NE(parse_bad("a: !!map {b: 1}\n").error.find("'!!map'"), std::string::npos);
  EXPECT_NE(parse_bad("a: !!seq [1]\n").error.find("'!!seq'"), std::string::npos);
  EXPECT_NE(parse_bad("a: !!str 1\n").error.find("'!!str'"), std::string::npos);
}

TEST(Document, OneDocumentOnly) {
  ParseResult r = parse_bad("a: 1\n---\nb: 2\n");
  EXPECT_EQ(r.error, "only one YAML document is allowed per config file");
  EXPECT_EQ(r.error_mark.line, 2);
  EXPECT_EQ(parse_ok("---\na: 1\n...\n").size(), 1u);
  EXPECT_FALSE(parse_ok("# only a comment\n").is_defined());
  EXPECT_TRUE(parse_ok("---\n").is_null());
}

TEST(Document, NestingIsBounded) {
  const auto nested = [](int depth) {
    return std::string(static_cast<size_t>(depth), '[') +
           std::string(static_cast<size_t>(depth), ']');
  };
  EXPECT_TRUE(parse_ok(nested(kMaxDepth)).is_sequence());
  ParseResult r = parse_bad(nested(kMaxDepth + 1));
  EXPECT_NE(r.error.find("nested too deeply"), std::string::npos) << r.error;
  r = parse_bad(nested(100000));
  EXPECT_NE(r.error.find("nested too deeply"), std::string::npos) << r.error;
}

TEST(Document, SyntaxAndEncodingErrorsHaveTheirPosition) {
  ParseResult r = parse_bad("a: [1\nb: 2\n");
  EXPECT_EQ(r.error.rfind("invalid YAML: ", 0), 0u) << r.error;
  EXPECT_GT(r.error_mark.line, 0);
  r = parse_bad("a: 1\nb: \xff\n");
  EXPECT_EQ(r.error.rfind("invalid YAML: ", 0), 0u) << r.error;
  EXPECT_EQ(r.error_mark.line, 2);
  EXPECT_EQ(r.error_mark.col, 4);
}

TEST(Document, DetachOutlivesTheFile) {
  Node kept;
  {
    const Node root = parse_ok("f:\n  set: {x-a: '1'}\n  when: {methods: GET}\nother: [1, 2, 3]\n");
    kept = root.value(0).detach();
  }
  ASSERT_TRUE(kept.is_map());
  EXPECT_EQ(kept.key(0).scalar(), "set");
  EXPECT_EQ(kept.value(0).value(0).scalar(), "1");
  EXPECT_TRUE(kept.value(0).value(0).quoted());
  EXPECT_EQ(kept.value(0).value(0).mark().line, 2);  // marks are the file's
  EXPECT_EQ(kept.mark().line, 2);
}

TEST(Document, WithoutKeys) {
  const Node root = parse_ok("set: 1\nwhen: 2\n? [complex]\n: 3\ntimeout: 4\nset: 5\n");
  static constexpr std::string_view kDrop[] = {"when", "timeout"};
  const Node kept = root.without_keys(kDrop);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept.key(0).scalar(), "set");
  EXPECT_TRUE(kept.key(1).is_sequence());
  EXPECT_EQ(kept.value(2).scalar(), "5");
  EXPECT_EQ(kept.mark().line, root.mark().line);
  const Node s = Node::scalar_node("GET", {3, 4});
  EXPECT_EQ(s.scalar(), "GET");
  EXPECT_EQ(s.mark().col, 4);
  EXPECT_EQ(s.without_keys(kDrop).scalar(), "GET");
}

}  // namespace
}  // namespace sluice::config
