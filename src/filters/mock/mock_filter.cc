// See mock_filter.h.
#include "filters/mock/mock_filter.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/reader.h"
#include "config/scalars.h"
#include "filter/context.h"
#include "filter/template.h"
#include "http/header.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

constexpr uint64_t kMaxDelayMs = 60000;

struct Answer {
  int status = 200;
  std::string content_type;
  std::vector<std::pair<std::string, filter::Template>> headers;
  filter::Template body;
  uint64_t delay_ms = 0;
};

struct State {
  bool delayed;  // the delay is over: answer now
};

class Mock final : public filter::Filter {
 public:
  Mock(Answer base, std::vector<std::pair<std::string, Answer>> examples, bool from_query,
       std::string selector)
      : base_(std::move(base)),
        examples_(std::move(examples)),
        from_query_(from_query),
        selector_(std::move(selector)) {}

  uint8_t phases() const override { return filter::phase_bit(Phase::kRequestHeaders); }
  bool reads_claims() const override {
    auto reads = [](const Answer& a) {
      if (a.body.uses(filter::Var::kJwtClaim)) return true;
      for (const auto& [name, t] : a.headers) {
        if (t.uses(filter::Var::kJwtClaim)) return true;
      }
      return false;
    };
    if (reads(base_)) return true;
    for (const auto& [name, a] : examples_) {
      if (reads(a)) return true;
    }
    return false;
  }
  size_t state_size() const override { return sizeof(State); }

  Status on_request_headers(Context& ctx) const override {
    const Answer& a = pick(ctx);
    State& st = ctx.state<State>();
    if (a.delay_ms != 0 && !st.delayed) {
      st.delayed = true;
      ctx.resume_after(a.delay_ms);
      return Status::kPause;
    }
    thread_local std::string text;
    text.clear();
    a.body.expand(ctx, text);
    ctx.respond(a.status, text, a.content_type);
    for (const auto& [name, t] : a.headers) {
      text.clear();
      t.expand(ctx, text);
      ctx.add_answer_header(name, text);
    }
    return Status::kRespond;
  }

 private:
  const Answer& pick(const Context& ctx) const {
    if (examples_.empty()) return base_;
    std::string_view want;
    if (from_query_) {
      want = http::query_param(ctx.query(), selector_);
    } else {
      want = ctx.request_header(selector_);
    }
    for (const auto& [name, a] : examples_) {
      if (name == want) return a;
    }
    return base_;
  }

  Answer base_;
  std::vector<std::pair<std::string, Answer>> examples_;
  bool from_query_;
  std::string selector_;
};

constexpr std::string_view kAnswerKeys[] = {"status", "headers", "body", "file", "delay"};

std::optional<Answer> parse_answer(config::Reader& r, const config::MapItem& m) {
  const size_t errors = r.errors().size();
  Answer a;
  if (const config::Item* s = m.get("status")) {
    if (auto v = r.integer(*s, 200, 599)) a.status = static_cast<int>(*v);
  }
  const config::Item* body = m.get("body");
  const config::Item* file = m.get("file");
  if (body != nullptr && file != nullptr) {
    r.error(file->mark, file->path, "give 'body' or 'file', not both");
  }
  std::optional<std::string> text;
  const config::Item* at = body != nullptr ? body : file;
  if (body != nullptr) text = r.string(*body);
  if (file != nullptr && body == nullptr) {
    if (auto path = r.string(*file)) text = r.read_small_file(*file, *path);
  }
  if (text && at != nullptr) {
    std::string why;
    std::optional<filter::Template> t = filter::Template::compile(*text, &why, false);
    if (t) {
      a.body = std::move(*t);
    } else {
      r.error(at->mark, at->path, why);
    }
  }
  if (const config::Item* h = m.get("headers")) {
    for (auto& [name, value] : r.headers(*h)) {
      if (name == "content-length" || name == "transfer-encoding" || name == "connection") {
        r.error(h->mark, config::join(h->path, name),
                config::quote(name) + " is set by the gateway");
        continue;
      }
      if (name == "content-type") {
        a.content_type = value;
        continue;
      }
      std::string why;
      std::optional<filter::Template> t = filter::Template::compile(value, &why, false);
      if (!t) {
        r.error(h->mark, config::join(h->path, name), why);
        continue;
      }
      a.headers.emplace_back(name, std::move(*t));
    }
  }
  if (a.content_type.empty()) {
    const std::string& b = a.body.text();
    const size_t first = b.find_first_not_of(" \t\r\n");
    const bool json = first != std::string::npos && (b[first] == '{' || b[first] == '[');
    a.content_type = json ? "application/json" : "text/plain; charset=utf-8";
  }
  if (const config::Item* d = m.get("delay")) {
    if (auto ms = r.duration(*d, true)) {
      if (*ms > kMaxDelayMs) {
        r.error(d->mark, d->path, "at most 60s");
      } else {
        a.delay_ms = *ms;
      }
    }
  }
  if (r.errors().size() != errors) return std::nullopt;
  return a;
}

std::unique_ptr<filter::Filter> build(config::Reader& r, const config::Item& item,
                                      const filter::BuildContext& /*bc*/) {
  std::optional<config::MapItem> m = filter::filter_map(
      r, item, {"status", "headers", "body", "file", "delay", "examples", "example_from"});
  if (!m) return nullptr;
  std::optional<Answer> base = parse_answer(r, *m);
  std::vector<std::pair<std::string, Answer>> examples;
  bool ok = base.has_value();
  if (const config::Item* ex = m->get("examples")) {
    // Any name is an example: read without a known-keys check.
    for (const config::MapEntry& e : r.entries(*ex, "example names to answers", "example name")) {
      if (!config::is_name(e.key)) {
        r.error(e.value.mark, e.value.path, "invalid example name " + config::quote(e.key));
        ok = false;
        continue;
      }
      std::optional<config::MapItem> em =
          r.map(e.value, std::span<const std::string_view>(kAnswerKeys));
      std::optional<Answer> a = em ? parse_answer(r, *em) : std::nullopt;
      if (!a) {
        ok = false;
        continue;
      }
      examples.emplace_back(e.key, std::move(*a));
    }
  }
  bool from_query = false;
  std::string selector = "x-mock-example";
  if (const config::Item* sel = m->get("example_from")) {
    if (auto s = r.string(*sel)) {
      if (s->starts_with("header:") && config::is_token(s->substr(7))) {
        selector = config::lower(s->substr(7));
      } else if (s->starts_with("query:") && config::is_query_name(s->substr(6))) {
        from_query = true;
        selector = s->substr(6);
      } else {
        r.error(sel->mark, sel->path,
                "expected header:NAME or query:NAME, got " + config::quote(*s));
        ok = false;
      }
    }
  }
  if (!ok) return nullptr;
  return std::make_unique<Mock>(std::move(*base), std::move(examples), from_query,
                                std::move(selector));
}

}  // namespace

const filter::Factory kMockFactory{"mock", filter::priority::kMock, &build};

}  // namespace sluice::filters
