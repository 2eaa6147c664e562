// See body_filter.h.
#include "filters/body/body_filter.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/reader.h"
#include "filter/context.h"
#include "filter/template.h"
#include "http/header.h"
#include "transform/json_edit.h"
#include "transform/xml_json.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

constexpr uint64_t kDefaultMaxBytes = uint64_t{1} << 20;
constexpr uint64_t kMaxMaxBytes = uint64_t{1} << 30;

enum class Convert : uint8_t { kNone, kJsonToXml, kXmlToJson };

// The media type without parameters, lower-case, e.g. "application/json".
std::string_view media_type(std::string_view v, std::string& buf) {
  v = v.substr(0, v.find(';'));
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  buf.assign(v);
  for (char& c : buf) c = http::ascii_lower(c);
  return buf;
}

bool is_json(std::string_view t) {
  return t.empty() || t == "application/json" || t.ends_with("+json");
}
bool is_xml(std::string_view t) {
  return t.empty() || t == "application/xml" || t == "text/xml" || t.ends_with("+xml");
}

std::string json_error(std::string_view what) {
  std::string out = R"({"status":400,"error":)";
  transform::Json msg = std::string(what);
  out += transform::dump_json(msg);
  out += '}';
  return out;
}

class BodyFilter final : public filter::Filter {
 public:
  BodyFilter(bool response, std::optional<transform::JsonEdit> edit,
             std::vector<filter::Template> values, Convert convert, transform::XmlOptions xml,
             uint64_t max_bytes)
      : response_(response),
        edit_(std::move(edit)),
        values_(std::move(values)),
        convert_(convert),
        xml_(std::move(xml)),
        max_bytes_(max_bytes) {}

  uint8_t phases() const override {
    return filter::phase_bit(response_ ? Phase::kResponseBody : Phase::kRequestBody);
  }
  uint64_t request_body_limit() const override { return response_ ? 0 : max_bytes_; }
  bool reads_claims() const override {
    for (const filter::Template& t : values_) {
      if (t.uses(filter::Var::kJwtClaim)) return true;
    }
    return false;
  }
  uint64_t response_body_limit() const override { return response_ ? max_bytes_ : 0; }

  Status on_request_body(Context& ctx) const override {
    return transform(ctx, ctx.request_body(), ctx.request_header("content-type"));
  }
  Status on_response_body(Context& ctx) const override {
    return transform(ctx, ctx.response_body(), ctx.response_header("content-type"));
  }

 private:
  Status transform(Context& ctx, std::string& body, std::string_view content_type) const {
    thread_local std::string type_buf;
    const std::string_view type = media_type(content_type, type_buf);
    const bool from_xml = convert_ == Convert::kXmlToJson;
    if (from_xml ? !is_xml(type) : !is_json(type)) return Status::kContinue;
    if (body.empty()) return Status::kContinue;
    thread_local std::string out;
    thread_local std::string error;
    thread_local std::vector<std::string> expanded;
    error.clear();
    auto fail = [&](const char* prefix) {
      std::string what = std::string(prefix) + error;
      if (response_) {
        ctx.refuse(502, "invalid response body: " + what);
      } else {
        ctx.respond(400, json_error(what));
      }
      return Status::kRespond;
    };
    if (from_xml) {
      out.clear();
      if (!transform::xml_to_json(body, xml_, out, &error)) return fail("");
      body.swap(out);
    }
    if (edit_) {
      expanded.resize(values_.size());
      for (size_t i = 0; i < values_.size(); ++i) {
        expanded[i].clear();
        values_[i].expand(ctx, expanded[i]);
      }
      out.clear();
      if (!edit_->apply(body, expanded, out, &error)) return fail("");
      body.swap(out);
    }
    if (convert_ == Convert::kJsonToXml) {
      out.clear();
      if (!transform::json_to_xml(body, xml_, out, &error)) return fail("");
      body.swap(out);
    }
    if (convert_ != Convert::kNone) {
      const char* produced =
          convert_ == Convert::kJsonToXml ? "application/xml; charset=utf-8" : "application/json";
      if (response_) {
        ctx.set_response_header("content-type", produced);
      } else {
        ctx.set_request_header("content-type", produced);
      }
    }
    return Status::kContinue;
  }

  bool response_;
  std::optional<transform::JsonEdit> edit_;
  std::vector<filter::Template> values_;  // the per-request set values, in set order
  Convert convert_;
  transform::XmlOptions xml_;
  uint64_t max_bytes_;
};

