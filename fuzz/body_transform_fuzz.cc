// Fuzz target for the body transforms (src/transform/). The first byte is flags (bit 0:
// XmlOptions::infer_types); the rest is one body, given to all three of: a fixed
// JsonEdit program, json_to_xml and xml_to_json. No crash, no exception, no sanitizer report,
// and:
//   - an edited body is JSON again, with no "password", with meta.source "gateway";
//   - whatever xml_to_json converts, json_to_xml converts back, and converting that again gives
//     the same JSON (the mapping round-trips on the image of xml_to_json);
//   - whatever json_to_xml converts, xml_to_json reads back, unless the JSON it makes would be
//     too deep (repeated elements add an array level per element level).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "transform/json_edit.h"
#include "transform/json_parse.h"
#include "transform/xml_json.h"

using namespace sluice::transform;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

const JsonEdit& program() {
  static const JsonEdit* edit = [] {
    JsonEditSpec spec;
    spec.remove = {"/password", "/items/0", "/a~1b"};
    spec.rename = {{"/name", "/full_name"}, {"/x/y", "/z/-"}, {"/list/1", "/first"}};
    spec.set = {{.pointer = "/meta/source", .value = "gateway"},
                {.pointer = "/meta/id", .per_request = true}};
    auto* e = new JsonEdit();
    std::string err;
    if (!JsonEdit::compile(spec, *e, &err)) abort();
    return e;
  }();
  return *edit;
}

void fuzz_edit(std::string_view in) {
  static const std::string kValues[] = {"caf\xE9 \"${id}\""};  // invalid UTF-8 on purpose
  std::string out, err;
  if (!program().apply(in, kValues, out, &err)) {
    check(!err.empty());
    return;
  }
  Json doc;
  check(parse_json(out, doc, &err));
  check(doc.is_object() && !doc.contains("password"));
  check(doc["meta"]["source"] == "gateway");
}

void fuzz_xml_to_json(std::string_view in, const XmlOptions& options) {
  std::string json, xml, again, err;
  if (!xml_to_json(in, options, json, &err)) {
    check(!err.empty());
    return;
  }
  check(json_to_xml(json, options, xml, &err));
  check(xml_to_json(xml, options, again, &err));
  check(again == json);
}

void fuzz_json_to_xml(std::string_view in, const XmlOptions& options) {
  std::string xml, json, err;
  if (!json_to_xml(in, options, xml, &err)) {
    check(!err.empty());
    return;
  }
  if (!xml_to_json(xml, options, json, &err)) {
    check(err.find("nesting too deep") != std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  XmlOptions options;
  options.infer_types = (data[0] & 1) != 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz_edit(in);
  fuzz_xml_to_json(in, options);
  fuzz_json_to_xml(in, options);
  return 0;
}
