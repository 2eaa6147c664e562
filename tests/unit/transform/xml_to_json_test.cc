#include <gtest/gtest.h>

#include <string>

#include "transform/json_parse.h"
#include "transform/xml_json.h"

namespace sluice::transform {
namespace {

// The JSON, or "ERROR: <message>".
std::string to_json(std::string_view xml, const XmlOptions& options = {}) {
  std::string out, err;
  if (!xml_to_json(xml, options, out, &err)) return "ERROR: " + err;
  return out;
}

std::string typed(std::string_view xml) {
  XmlOptions o;
  o.infer_types = true;
  return to_json(xml, o);
}

TEST(XmlToJson, TextOnlyElementsAreStrings) {
  EXPECT_EQ(to_json("<a>x</a>"), R"({"a":"x"})");
  EXPECT_EQ(to_json("<a><b>1</b><c>true</c></a>"), R"({"a":{"b":"1","c":"true"}})");
}

TEST(XmlToJson, EmptyElementsAreNull) {
  EXPECT_EQ(to_json("<a/>"), R"({"a":null})");
  EXPECT_EQ(to_json("<a></a>"), R"({"a":null})");
  EXPECT_EQ(to_json("<a><![CDATA[]]></a>"), R"({"a":null})");
  EXPECT_EQ(to_json("<a><b/></a>"), R"({"a":{"b":null}})");
}

TEST(XmlToJson, AttributesAreAtMembersBeforeChildren) {
  EXPECT_EQ(to_json(R"(<p id="7" lang='en'>hi</p>)"),
            R"({"p":{"@id":"7","@lang":"en","#text":"hi"}})");
  EXPECT_EQ(to_json(R"(<p id="7"/>)"), R"({"p":{"@id":"7"}})");
  EXPECT_EQ(to_json(R"(<p id="7"><c>x</c></p>)"), R"({"p":{"@id":"7","c":"x"}})");
  EXPECT_EQ(to_json(R"(<p a=""/>)"), R"({"p":{"@a":""}})");
}

TEST(XmlToJson, RepeatedSiblingsBecomeArraysAtTheFirstPosition) {
  EXPECT_EQ(to_json("<l><i>a</i><x/><i>b</i><i/></l>"), R"({"l":{"i":["a","b",null],"x":null}})");
  EXPECT_EQ(to_json(R"(<l><i k="1"/><i><z>1</z></i></l>)"),
            R"({"l":{"i":[{"@k":"1"},{"z":"1"}]}})");
}

TEST(XmlToJson, ManySiblingsStayLinear) {
  // 20k distinct names then each name again: past the linear-scan threshold.
  std::string xml = "<r>";
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 20'000; ++i)
      xml +=
          "<e" + std::to_string(i) + ">" + std::to_string(round) + "</e" + std::to_string(i) + ">";
  }
  xml += "</r>";
  std::string out = to_json(xml);
  Json doc;
  ASSERT_TRUE(parse_json(out, doc, nullptr)) << out.substr(0, 200);
  ASSERT_EQ(doc["r"].size(), 20'000u);
  EXPECT_EQ(doc["r"]["e0"], Json::array({"0", "1"}));
  EXPECT_EQ(doc["r"]["e19999"], Json::array({"0", "1"}));
  EXPECT_EQ(doc["r"].begin().key(), "e0");
}

TEST(XmlToJson, ManyCommentsAndAttributesStayLinear) {
  std::string xml = "<r";
  for (int i = 0; i < 20'000; ++i) xml += " a" + std::to_string(i) + "=\"v\"";
  xml += ">";
  for (int i = 0; i < 50'000; ++i) xml += "<!-- c --><![CDATA[]]>";
  xml += "</r>";
  std::string out = to_json(xml);
  EXPECT_EQ(out.rfind(R"({"r":{"@a0":"v","@a1":"v",)", 0), 0u) << out.substr(0, 100);
  xml.insert(xml.size() - 4, " <e a=\"1\" a=\"2\"/>");
  EXPECT_NE(to_json(xml).find("duplicate attribute"), std::string::npos);
  std::string dup = "<r";
  for (int i = 0; i < 100; ++i) dup += " a" + std::to_string(i) + "=\"v\"";
  EXPECT_EQ(to_json(dup + " a99=\"w\"/>"),
            R"(ERROR: cannot convert XML: duplicate attribute "a99" at byte 1)");
}

TEST(XmlToJson, MixedContentJoinsTextAtItsFirstPosition) {
  EXPECT_EQ(to_json("<p>hello <b>x</b> world</p>"), R"({"p":{"#text":"hello  world","b":"x"}})");
  EXPECT_EQ(to_json("<p><b>x</b>tail</p>"), R"({"p":{"b":"x","#text":"tail"}})");
}

TEST(XmlToJson, WhitespaceBetweenElementsIsLayout) {
  EXPECT_EQ(to_json("<a>\n  <b>1</b>\n  <c> x </c>\n</a>\n"), R"({"a":{"b":"1","c":" x "}})");
  EXPECT_EQ(to_json("<a>  </a>"), R"({"a":"  "})");  // the only content: kept
  EXPECT_EQ(to_json("<a><![CDATA[ ]]><b/></a>"), R"({"a":{"b":null}})");
  EXPECT_EQ(to_json(R"(<a x="1"> </a>)"), R"({"a":{"@x":"1","#text":" "}})");
}

TEST(XmlToJson, EntitiesReferencesAndCdata) {
  EXPECT_EQ(to_json("<t>&lt;&amp;&gt;&quot;&apos; &#233; &#x1F600;</t>"),
            "{\"t\":\"<&>\\\"' \xC3\xA9 \xF0\x9F\x98\x80\"}");
  EXPECT_EQ(to_json("<t><![CDATA[<not> & markup]]></t>"), R"({"t":"<not> & markup"})");
  EXPECT_EQ(to_json("<t>a&#13;b\r\nc</t>"), R"({"t":"a\rb\nc"})");
  EXPECT_EQ(to_json("<t v=\"a&#10;b\tc\nd\"/>"), R"({"t":{"@v":"a\nb c d"}})");
  // pugixml leaves an unknown reference as written (there is no DTD to declare it).
  EXPECT_EQ(to_json("<t>&custom;</t>"), R"({"t":"&custom;"})");
}

TEST(XmlToJson, NamespacesAreKeptAsWritten) {
  EXPECT_EQ(to_json(R"(<?xml version="1.0" encoding="utf-8"?>)"
                    R"(<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">)"
                    R"(<soap:Body><m:Get xmlns:m="urn:x" xmlns="urn:d"><m:id>1</m:id></m:Get>)"
                    R"(</soap:Body></soap:Envelope>)"),
            R"({"soap:Envelope":{"@xmlns:soap":"http://schemas.xmlsoap.org/soap/envelope/",)"
            R"("soap:Body":{"m:Get":{"@xmlns:m":"urn:x","@xmlns":"urn:d","m:id":"1"}}}})");
}

TEST(XmlToJson, CommentsProcessingInstructionsAndTheDeclarationAreDropped) {
  EXPECT_EQ(to_json("\xEF\xBB\xBF<?xml version=\"1.0\"?><!-- c --><?pi x?><a><!-- in "
                    "-->x<?p?></a><!-- after -->"),
            R"({"a":"x"})");
}

TEST(XmlToJson, Unicode) {
  EXPECT_EQ(to_json("<café naïve=\"ü\">日本</café>"), R"({"café":{"@naïve":"ü","#text":"日本"}})");
}

TEST(XmlToJson, InferTypesIsOffByDefault) {
  EXPECT_EQ(to_json(R"(<a n="1"><b>2</b><c>true</c></a>)"),
            R"({"a":{"@n":"1","b":"2","c":"true"}})");
}

TEST(XmlToJson, InferTypes) {
  EXPECT_EQ(typed(R"(<a n="1"><b>-2</b><c>true</c><d>false</d><e>1.50</e><f>1E3</f></a>)"),
            R"({"a":{"@n":1,"b":-2,"c":true,"d":false,"e":1.5,"f":1000.0}})");
  EXPECT_EQ(typed("<a><b>18446744073709551615</b><c>-9223372036854775808</c></a>"),
            R"({"a":{"b":18446744073709551615,"c":-9223372036854775808}})");
  // Not JSON numbers, or not exactly representable: kept as text.
  EXPECT_EQ(typed("<a><b>007</b><c>1e999</c><d>0x1F</d><e>+1</e><f>1.</f><g>.5</g><h>True</h>"
                  "<i>18446744073709551616</i><j>1e-320</j><k> 1</k><l>null</l></a>"),
            R"({"a":{"b":"007","c":"1e999","d":"0x1F","e":"+1","f":"1.","g":".5","h":"True",)"
            R"("i":"18446744073709551616","j":"1e-320","k":" 1","l":"null"}})");
  EXPECT_EQ(typed("<a>5</a>"), R"({"a":5})");
}

TEST(XmlToJson, MalformedXmlNamesTheProblemAndPosition) {
  EXPECT_EQ(to_json("<a>"), "ERROR: invalid XML at byte 2: Start-end tags mismatch");
  EXPECT_EQ(to_json("<a></b>"), "ERROR: invalid XML at byte 5: Start-end tags mismatch");
  EXPECT_EQ(to_json(""), "ERROR: invalid XML at byte 0: No document element found");
  EXPECT_EQ(to_json("<a x=1/>").rfind("ERROR: invalid XML at byte ", 0), 0u);
  EXPECT_EQ(to_json("<1a/>"), "ERROR: invalid XML at byte 1: Could not determine tag type");
  EXPECT_EQ(to_json("<a/><b/>"), "ERROR: invalid XML: more than one root element at byte 5");
  EXPECT_EQ(to_json(R"(<a x="1" x="2"/>)"),
            R"(ERROR: cannot convert XML: duplicate attribute "x" at byte 1)");
  EXPECT_EQ(to_json("<a/><?xml version=\"1.0\"?>"),
            "ERROR: invalid XML: XML declaration after the start at byte 6");
}

TEST(XmlToJson, DoctypesAreRejected) {
  const char* laughs =
      R"(<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">)"
      R"(<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>)";
  EXPECT_EQ(to_json(laughs).rfind("ERROR: invalid XML: DOCTYPE is not allowed", 0), 0u);
  EXPECT_EQ(to_json(R"(<!DOCTYPE a SYSTEM "file:///etc/passwd"><a>&xxe;</a>)"),
            "ERROR: invalid XML: DOCTYPE is not allowed (DTDs and entities are never processed) "
            "at byte 10");
}

TEST(XmlToJson, OnlyUtf8) {
  EXPECT_EQ(to_json(R"(<?xml version="1.0" encoding="ISO-8859-1"?><a/>)"),
            R"(ERROR: invalid XML: unsupported encoding "ISO-8859-1" (only UTF-8))");
  EXPECT_EQ(to_json(std::string("\xFF\xFE<\0a\0/\0>\0", 10)),
            "ERROR: invalid XML: only UTF-8 is supported (this is UTF-16 or UTF-32)");
  EXPECT_EQ(to_json("<a>caf\xE9</a>"),
            "ERROR: cannot convert XML: invalid UTF-8 in text at byte 3");
  EXPECT_EQ(to_json("<a v=\"\xC0\x80\"/>"),
            R"(ERROR: cannot convert XML: invalid UTF-8 in attribute "v" at byte 1)");
}

TEST(XmlToJson, CharactersXmlForbidsAreErrors) {
  EXPECT_EQ(to_json(std::string("<a>x\0y</a>", 10)),
            "ERROR: invalid XML at byte 4: U+0000 is not allowed in XML");
  EXPECT_EQ(to_json("<a>x&#0;y</a>"), "ERROR: invalid XML at byte 4: U+0000 is not allowed in XML");
  EXPECT_EQ(to_json("<a>&#x0000;</a>"),
            "ERROR: invalid XML at byte 3: U+0000 is not allowed in XML");
  EXPECT_EQ(to_json("<a>&#4294967296;</a>"),  // pugixml's 32-bit arithmetic wraps this to 0
            "ERROR: invalid XML at byte 3: U+0000 is not allowed in XML");
  EXPECT_EQ(to_json("<a>&#1;</a>"),
            "ERROR: cannot convert XML: character U+0001 is not allowed in XML in text at byte 3");
  EXPECT_EQ(to_json("<a>\x01</a>").rfind("ERROR: cannot convert XML: character U+0001", 0), 0u);
  EXPECT_EQ(to_json("<a>&#xD800;</a>"),
            "ERROR: cannot convert XML: invalid UTF-8 in text at byte 3");
  EXPECT_EQ(to_json("<a>&#xFFFF;</a>").rfind("ERROR: cannot convert XML: character U+FFFF", 0), 0u);
  // In a CDATA section or a comment "&#0;" is not a reference.
  EXPECT_EQ(to_json("<a><![CDATA[&#0;]]><!-- &#0; --></a>"), R"({"a":"&#0;"})");
}

TEST(XmlToJson, NamesPugixmlAcceptsButXmlDoesNot) {
  EXPECT_EQ(to_json("<a\xC3\x97"
                    "b/>"),
            "ERROR: invalid XML: \"a\xC3\x97"
            "b\" is not a valid XML element name at byte 1");
  EXPECT_EQ(to_json("<r><a\xC3\x97"
                    "b/></r>"),
            "ERROR: cannot convert XML: \"a\xC3\x97"
            "b\" is not a valid XML element name at byte 4");
  EXPECT_EQ(to_json("<r a\xC3\x97"
                    "b=\"1\"/>"),
            "ERROR: cannot convert XML: \"a\xC3\x97"
            "b\" is not a valid XML attribute name at byte 1");
}

std::string nested_xml(int depth, std::string_view leaf) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "<e>";
  s += leaf;
  for (int i = 0; i < depth; ++i) s += "</e>";
  return s;
}

TEST(XmlToJson, NestingIsLimitedInTheXmlAndTheJson) {
  // 64 elements with text at the bottom: 64 JSON objects (the document and 63 elements).
  EXPECT_EQ(to_json(nested_xml(kMaxDepth, "x")).find("ERROR"), std::string::npos);
  EXPECT_NE(to_json(nested_xml(kMaxDepth + 1, "x")).find("nesting too deep"), std::string::npos);
  // Repeated siblings add a JSON array per level: 40 XML levels make 80 JSON levels.
  std::string xml;
  for (int i = 0; i < 40; ++i) xml += "<e><x/>";
  for (int i = 0; i < 40; ++i) xml += "</e><e/>";
  xml = "<r>" + xml + "</r>";
  EXPECT_NE(to_json(xml).find("JSON nesting too deep (more than 64 levels)"), std::string::npos);
  // pugixml parses iteratively, so a very deep document is an error, not a stack overflow.
  EXPECT_NE(to_json(nested_xml(200'000, "")).find("nesting too deep"), std::string::npos);
}

}  // namespace
}  // namespace sluice::transform
