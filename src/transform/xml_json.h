// JSON <-> XML body conversion (`convert: json_to_xml | xml_to_json` on a body filter), with
// one documented mapping (docs/transform.md) under which XML -> JSON -> XML round-trips:
//   <order id="7"><item>a</item><item>b</item><note/></order>
//   {"order":{"@id":"7","item":["a","b"],"note":null}}
// element -> member named after it; attribute -> "@name"; text next to attributes or child
// elements -> "#text"; an element with only text -> a string; repeated siblings -> an array;
// an empty element -> null; prefixed names and xmlns attributes are kept as written.
// XML has no types: xml_to_json makes strings unless XmlOptions::infer_types.
// Both directions limit nesting to kMaxDepth, in the input and in what they produce, so the
// output of one is always accepted by the other. They never throw.
// Example:
//   std::string xml, err;
//   if (!json_to_xml(body, XmlOptions{}, xml, &err)) return respond(400, err);
#pragma once

#include <string>
#include <string_view>

namespace sluice::transform {

struct XmlOptions {
  // json_to_xml: the element that wraps a document that is not an object with exactly one
  // member holding an object, a string, a number, a boolean or null (e.g. {"a":1,"b":2}, [..]).
  std::string root = "root";
  // json_to_xml: the element name of each entry of an array that is itself the content of an
  // element (a top-level array, or an array inside an array).
  std::string item = "item";
  // xml_to_json: text that is exactly true/false or a JSON number that fits a 64-bit integer or
  // a double becomes a JSON boolean/number ("007", "1e999" and "0x1F" stay strings).
  bool infer_types = false;
};

// Writes `<?xml version="1.0" encoding="UTF-8"?>` and the compact XML for a JSON body. Fails
// (false, *error set, out unspecified) on malformed JSON, a member name that is not an XML
// name (`cannot convert /a/1x: "1x" is not a valid XML element name`), an "@attribute" or
// "#text" holding an object or array, a character XML 1.0 cannot carry (U+0000..U+001F but
// tab, LF, CR; U+FFFE, U+FFFF), or nesting deeper than kMaxDepth.
bool json_to_xml(std::string_view json, const XmlOptions& options, std::string& out,
                 std::string* error);

// Writes the compact JSON for an XML document (UTF-8, optionally with a BOM). A DOCTYPE is
// rejected (no DTD, no entity beyond the five predefined and character references is ever
// processed); comments, processing instructions and the XML declaration are dropped. Fails on
// malformed XML ("invalid XML at byte 12: Start-end tags mismatch"), invalid UTF-8, a
// non-UTF-8 encoding declaration, duplicate attributes, an invalid name, or nesting deeper
// than kMaxDepth.
bool xml_to_json(std::string_view xml, const XmlOptions& options, std::string& out,
                 std::string* error);

}  // namespace sluice::transform
