#include "transform/json_edit.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::transform {
namespace {

JsonEdit compile_ok(const JsonEditSpec& spec) {
  JsonEdit edit;
  std::string err;
  EXPECT_TRUE(JsonEdit::compile(spec, edit, &err)) << err;
  return edit;
}

std::string compile_error(const JsonEditSpec& spec) {
  JsonEdit edit;
  std::string err;
  EXPECT_FALSE(JsonEdit::compile(spec, edit, &err));
  return err;
}

// The edited body, or "ERROR: <message>".
std::string run(const JsonEdit& edit, std::string_view body, std::vector<std::string> values = {}) {
  std::string out, err;
  if (!edit.apply(body, values, out, &err)) return "ERROR: " + err;
  return out;
}

std::string run(const JsonEditSpec& spec, std::string_view body,
                std::vector<std::string> values = {}) {
  return run(compile_ok(spec), body, std::move(values));
}

JsonEditSpec set(std::string pointer, Json value) {
  JsonEditSpec s;
  s.set.push_back({std::move(pointer), std::move(value)});
  return s;
}

JsonEditSpec remove(std::string pointer) {
  JsonEditSpec s;
  s.remove.push_back(std::move(pointer));
  return s;
}

JsonEditSpec rename(std::string from, std::string to) {
  JsonEditSpec s;
  s.rename.emplace_back(std::move(from), std::move(to));
  return s;
}

TEST(JsonEdit, TheGatewayExample) {
  JsonEditSpec spec;
  spec.set = {{.pointer = "/meta/source", .value = "gateway"}};
  spec.remove = {"/password"};
  spec.rename = {{"/name", "/full_name"}};
  EXPECT_EQ(run(spec, R"({"name":"Ada","password":"x","age":36})"),
            R"({"full_name":"Ada","age":36,"meta":{"source":"gateway"}})");
}

TEST(JsonEdit, CompileRejectsMalformedPointersAndNamesThem) {
  EXPECT_EQ(compile_error(remove("a/b")),
            R"(remove: invalid JSON pointer "a/b": must be empty or start with '/')");
  EXPECT_EQ(compile_error(set("/a~2", 1)),
            R"(set: invalid JSON pointer "/a~2": '~' at byte 2 must be followed by 0 or 1)");
  EXPECT_EQ(compile_error(set("/a~", 1)),
            R"(set: invalid JSON pointer "/a~": '~' at byte 2 must be followed by 0 or 1)");
  EXPECT_EQ(compile_error(rename("/a", "b")),
            R"(rename: invalid JSON pointer "b": must be empty or start with '/')");
  EXPECT_EQ(compile_error(rename("x", "/b")),
            R"(rename: invalid JSON pointer "x": must be empty or start with '/')");
  EXPECT_NE(compile_error(remove("")).find("the whole document cannot be removed"),
            std::string::npos);
  EXPECT_NE(compile_error(rename("", "/a")).find("the whole document cannot be moved"),
            std::string::npos);
}

TEST(JsonEdit, EscapedTokens) {
  EXPECT_EQ(run(set("/a~1b", 1), "{}"), R"({"a/b":1})");
  EXPECT_EQ(run(set("/m~0n", 1), "{}"), R"({"m~n":1})");
  EXPECT_EQ(run(set("/~01", 1), "{}"), R"({"~1":1})");  // ~0 first, so not "/"
  EXPECT_EQ(run(remove("/a~1b"), R"({"a/b":1,"c":2})"), R"({"c":2})");
  EXPECT_EQ(run(set("/", 1), "{}"), R"({"":1})");  // "/" is the member named ""
}

TEST(JsonEdit, RemoveDeletesAndIgnoresMissingPaths) {
  EXPECT_EQ(run(remove("/a"), R"({"a":1,"b":2})"), R"({"b":2})");
  EXPECT_EQ(run(remove("/a/b"), R"({"a":{"b":1,"c":2}})"), R"({"a":{"c":2}})");
  EXPECT_EQ(run(remove("/zz"), R"({"a":1})"), R"({"a":1})");
  EXPECT_EQ(run(remove("/a/b"), R"({"a":"scalar"})"), R"({"a":"scalar"})");
  EXPECT_EQ(run(remove("/a/b/c"), R"({"a":null})"), R"({"a":null})");
  EXPECT_EQ(run(remove("/a"), R"([1,2])"), R"([1,2])");
  EXPECT_EQ(run(remove("/a"), R"("str")"), R"("str")");
}

TEST(JsonEdit, RemoveFromArrays) {
  EXPECT_EQ(run(remove("/a/1"), R"({"a":[1,2,3]})"), R"({"a":[1,3]})");
  EXPECT_EQ(run(remove("/0"), R"([1,2])"), R"([2])");
  EXPECT_EQ(run(remove("/a/3"), R"({"a":[1,2,3]})"), R"({"a":[1,2,3]})");
  EXPECT_EQ(run(remove("/a/-"), R"({"a":[1,2,3]})"), R"({"a":[1,2,3]})");
  EXPECT_EQ(run(remove("/a/01"), R"({"a":[1,2,3]})"), R"({"a":[1,2,3]})");  // not an index
  EXPECT_EQ(run(remove("/a/x"), R"({"a":[1,2,3]})"), R"({"a":[1,2,3]})");
  EXPECT_EQ(run(remove("/a/99999999999999999999999"), R"({"a":[1]})"), R"({"a":[1]})");
  EXPECT_EQ(run(remove("/a/0/b"), R"({"a":[{"b":1,"c":2}]})"), R"({"a":[{"c":2}]})");
}

TEST(JsonEdit, SetCreatesIntermediateObjects) {
  EXPECT_EQ(run(set("/meta/source", "gateway"), "{}"), R"({"meta":{"source":"gateway"}})");
  EXPECT_EQ(run(set("/a/b/c", 1), R"({"a":{"x":0}})"), R"({"a":{"x":0,"b":{"c":1}}})");
}

TEST(JsonEdit, SetReplacesKeepingPosition) {
  EXPECT_EQ(run(set("/a", "new"), R"({"a":"old","b":2})"), R"({"a":"new","b":2})");
  EXPECT_EQ(run(set("/a", Json::object()), R"({"a":[1]})"), R"({"a":{}})");
}

TEST(JsonEdit, SetTypedValues) {
  EXPECT_EQ(run(set("/v", 42), "{}"), R"({"v":42})");
  EXPECT_EQ(run(set("/v", true), "{}"), R"({"v":true})");
  EXPECT_EQ(run(set("/v", nullptr), "{}"), R"({"v":null})");
  EXPECT_EQ(run(set("/v", 1.5), "{}"), R"({"v":1.5})");
  Json literal;
  std::string err;
  ASSERT_TRUE(parse_json(R"({"z":1,"a":[true]})", literal, &err)) << err;
  EXPECT_EQ(run(set("/v", literal), "{}"), R"({"v":{"z":1,"a":[true]}})");
  EXPECT_EQ(run(set("/v", "42"), "{}"), R"({"v":"42"})");  // a plain YAML scalar: a string
}

TEST(JsonEdit, SetInArrays) {
  EXPECT_EQ(run(set("/a/-", 3), R"({"a":[1,2]})"), R"({"a":[1,2,3]})");
  EXPECT_EQ(run(set("/a/0", 9), R"({"a":[1,2]})"), R"({"a":[9,2]})");
  EXPECT_EQ(run(set("/a/1/b", 9), R"({"a":[1,{}]})"), R"({"a":[1,{"b":9}]})");
  EXPECT_EQ(run(set("/-", 3), R"([1])"), R"([1,3])");
  EXPECT_EQ(run(set("/a/2", 9), R"({"a":[1,2]})"),
            "ERROR: cannot set /a/2: index 2 is past the end of /a (size 2)");
  EXPECT_EQ(run(set("/5", 9), R"([])"),
            "ERROR: cannot set /5: index 5 is past the end of the document (size 0)");
  EXPECT_EQ(run(set("/a/x", 9), R"({"a":[1]})"),
            R"(ERROR: cannot set /a/x: /a is an array and "x" is not an index)");
  EXPECT_EQ(run(set("/a/01", 9), R"({"a":[1,2]})"),
            R"(ERROR: cannot set /a/01: /a is an array and "01" is not an index)");
  EXPECT_EQ(run(set("/a/-/b", 9), R"({"a":[]})"),
            R"(ERROR: cannot set /a/-/b: "-" can only be the last token)");
  // A missing array is not created: "-" on a missing member is the member named "-".
  EXPECT_EQ(run(set("/a/-", 1), "{}"), R"({"a":{"-":1}})");
}

TEST(JsonEdit, SetThroughAScalarIsAnError) {
  EXPECT_EQ(run(set("/a/b", 1), R"({"a":"x"})"), "ERROR: cannot set /a/b: /a is a string");
  EXPECT_EQ(run(set("/a/b/c", 1), R"({"a":{"b":3}})"),
            "ERROR: cannot set /a/b/c: /a/b is a number");
  EXPECT_EQ(run(set("/a/b", 1), R"({"a":null})"), "ERROR: cannot set /a/b: /a is null");
  EXPECT_EQ(run(set("/a/b", 1), R"({"a":false})"), "ERROR: cannot set /a/b: /a is a boolean");
  EXPECT_EQ(run(set("/a", 1), R"("text")"), "ERROR: cannot set /a: the document is a string");
}

TEST(JsonEdit, SetTheRootReplacesTheBody) {
  EXPECT_EQ(run(set("", Json::array({1, 2})), R"({"a":1})"), "[1,2]");
}

TEST(JsonEdit, RenameKeepsPositionInTheSameObject) {
  EXPECT_EQ(run(rename("/name", "/full_name"), R"({"id":1,"name":"Ada","age":36})"),
            R"({"id":1,"full_name":"Ada","age":36})");
  EXPECT_EQ(run(rename("/a/x", "/a/y"), R"({"a":{"x":1,"z":2}})"), R"({"a":{"y":1,"z":2}})");
}

TEST(JsonEdit, RenameOntoAnExistingMemberReplacesIt) {
  EXPECT_EQ(run(rename("/a", "/b"), R"({"a":1,"b":2,"c":3})"), R"({"b":1,"c":3})");
}

TEST(JsonEdit, RenameMovesAcrossTheDocument) {
  EXPECT_EQ(run(rename("/user/name", "/profile/name"), R"({"user":{"name":"x","id":1}})"),
            R"({"user":{"id":1},"profile":{"name":"x"}})");
  EXPECT_EQ(run(rename("/a", "/list/-"), R"({"a":3,"list":[1]})"), R"({"list":[1,3]})");
  EXPECT_EQ(run(rename("/list/0", "/first"), R"({"list":[1,2]})"), R"({"list":[2],"first":1})");
  EXPECT_EQ(run(rename("/data", ""), R"({"data":{"x":1},"meta":2})"), R"({"x":1})");
  // Into what used to be its own child: the value is taken out first.
  EXPECT_EQ(run(rename("/a", "/a/b"), R"({"a":{"c":1}})"), R"({"a":{"b":{"c":1}}})");
}

TEST(JsonEdit, RenameOfAMissingSourceIsANoOp) {
  EXPECT_EQ(run(rename("/nope", "/x"), R"({"a":1})"), R"({"a":1})");
  EXPECT_EQ(run(rename("/a/b", "/x"), R"({"a":"s"})"), R"({"a":"s"})");
}

TEST(JsonEdit, RenameErrorsNameBothPointers) {
  EXPECT_EQ(run(rename("/a", "/s/x"), R"({"a":1,"s":"str"})"),
            "ERROR: cannot rename /a to /s/x: /s is a string");
}

TEST(JsonEdit, OrderIsRemoveRenameSet) {
  JsonEditSpec spec;
  spec.set = {{.pointer = "/y", .value = 1}};
  spec.rename = {{"/y", "/x"}};
  spec.remove = {"/x"};
  // remove /x, then /y moves to /x, then /y is set anew.
  EXPECT_EQ(run(spec, R"({"x":0,"y":2})"), R"({"x":2,"y":1})");
  // Within a list, in the given order.
  JsonEditSpec chain;
  chain.rename = {{"/a", "/b"}, {"/b", "/c"}};
  EXPECT_EQ(run(chain, R"({"a":1})"), R"({"c":1})");
}

TEST(JsonEdit, PerRequestValuesAreStringsInSetOrder) {
  JsonEditSpec spec;
  spec.set = {{.pointer = "/id", .per_request = true},
              {.pointer = "/fixed", .value = 1},
              {.pointer = "/who", .per_request = true}};
  JsonEdit edit = compile_ok(spec);
  EXPECT_EQ(edit.per_request_values(), 2u);
  EXPECT_EQ(run(edit, "{}", {"r-1", R"(a "quoted" \ value)"}),
            R"({"id":"r-1","fixed":1,"who":"a \"quoted\" \\ value"})");
  EXPECT_EQ(run(edit, "{}", {"42", "true"}), R"({"id":"42","fixed":1,"who":"true"})");
  EXPECT_EQ(run(edit, "{}", {"only one"}), "ERROR: expected 2 per-request values, got 1");
  EXPECT_EQ(run(edit, "{}"), "ERROR: expected 2 per-request values, got 0");
}

