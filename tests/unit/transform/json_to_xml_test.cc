#include <gtest/gtest.h>

#include <string>

#include "transform/json_parse.h"
#include "transform/xml_json.h"

namespace sluice::transform {
namespace {

constexpr std::string_view kDecl = R"(<?xml version="1.0" encoding="UTF-8"?>)";

// The XML after the declaration, or "ERROR: <message>".
std::string to_xml(std::string_view json, const XmlOptions& options = {}) {
  std::string out, err;
  if (!json_to_xml(json, options, out, &err)) return "ERROR: " + err;
  EXPECT_EQ(out.substr(0, kDecl.size()), kDecl);
  return out.substr(kDecl.size());
}

TEST(JsonToXml, WritesTheDeclarationThenCompactXml) {
  std::string out, err;
  ASSERT_TRUE(json_to_xml(R"({"a":"x"})", {}, out, &err)) << err;
  EXPECT_EQ(out, R"(<?xml version="1.0" encoding="UTF-8"?><a>x</a>)");
}

TEST(JsonToXml, MembersBecomeElementsInOrder) {
  EXPECT_EQ(to_xml(R"({"order":{"z":"1","a":{"b":"2"}}})"),
            "<order><z>1</z><a><b>2</b></a></order>");
}

TEST(JsonToXml, ScalarsBecomeText) {
  EXPECT_EQ(to_xml(R"({"a":{"n":42,"f":-1.5,"t":true,"f2":false,"u":18446744073709551615}})"),
            "<a><n>42</n><f>-1.5</f><t>true</t><f2>false</f2><u>18446744073709551615</u></a>");
}

TEST(JsonToXml, NullEmptyStringAndEmptyObjectAreEmptyElements) {
  EXPECT_EQ(to_xml(R"({"a":{"n":null,"s":"","o":{},"e":[]}})"), "<a><n/><s/><o/></a>");
}

TEST(JsonToXml, AttributesAndText) {
  EXPECT_EQ(to_xml(R"({"p":{"@id":"7","@n":3,"@ok":true,"@none":null,"#text":"hi"}})"),
            R"(<p id="7" n="3" ok="true" none="">hi</p>)");
  // Attributes go into the start tag wherever they are among the members.
  EXPECT_EQ(to_xml(R"({"p":{"c":"x","@id":"1"}})"), R"(<p id="1"><c>x</c></p>)");
  // "#text" stays where it is among the children.
  EXPECT_EQ(to_xml(R"({"p":{"b":"1","#text":"mid","c":"2"}})"), "<p><b>1</b>mid<c>2</c></p>");
  EXPECT_EQ(to_xml(R"({"p":{"#text":5}})"), "<p>5</p>");
  EXPECT_EQ(to_xml(R"({"p":{"@id":"1","#text":null}})"), R"(<p id="1"/>)");
}

TEST(JsonToXml, ArraysBecomeRepeatedElements) {
  EXPECT_EQ(to_xml(R"({"list":{"item":["a",{"@k":"v"},null,{"x":"1"}]}})"),
            R"(<list><item>a</item><item k="v"/><item/><item><x>1</x></item></list>)");
}

TEST(JsonToXml, ArraysInArraysUseTheItemName) {
  EXPECT_EQ(to_xml(R"({"m":{"row":[[1,2],[3]]}})"),
            "<m><row><item>1</item><item>2</item></row><row><item>3</item></row></m>");
  XmlOptions o;
  o.item = "cell";
  EXPECT_EQ(to_xml(R"({"m":{"row":[[1]]}})", o), "<m><row><cell>1</cell></row></m>");
}

TEST(JsonToXml, DocumentsThatAreNotOneElementAreWrapped) {
  EXPECT_EQ(to_xml(R"({"a":1,"b":2})"), "<root><a>1</a><b>2</b></root>");
  EXPECT_EQ(to_xml(R"({})"), "<root/>");
  EXPECT_EQ(to_xml(R"({"a":[1,2]})"), "<root><a>1</a><a>2</a></root>");
  EXPECT_EQ(to_xml(R"([{"a":1},2])"), "<root><item><a>1</a></item><item>2</item></root>");
  EXPECT_EQ(to_xml(R"("text")"), "<root>text</root>");
  EXPECT_EQ(to_xml("null"), "<root/>");
  EXPECT_EQ(to_xml(R"({"@version":"2"})"), R"(<root version="2"/>)");
  EXPECT_EQ(to_xml(R"({"#text":"t"})"), "<root>t</root>");
  XmlOptions o;
  o.root = "soap:Body";
  EXPECT_EQ(to_xml(R"({"a":1,"b":2})", o), "<soap:Body><a>1</a><b>2</b></soap:Body>");
}

TEST(JsonToXml, EscapesTextAndAttributes) {
  EXPECT_EQ(to_xml(R"({"t":"<&>\"' ]]> x"})"), R"(<t>&lt;&amp;&gt;"' ]]&gt; x</t>)");
  EXPECT_EQ(to_xml(R"({"t":{"@a":"<&>\"'"}})"), R"(<t a="&lt;&amp;&gt;&quot;'"/>)");
  // Whitespace that the reader would normalise is written as references.
  EXPECT_EQ(to_xml(R"({"t":{"@a":"1\t2\n3\r4","#text":"l1\nl2\r\n\tx"}})"),
            "<t a=\"1&#9;2&#10;3&#13;4\">l1\nl2&#13;\n\tx</t>");
}

TEST(JsonToXml, UnicodeIsWrittenAsUtf8) {
  EXPECT_EQ(to_xml(R"({"café":{"@naïve":"ü","#text":"日本 \ud83d\ude00"}})"),
            "<café naïve=\"ü\">日本 \xF0\x9F\x98\x80</café>");
}

TEST(JsonToXml, NamespacesAreWrittenAsGiven) {
  EXPECT_EQ(to_xml(R"({"soap:Envelope":{"@xmlns:soap":"http://schemas.xmlsoap.org/soap/envelope/",)"
                   R"("soap:Body":{"m:Get":{"@xmlns:m":"urn:x","m:id":"1"}}}})"),
            R"(<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">)"
            R"(<soap:Body><m:Get xmlns:m="urn:x"><m:id>1</m:id></m:Get></soap:Body>)"
            R"(</soap:Envelope>)");
}

TEST(JsonToXml, InvalidNamesAreErrorsNamingTheMember) {
  EXPECT_EQ(to_xml(R"({"a":{"1x":"v"}})"),
            R"(ERROR: cannot convert /a/1x: "1x" is not a valid XML element name)");
  EXPECT_EQ(to_xml(R"({"a":{"b c":1}})"),
            R"(ERROR: cannot convert /a/b c: "b c" is not a valid XML element name)");
  EXPECT_EQ(to_xml(R"({"a":{"":1}})"),
            R"(ERROR: cannot convert /a/: "" is not a valid XML element name)");
  EXPECT_EQ(to_xml(R"({"a":{"#comment":1}})"),
            R"(ERROR: cannot convert /a/#comment: "#comment" is not a valid XML element name)");
  EXPECT_EQ(to_xml(R"({"a":{"x/y":[1]}})"),
            R"(ERROR: cannot convert /a/x~1y/0: "x/y" is not a valid XML element name)");
  EXPECT_EQ(to_xml(R"({"a":{"@1":1}})"),
            R"(ERROR: cannot convert /a/@1: "1" is not a valid XML attribute name)");
  EXPECT_EQ(to_xml(R"({"a":{"@":1}})"),
            R"(ERROR: cannot convert /a/@: "" is not a valid XML attribute name)");
  EXPECT_EQ(to_xml(R"({"a×b":1})"),
            "ERROR: cannot convert /a×b: \"a×b\" is not a valid XML element name");
  XmlOptions bad_root;
  bad_root.root = "not valid";
  EXPECT_EQ(to_xml(R"({"a":1})", bad_root),
            R"(ERROR: XmlOptions::root "not valid" is not a valid XML name)");
  XmlOptions bad_item;
  bad_item.item = "";
  EXPECT_EQ(to_xml("[]", bad_item), R"(ERROR: XmlOptions::item "" is not a valid XML name)");
}

TEST(JsonToXml, AttributeAndTextValuesMustBeScalars) {
  EXPECT_EQ(to_xml(R"({"a":{"@x":[1]}})"),
            "ERROR: cannot convert /a/@x: an attribute value must be a string, number, boolean "
            "or null");
  EXPECT_EQ(to_xml(R"({"a":{"@x":{}}})").rfind("ERROR: cannot convert /a/@x: ", 0), 0u);
  EXPECT_EQ(to_xml(R"({"a":{"#text":{"b":1}}})"),
            "ERROR: cannot convert /a/#text: text must be a string, number, boolean or null");
}

TEST(JsonToXml, CharactersXmlCannotCarryAreErrors) {
  EXPECT_EQ(to_xml(R"({"a":"x\u0001y"})"),
            "ERROR: cannot convert /a: character U+0001 is not allowed in XML");
  EXPECT_EQ(to_xml(R"({"a":{"@v":"\u0000"}})"),
            "ERROR: cannot convert /a/@v: character U+0000 is not allowed in XML");
  EXPECT_EQ(to_xml(R"({"a":"\uFFFE"})"),
            "ERROR: cannot convert /a: character U+FFFE is not allowed in XML");
  EXPECT_EQ(to_xml(R"({"a":"\uFFFD \uD7FF \uE000"})"),
            "<a>\xEF\xBF\xBD \xED\x9F\xBF \xEE\x80\x80</a>");
}

TEST(JsonToXml, MalformedJson) {
  EXPECT_EQ(to_xml(R"({"a":)").rfind("ERROR: invalid JSON at byte 5: ", 0), 0u);
  EXPECT_EQ(to_xml(""),
            "ERROR: invalid JSON at byte 0: syntax error while parsing value - "
            "unexpected end of input; expected '[', '{', or a literal");
}

std::string nested_objects(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  return s + "1" + std::string(static_cast<size_t>(depth), '}');
}

TEST(JsonToXml, NestingIsLimitedInTheXmlToo) {
  // kMaxDepth objects: the outer one is the document, so 64 nested elements: fine.
  EXPECT_NE(to_xml(nested_objects(kMaxDepth)).find("<a>1</a>"), std::string::npos);
  EXPECT_NE(to_xml(nested_objects(kMaxDepth + 1)).find("nesting too deep"), std::string::npos);
  // A scalar in an array is an element of its own: 64 levels of arrays around a number make
  // 65 levels of XML.
  std::string arrays = std::string(kMaxDepth, '[') + "1" + std::string(kMaxDepth, ']');
  EXPECT_EQ(to_xml(std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']')).find("ERROR"),
            std::string::npos);
  EXPECT_EQ(to_xml(arrays).rfind("ERROR: cannot convert /0/0/", 0), 0u);
  EXPECT_NE(to_xml(arrays).find("XML nesting too deep (more than 64 levels)"), std::string::npos);
}

}  // namespace
}  // namespace sluice::transform
