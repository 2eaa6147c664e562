// libFuzzer target for the filter configs and the filters they build: the input is a YAML map
// of filter name -> settings (a route's `filters:`); every entry must be built or refused with
// errors (never a crash, a hang or an escaping exception), and a built chain must run a fixed
// request, response and bodies through every phase without crashing.
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "filter/chain.h"
#include "filter/context.h"
#include "filter/runner.h"
#include "filters/builtin.h"
#include "http/request_parser.h"

namespace {

class NullDriver : public sluice::filter::Driver {
 public:
  void resume_chain() override {}
  void resume_chain_after(uint64_t) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sluice;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(reinterpret_cast<const char*>(data), size));
  } catch (...) {
    return 0;  // not YAML: the loader reports that, not the filters
  }
  if (!root.IsMap()) return 0;
  config::Config cfg;
  cfg.source_file = "fuzz.yaml";
  config::RouteConfig route;
  route.name = "r";
  route.path = "/u/{id}";
  try {
    for (auto kv = root.begin(); kv != root.end(); ++kv) {
      if (!kv->first.IsScalar()) continue;
      config::FilterSpec f{
          kv->first.Scalar(), kv->second, "filters." + kv->first.Scalar(), {}, {}, false};
      route.filters.push_back(std::move(f));
    }
  } catch (...) {
    return 0;
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