TEST(JsonEdit, InvalidUtf8InAPerRequestValueBecomesReplacementCharacters) {
  JsonEditSpec spec;
  spec.set = {{.pointer = "/h", .per_request = true}};
  EXPECT_EQ(run(spec, "{}", {"caf\xE9"}), "{\"h\":\"caf\xEF\xBF\xBD\"}");
}

TEST(JsonEdit, AnEmptyProgramRewritesCompactly) {
  EXPECT_EQ(run(JsonEditSpec{}, " { \"a\" : [ 1 , 2 ] ,\n \"b\" : \"\\u00e9\\n\" } "),
            "{\"a\":[1,2],\"b\":\"\xC3\xA9\\n\"}");
}

TEST(JsonEdit, MalformedBodies) {
  JsonEdit edit = compile_ok(remove("/a"));
  EXPECT_EQ(run(edit, R"({"a":tru})")
                .rfind("ERROR: invalid JSON at byte 8: syntax error while parsing value - invalid "
                       "literal; last read: ",
                       0),
            0u);
  EXPECT_EQ(run(edit, ""),
            "ERROR: invalid JSON at byte 0: syntax error while parsing value - unexpected end of "
            "input; expected '[', '{', or a literal");
  EXPECT_EQ(run(edit, R"({"a":1} x)").rfind("ERROR: invalid JSON at byte 8: ", 0), 0u);
  EXPECT_EQ(run(edit, R"({"a":1e400})"),
            "ERROR: invalid JSON at byte 9: number overflow parsing '1e400'");
  EXPECT_EQ(run(edit, "\"\xFF\"").rfind("ERROR: invalid JSON at byte 1: ", 0), 0u);
}

TEST(JsonEdit, NestingIsLimited) {
  JsonEdit edit = compile_ok(remove("/a"));
  std::string ok = std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
  EXPECT_EQ(run(edit, ok), ok);
  std::string deep = std::string(kMaxDepth + 1, '[') + std::string(kMaxDepth + 1, ']');
  EXPECT_EQ(run(edit, deep),
            "ERROR: invalid JSON at byte 64: nesting too deep (more than 64 "
            "levels)");
  std::string hostile(1'000'000, '[');
  EXPECT_NE(run(edit, hostile).find("nesting too deep"), std::string::npos);
}

TEST(JsonEdit, ApplyIsReusableAndConst) {
  const JsonEdit edit = compile_ok(set("/n", 1));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run(edit, "{}"), R"({"n":1})");
  JsonEdit copy = edit;
  EXPECT_EQ(run(copy, R"({"n":0})"), R"({"n":1})");
}

}  // namespace
}  // namespace sluice::transform
