// Micro-benchmarks of the body transforms on ~1 KiB bodies, the size of a typical API request:
// a JSON edit (remove, rename, set, one per-request value), JSON -> XML and XML -> JSON. The
// parse+serialise baseline shows what an edit costs on top of reading and writing the body.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "transform/json_edit.h"
#include "transform/json_parse.h"
#include "transform/xml_json.h"

namespace {

using namespace sluice::transform;

// 1 KiB of a sign-up request: nested objects, an array of objects, strings with escapes.
std::string json_body() {
  std::string s =
      R"({"name":"Ada Lovelace","email":"ada@example.com","password":"correct horse battery",)"
      R"("address":{"street":"12 St James's Square","city":"London","postcode":"SW1Y 4JH",)"
      R"("country":"GB"},"preferences":{"newsletter":true,"language":"en-GB","theme":"dark"},)"
      R"("tags":["founder","mathematician","analyst"],"orders":[)";
  for (int i = 0; s.size() < 950; ++i) {
    if (i) s += ',';
    s += R"({"id":)" + std::to_string(1000 + i) + R"(,"sku":"ENG-)" + std::to_string(i) +
         R"(","qty":)" + std::to_string(i % 4 + 1) + R"(,"note":"fragile \"glass\""})";
  }
  return s + "]}";
}

// The same body as one root element, the form json_to_xml maps without a wrapper.
std::string json_document() {
  return R"({"signup":)" + json_body() + "}";
}

std::string xml_document() {
  std::string s =
      R"(<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">)"
      R"(<soap:Body><m:Order xmlns:m="urn:example:orders" id="A-1042" currency="EUR">)"
      R"(<m:Customer type="business"><m:Name>Analytical Engines &amp; Co</m:Name>)"
      R"(<m:Email>orders@example.com</m:Email></m:Customer>)";
  for (int i = 0; s.size() < 980; ++i) {
    s += R"(<m:Line sku="ENG-)" + std::to_string(i) + R"(" qty=")" + std::to_string(i % 4 + 1) +
         R"("><m:Price>)" + std::to_string(10 + i) + R"(.50</m:Price></m:Line>)";
  }
  return s + "</m:Order></soap:Body></soap:Envelope>";
}

void BM_JsonParseDump(benchmark::State& state) {
  const std::string body = json_body();
  for (auto _ : state) {
    Json doc;
    if (!parse_json(body, doc, nullptr)) std::abort();
    benchmark::DoNotOptimize(dump_json(doc));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_JsonParseDump);

void BM_JsonEdit(benchmark::State& state) {
  const std::string body = json_body();
  JsonEditSpec spec;
  spec.remove = {"/password"};
  spec.rename = {{"/name", "/full_name"}, {"/address/postcode", "/address/zip"}};
  spec.set = {{.pointer = "/meta/source", .value = "gateway"},
              {.pointer = "/meta/request_id", .per_request = true}};
  JsonEdit edit;
  std::string err, out;
  if (!JsonEdit::compile(spec, edit, &err)) std::abort();
  const std::string values[] = {"01HZX3J4K5M6N7P8Q9R0S1T2U3"};
  for (auto _ : state) {
    if (!edit.apply(body, values, out, &err)) std::abort();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_JsonEdit);

void BM_JsonToXml(benchmark::State& state) {
  const std::string json = json_document();
  std::string out, err;
  for (auto _ : state) {
    if (!json_to_xml(json, {}, out, &err)) std::abort();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}
BENCHMARK(BM_JsonToXml);

void BM_XmlToJson(benchmark::State& state) {
  const std::string xml = xml_document();
  XmlOptions options;
  options.infer_types = state.range(0) != 0;
  std::string out, err;
  for (auto _ : state) {
    if (!xml_to_json(xml, options, out, &err)) std::abort();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * xml.size()));
}
BENCHMARK(BM_XmlToJson)->Arg(0)->Arg(1)->ArgName("infer_types");

}  // namespace