std::optional<transform::JsonEdit> parse_edit(config::Reader& r, const config::Item& it,
                                              std::vector<filter::Template>& values) {
  std::optional<config::MapItem> m = r.map(it, {"set", "remove", "rename"});
  if (!m) return std::nullopt;
  const size_t errors = r.errors().size();
  transform::JsonEditSpec spec;
  auto pairs = [&](const config::Item& map_item, auto&& each) {
    for (const config::MapEntry& e : r.entries(map_item, "JSON pointers", "JSON pointer")) {
      each(e.key, e.value);
    }
  };
  if (const config::Item* s = m->get("set")) {
    pairs(*s, [&](const std::string& ptr, const config::Item& v) {
      std::optional<std::string> text =
          v.node.is_null() ? std::optional<std::string>("null") : r.string(v);
      if (!text) return;
      transform::JsonSet set;
      set.pointer = ptr;
      if (text->find("${") != std::string::npos) {
        std::string why;
        std::optional<filter::Template> t = filter::Template::compile(*text, &why, false);
        if (!t) {
          r.error(v.mark, v.path, why);
          return;
        }
        set.per_request = true;
        values.push_back(std::move(*t));
      } else {
        // A JSON literal (42, true, null, {"a":1}, "quoted") is that value; anything else is a
        // string.
        transform::Json j;
        std::string ignored;
        set.value =
            transform::parse_json(*text, j, &ignored) ? std::move(j) : transform::Json(*text);
      }
      spec.set.push_back(std::move(set));
    });
  }
  if (const config::Item* rm = m->get("remove")) {
    for (const config::Item& e : r.list_or_one(*rm)) {
      if (auto p = r.string(e)) spec.remove.push_back(std::move(*p));
    }
  }
  if (const config::Item* rn = m->get("rename")) {
    pairs(*rn, [&](const std::string& from, const config::Item& v) {
      if (auto to = r.string(v)) spec.rename.emplace_back(from, std::move(*to));
    });
  }
  if (r.errors().size() != errors) return std::nullopt;
  transform::JsonEdit edit;
  std::string why;
  if (!transform::JsonEdit::compile(spec, edit, &why)) {
    r.error(it.mark, it.path, why);
    return std::nullopt;
  }
  return edit;
}

template <bool kResponse>
std::unique_ptr<filter::Filter> build(config::Reader& r, const config::Item& item,
                                      const filter::BuildContext& /*bc*/) {
  std::optional<config::MapItem> m =
      filter::filter_map(r, item, {"json", "convert", "max_bytes", "xml_root"});
  if (!m) return nullptr;
  const size_t errors = r.errors().size();
  std::vector<filter::Template> values;
  std::optional<transform::JsonEdit> edit;
  if (const config::Item* j = m->get("json")) edit = parse_edit(r, *j, values);
  Convert convert = Convert::kNone;
  if (const config::Item* c = m->get("convert")) {
    constexpr std::string_view kConversions[] = {"json_to_xml", "xml_to_json"};
    if (auto s = r.one_of(*c, kConversions, "conversion")) {
      convert = *s == "json_to_xml" ? Convert::kJsonToXml : Convert::kXmlToJson;
    }
  }
  if (m->get("json") == nullptr && m->get("convert") == nullptr) {
    r.error(item.mark, item.path, "give 'json' edits, a 'convert', or both");
  }
  uint64_t max_bytes = kDefaultMaxBytes;
  if (const config::Item* mb = m->get("max_bytes")) {
    if (auto v = r.size(*mb, 1, kMaxMaxBytes, "from 1 byte to 1GiB")) max_bytes = *v;
  }
  transform::XmlOptions xml;
  if (const config::Item* root = m->get("xml_root")) {
    if (auto s = r.string(*root)) {
      std::string probe;
      std::string why;
      transform::XmlOptions test;
      test.root = *s;
      if (!transform::json_to_xml("[]", test, probe, &why)) {
        r.error(root->mark, root->path, "not a valid XML element name: " + config::quote(*s));
      }
      xml.root = std::move(*s);
    }
  }
  if (r.errors().size() != errors) return nullptr;
  return std::make_unique<BodyFilter>(kResponse, std::move(edit), std::move(values), convert,
                                      std::move(xml), max_bytes);
}

}  // namespace

const filter::Factory kRequestBodyFactory{"request_body", filter::priority::kRequestBody,
                                          &build<false>};
const filter::Factory kResponseBodyFactory{"response_body", filter::priority::kResponseBody,
                                           &build<true>};

}  // namespace sluice::filters
