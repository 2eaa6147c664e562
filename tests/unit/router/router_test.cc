#include "router/router.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace sluice::router {
namespace {

using http::Header;
using http::Method;

uint16_t methods(std::initializer_list<Method> ms) {
  uint16_t bits = 0;
  for (Method m : ms) bits |= http::method_bit(m);
  return bits;
}

RouteSpec spec(std::string name, std::string path, uint16_t ms = 0, std::string host = "",
               std::vector<HeaderMatch> headers = {}, int priority = 0) {
  return RouteSpec{std::move(name), std::move(path),    ms,
                   std::move(host), std::move(headers), priority};
}

std::unique_ptr<Router> build_ok(std::vector<RouteSpec> specs) {
  std::vector<RouterError> errors;
  auto r = Router::build(std::move(specs), &errors);
  for (const RouterError& e : errors) ADD_FAILURE() << e.message;
  EXPECT_NE(r, nullptr);
  return r;
}

// The name of the route chosen, or "404" / "405".
std::string pick(const Router& r, std::string_view path, Method m = Method::kGet,
                 std::string_view host = "", std::vector<Header> headers = {}) {
  const MatchResult res = r.match(host, m, path, headers);
  switch (res.status) {
    case MatchStatus::kFound:
      return r.route(res.route).name;
    case MatchStatus::kNotFound:
      return "404";
    case MatchStatus::kMethodNotAllowed:
      return "405";
  }
  return "?";
}

std::string param(const MatchResult& m, std::string_view name) {
  for (size_t i = 0; i < m.param_count; ++i) {
    if (m.params[i].name == name) return std::string(m.params[i].value);
  }
  return "<none>";
}

TEST(Router, StaticRoutes) {
  auto r = build_ok({spec("root", "/"), spec("hello", "/hello"), spec("hello_slash", "/hello/"),
                     spec("deep", "/a/b/c/d"), spec("ab", "/a/b"), spec("empty_seg", "/a//b")});
  EXPECT_EQ(pick(*r, "/"), "root");
  EXPECT_EQ(pick(*r, "/hello"), "hello");
  EXPECT_EQ(pick(*r, "/hello/"), "hello_slash");  // trailing slash is significant
  EXPECT_EQ(pick(*r, "/a/b/c/d"), "deep");
  EXPECT_EQ(pick(*r, "/a/b"), "ab");
  EXPECT_EQ(pick(*r, "/a//b"), "empty_seg");
  EXPECT_EQ(pick(*r, "/a/b/c"), "404");
  EXPECT_EQ(pick(*r, "/a"), "404");
  EXPECT_EQ(pick(*r, "/hell"), "404");
  EXPECT_EQ(pick(*r, "/helloo"), "404");
  EXPECT_EQ(pick(*r, "/a/b/c/d/e"), "404");
  EXPECT_EQ(pick(*r, "//"), "404");
  EXPECT_EQ(pick(*r, ""), "404");
  EXPECT_EQ(pick(*r, "hello"), "404");
  EXPECT_EQ(r->size(), 6u);
  EXPECT_EQ(r->route(1).path, "/hello");
}

TEST(Router, ParamsAreExtracted) {
  auto r = build_ok({spec("user", "/users/{id}"), spec("post", "/users/{uid}/posts/{post_id}"),
                     spec("first", "/{name}")});
  MatchResult m = r->match("", Method::kGet, "/users/42", {});
  ASSERT_EQ(m.status, MatchStatus::kFound);
  EXPECT_EQ(m.route, 0u);
  ASSERT_EQ(m.param_count, 1u);
  EXPECT_EQ(m.params[0].name, "id");
  EXPECT_EQ(m.params[0].value, "42");

  const std::string path = "/users/ann/posts/7";
  m = r->match("", Method::kGet, path, {});
  ASSERT_EQ(m.status, MatchStatus::kFound);
  EXPECT_EQ(m.route, 1u);
  ASSERT_EQ(m.param_count, 2u);
  EXPECT_EQ(param(m, "uid"), "ann");
  EXPECT_EQ(param(m, "post_id"), "7");
  EXPECT_EQ(m.params[1].value.data(), path.data() + 17);  // a view into the path, no copy

  EXPECT_EQ(pick(*r, "/users/"), "404");  // a param needs a non-empty segment
  EXPECT_EQ(pick(*r, "/users/42/"), "404");
  EXPECT_EQ(pick(*r, "/users/42/posts"), "404");
  EXPECT_EQ(pick(*r, "/users/42/posts/"), "404");
  EXPECT_EQ(pick(*r, "/x%2Fy"), "first");  // an encoded slash stays in the segment
  EXPECT_EQ(pick(*r, "/"), "404");
}

TEST(Router, CatchAll) {
  auto r = build_ok({spec("static", "/static/{*rest}"), spec("all", "/{*everything}")});
  MatchResult m = r->match("", Method::kGet, "/static/", {});
  ASSERT_EQ(m.status, MatchStatus::kFound);
  EXPECT_EQ(m.route, 0u);
  ASSERT_EQ(m.param_count, 1u);
  EXPECT_EQ(m.params[0].name, "rest");
  EXPECT_EQ(m.params[0].value, "");

  m = r->match("", Method::kGet, "/static/css/a/b/site.css", {});
  ASSERT_EQ(m.status, MatchStatus::kFound);
  EXPECT_EQ(m.route, 0u);
  EXPECT_EQ(param(m, "rest"), "css/a/b/site.css");

  m = r->match("", Method::kGet, "/static", {});  // not the catch-all of /static/
  ASSERT_EQ(m.status, MatchStatus::kFound);
  EXPECT_EQ(m.route, 1u);
  EXPECT_EQ(param(m, "everything"), "static");

  m = r->match("", Method::kGet, "/", {});
  ASSERT_EQ(m.status, MatchStatus::kFound);
  EXPECT_EQ(m.route, 1u);
  EXPECT_EQ(param(m, "everything"), "");

  auto only = build_ok({spec("static", "/static/{*rest}")});
  EXPECT_EQ(pick(*only, "/static"), "404");
  EXPECT_EQ(pick(*only, "/staticx/a"), "404");
  EXPECT_EQ(pick(*only, "/static//"), "static");
}

TEST(Router, StaticBeatsParamBeatsCatchAll) {
  auto r = build_ok({spec("catch", "/files/{*rest}"), spec("param", "/files/{name}"),
                     spec("static", "/files/readme")});
  EXPECT_EQ(pick(*r, "/files/readme"), "static");
  EXPECT_EQ(pick(*r, "/files/other"), "param");
  EXPECT_EQ(pick(*r, "/files/other/deeper"), "catch");
  EXPECT_EQ(pick(*r, "/files/"), "catch");
  EXPECT_EQ(pick(*r, "/files/readme/x"), "catch");
}

TEST(Router, BacktracksWhenTheSpecificBranchFailsDeeper) {
  auto r = build_ok({spec("abc", "/a/b/c"), spec("xbd", "/{x}/b/d"), spec("ay", "/a/{y}/e"),
                     spec("deep", "/{p}/{q}/{r}/{s}")});
  EXPECT_EQ(pick(*r, "/a/b/c"), "abc");
  MatchResult m = r->match("", Method::kGet, "/a/b/d", {});
  ASSERT_EQ(m.status, MatchStatus::kFound);
  EXPECT_EQ(r->route(m.route).name, "xbd");
  ASSERT_EQ(m.param_count, 1u);  // captures of the abandoned branches are dropped
  EXPECT_EQ(param(m, "x"), "a");
  EXPECT_EQ(pick(*r, "/a/b/e"), "ay");
  EXPECT_EQ(pick(*r, "/a/b/f"), "404");
  m = r->match("", Method::kGet, "/a/b/c/d", {});
  ASSERT_EQ(m.status, MatchStatus::kFound);
  EXPECT_EQ(r->route(m.route).name, "deep");
  EXPECT_EQ(m.param_count, 4u);
  EXPECT_EQ(param(m, "p"), "a");
  EXPECT_EQ(param(m, "s"), "d");
  EXPECT_EQ(pick(*r, "/z/b/c"), "404");

  // With a catch-all under the static "a", the static branch wins before "/{x}" is tried.
  auto c = build_ok({spec("abc", "/a/b/c"), spec("xbd", "/{x}/b/d"), spec("catch", "/a/{*rest}"),
                     spec("deep", "/{p}/{q}/{r}/{s}")});
  EXPECT_EQ(pick(*c, "/a/b/d"), "catch");
  EXPECT_EQ(pick(*c, "/a/b/c/d"), "catch");
  EXPECT_EQ(pick(*c, "/z/b/d"), "xbd");
  EXPECT_EQ(pick(*c, "/z/b/c/d"), "deep");
}

TEST(Router, LongerAndSharedPrefixes) {
  auto r = build_ok({spec("api", "/api"), spec("api_users", "/api/users"),
                     spec("api_users_me", "/api/users/me"), spec("apix", "/apix"),
                     spec("api_v1", "/api/v1/users"), spec("api_v2", "/api/v2/users"),
                     spec("user", "/api/users/{id}")});
  EXPECT_EQ(pick(*r, "/api"), "api");
  EXPECT_EQ(pick(*r, "/api/users"), "api_users");
  EXPECT_EQ(pick(*r, "/api/users/me"), "api_users_me");
  EXPECT_EQ(pick(*r, "/api/users/you"), "user");
  EXPECT_EQ(pick(*r, "/apix"), "apix");
  EXPECT_EQ(pick(*r, "/api/v1/users"), "api_v1");
  EXPECT_EQ(pick(*r, "/api/v2/users"), "api_v2");
  EXPECT_EQ(pick(*r, "/api/v3/users"), "404");
  EXPECT_EQ(pick(*r, "/api/v1"), "404");
  EXPECT_EQ(pick(*r, "/ap"), "404");
}

TEST(Router, WideNodesUseTheHashTable) {
  std::vector<RouteSpec> specs;
  for (int i = 0; i < 300; ++i) {
    specs.push_back(spec("s" + std::to_string(i), "/svc" + std::to_string(i) + "/items/{id}"));
    specs.push_back(spec("h" + std::to_string(i), "/svc" + std::to_string(i) + "/health"));
  }
  auto r = build_ok(std::move(specs));
  for (int i = 0; i < 300; ++i) {
    const std::string n = std::to_string(i);
    EXPECT_EQ(pick(*r, "/svc" + n + "/items/9"), "s" + n);
    EXPECT_EQ(pick(*r, "/svc" + n + "/health"), "h" + n);
  }
  EXPECT_EQ(pick(*r, "/svc300/health"), "404");
  EXPECT_EQ(pick(*r, "/svc/health"), "404");
}

TEST(Router, PriorityHeadersAndMethodsBreakTies) {
  const std::vector<HeaderMatch> beta = {{"x-beta", "1"}};
  auto r = build_ok({spec("low", "/p"), spec("high", "/p", 0, "", {}, 5), spec("q_any", "/q"),
                     spec("q_get", "/q", methods({Method::kGet})), spec("q_hdr", "/q", 0, "", beta),
                     spec("r_first", "/r/{a}"),
                     spec("r_second", "/r/{b}", methods({Method::kGet, Method::kPost}))});
  EXPECT_EQ(pick(*r, "/p"), "high");
  EXPECT_EQ(pick(*r, "/q", Method::kGet), "q_get");  // restricted beats any
  EXPECT_EQ(pick(*r, "/q", Method::kPost), "q_any");
  EXPECT_EQ(pick(*r, "/q", Method::kPost, "", {{"X-Beta", "1"}}), "q_hdr");  // more headers
  EXPECT_EQ(pick(*r, "/q", Method::kGet, "", {{"x-beta", "1"}}), "q_hdr");
  EXPECT_EQ(pick(*r, "/q", Method::kGet, "", {{"x-beta", "2"}}), "q_get");
  EXPECT_EQ(pick(*r, "/r/1", Method::kGet), "r_second");  // restricted beats any
  EXPECT_EQ(pick(*r, "/r/1", Method::kPut), "r_first");

  auto order = build_ok({spec("one", "/o", methods({Method::kGet})),
                         spec("two", "/o", methods({Method::kGet, Method::kHead}))});
  EXPECT_EQ(pick(*order, "/o", Method::kGet), "one");  // then config order
  EXPECT_EQ(pick(*order, "/o", Method::kHead), "two");

  auto prio = build_ok({spec("hdr", "/h", 0, "", beta), spec("prio", "/h", 0, "", {}, 1)});
  EXPECT_EQ(pick(*prio, "/h", Method::kGet, "", {{"x-beta", "1"}}), "prio");  // priority first
}

TEST(Router, HostExactWildcardAndDefault) {
  auto r = build_ok(
      {spec("default", "/x"), spec("default_only", "/d"), spec("exact", "/x", 0, "api.example.com"),
       spec("wild", "/x", 0, "*.example.com"), spec("wild_deep", "/x", 0, "*.eu.example.com"),
       spec("wild_y", "/y", 0, "*.example.com"), spec("exact_z", "/z", 0, "api.example.com"),
       spec("v6", "/x", 0, "[::1]")});
  EXPECT_EQ(pick(*r, "/x", Method::kGet, "api.example.com"), "exact");
  EXPECT_EQ(pick(*r, "/x", Method::kGet, "www.example.com"), "wild");
  EXPECT_EQ(pick(*r, "/x", Method::kGet, "a.b.example.com"), "wild");
  EXPECT_EQ(pick(*r, "/x", Method::kGet, "fr.eu.example.com"), "wild_deep");  // longest suffix
  EXPECT_EQ(pick(*r, "/x", Method::kGet, "eu.example.com"), "wild");
  EXPECT_EQ(pick(*r, "/x", Method::kGet, "example.com"), "default");  // not the apex
  EXPECT_EQ(pick(*r, "/x", Method::kGet, "other.org"), "default");
  EXPECT_EQ(pick(*r, "/x", Method::kGet, ""), "default");
  // The exact tree has no /y or /d: fall back to the wildcard, then the default tree.
  EXPECT_EQ(pick(*r, "/y", Method::kGet, "api.example.com"), "wild_y");
  EXPECT_EQ(pick(*r, "/d", Method::kGet, "api.example.com"), "default_only");
  EXPECT_EQ(pick(*r, "/z", Method::kGet, "api.example.com"), "exact_z");
  EXPECT_EQ(pick(*r, "/z", Method::kGet, "www.example.com"), "404");
  EXPECT_EQ(pick(*r, "/z", Method::kGet, ""), "404");
  EXPECT_EQ(pick(*r, "/x", Method::kGet, "[::1]:8080"), "v6");
  EXPECT_EQ(pick(*r, "/x", Method::kGet, "[::1]"), "v6");
  EXPECT_EQ(pick(*r, "/x", Method::kGet, "[::2]:80"), "default");
}

TEST(Router, HostWithPortAndUpperCase) {
  auto r = build_ok({spec("exact", "/", 0, "api.example.com"),
                     spec("wild", "/", 0, "*.example.com"), spec("mixed", "/m", 0, "Mixed.Org")});
  EXPECT_EQ(pick(*r, "/", Method::kGet, "API.Example.COM"), "exact");
  EXPECT_EQ(pick(*r, "/", Method::kGet, "api.example.com:8443"), "exact");
  EXPECT_EQ(pick(*r, "/", Method::kGet, "Api.Example.Com:80"), "exact");
  EXPECT_EQ(pick(*r, "/", Method::kGet, "api.example.com."), "exact");  // FQDN form
  EXPECT_EQ(pick(*r, "/", Method::kGet, "WWW.EXAMPLE.COM:1"), "wild");
  EXPECT_EQ(pick(*r, "/", Method::kGet, "example.com:80"), "404");
  EXPECT_EQ(pick(*r, "/m", Method::kGet, "mixed.org"), "mixed");  // configured hosts lower-cased
}

TEST(Router, HeaderMatches) {
  auto r = build_ok({spec("v2", "/api", 0, "", {{"x-version", "2"}}),
                     spec("v2_beta", "/api", 0, "", {{"x-version", "2"}, {"X-Beta", "yes"}}),
                     spec("plain", "/api")});
  EXPECT_EQ(pick(*r, "/api"), "plain");
  EXPECT_EQ(pick(*r, "/api", Method::kGet, "", {{"X-Version", "2"}}), "v2");
  EXPECT_EQ(pick(*r, "/api", Method::kGet, "", {{"x-version", "3"}}), "plain");
  EXPECT_EQ(pick(*r, "/api", Method::kGet, "", {{"x-version", "2 "}}), "plain");  // exact value
  EXPECT_EQ(pick(*r, "/api", Method::kGet, "", {{"x-beta", "yes"}, {"x-version", "2"}}), "v2_beta");
  EXPECT_EQ(pick(*r, "/api", Method::kGet, "", {{"x-beta", "YES"}, {"x-version", "2"}}), "v2");
  // A repeated header field matches when any of its values does.
  EXPECT_EQ(pick(*r, "/api", Method::kGet, "", {{"x-version", "1"}, {"x-version", "2"}}), "v2");

  auto only = build_ok({spec("v2", "/api", 0, "", {{"x-version", "2"}})});
  EXPECT_EQ(pick(*only, "/api"), "404");
}

TEST(Router, MethodFilterAnd405) {
  auto r = build_ok({spec("get", "/items", methods({Method::kGet, Method::kHead})),
                     spec("post", "/items", methods({Method::kPost})),
                     spec("put_one", "/items/{id}", methods({Method::kPut})),
                     spec("del_static", "/items/special", methods({Method::kDelete})),
                     spec("admin", "/admin", methods({Method::kPatch}), "", {{"x-admin", "1"}})});
  EXPECT_EQ(pick(*r, "/items", Method::kGet), "get");
  EXPECT_EQ(pick(*r, "/items", Method::kHead), "get");
  EXPECT_EQ(pick(*r, "/items", Method::kPost), "post");
  MatchResult m = r->match("", Method::kDelete, "/items", {});
  EXPECT_EQ(m.status, MatchStatus::kMethodNotAllowed);
  EXPECT_EQ(m.allowed_methods, methods({Method::kGet, Method::kHead, Method::kPost}));
  EXPECT_EQ(allow_header_value(m.allowed_methods), "GET, HEAD, POST");

  // The static route refuses PUT, so the param route behind it is tried.
  EXPECT_EQ(pick(*r, "/items/special", Method::kPut), "put_one");
  m = r->match("", Method::kGet, "/items/special", {});
  EXPECT_EQ(m.status, MatchStatus::kMethodNotAllowed);
  EXPECT_EQ(m.allowed_methods, methods({Method::kPut, Method::kDelete}));
  EXPECT_EQ(allow_header_value(m.allowed_methods), "PUT, DELETE");

  m = r->match("", Method::kOther, "/items", {});  // unknown methods match only "any" routes
  EXPECT_EQ(m.status, MatchStatus::kMethodNotAllowed);

  // Routes whose headers do not match do not count towards 405.
  EXPECT_EQ(pick(*r, "/admin", Method::kGet), "404");
  m = r->match("", Method::kGet, "/admin", std::vector<Header>{{"x-admin", "1"}});
  EXPECT_EQ(m.status, MatchStatus::kMethodNotAllowed);
  EXPECT_EQ(m.allowed_methods, methods({Method::kPatch}));
  EXPECT_EQ(pick(*r, "/nothing", Method::kGet), "404");
}

TEST(Router, MethodNotAllowedAcrossHostTrees) {
  auto r = build_ok({spec("exact", "/x", methods({Method::kPost}), "a.test"),
                     spec("wild", "/x", methods({Method::kPut}), "*.test"),
                     spec("default", "/x", methods({Method::kDelete})), spec("default_any", "/y")});
  MatchResult m = r->match("a.test", Method::kGet, "/x", {});
  EXPECT_EQ(m.status, MatchStatus::kMethodNotAllowed);
  EXPECT_EQ(m.allowed_methods, methods({Method::kPost, Method::kPut, Method::kDelete}));
  EXPECT_EQ(pick(*r, "/x", Method::kDelete, "a.test"), "default");
  EXPECT_EQ(pick(*r, "/y", Method::kDelete, "a.test"), "default_any");
}

TEST(AllowHeaderValue, ListsMethodsInEnumOrder) {
  EXPECT_EQ(allow_header_value(0), "");
  EXPECT_EQ(allow_header_value(methods({Method::kPatch, Method::kGet})), "GET, PATCH");
  EXPECT_EQ(allow_header_value(0x1ff),
            "GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH");
  EXPECT_EQ(allow_header_value(methods({Method::kOther})), "");
}

TEST(RouterBuild, ReportsEveryPatternError) {
  std::vector<RouterError> errors;
  auto r = Router::build({spec("ok", "/ok"), spec("nostart", "users"), spec("open", "/a/{id"),
                          spec("catch", "/{*r}/x"), spec("dup_name", "/{a}/{a}")},
                         &errors);
  EXPECT_EQ(r, nullptr);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].route, 1u);
  EXPECT_FALSE(errors[0].other.has_value());
  EXPECT_NE(errors[0].message.find("\"nostart\""), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[0].message.find("must start with '/'"), std::string::npos);
  EXPECT_EQ(errors[1].route, 2u);
  EXPECT_NE(errors[1].message.find("unclosed"), std::string::npos);
  EXPECT_EQ(errors[2].route, 3u);
  EXPECT_NE(errors[2].message.find("last segment"), std::string::npos);
  EXPECT_EQ(errors[3].route, 4u);
  EXPECT_NE(errors[3].message.find("duplicate parameter"), std::string::npos);
}

TEST(RouterBuild, ReportsBadHostsMethodsAndHeaders) {
  std::vector<RouterError> errors;
  auto r = Router::build({spec("port", "/", 0, "a.com:80"), spec("star", "/", 0, "a.*.com"),
                          spec("bare_star", "/", 0, "*"), spec("other", "/", 0x8000),
                          spec("hdr", "/", 0, "", {{"", "x"}}), spec("v6", "/", 0, "[::1"),
                          spec("fine", "/", 0, "*.a.com")},
                         &errors);
  EXPECT_EQ(r, nullptr);
  ASSERT_EQ(errors.size(), 6u);
  for (size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i].route, i) << errors[i].message;
  EXPECT_EQ(Router::build({spec("x", "/", 0, "a.com:80")}, nullptr), nullptr);  // errors optional

  errors.clear();  // unknown methods (kOther) are routed only by routes without methods
  EXPECT_EQ(Router::build({spec("purge", "/", methods({Method::kGet, Method::kOther}))}, &errors),
            nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("does not know"), std::string::npos) << errors[0].message;
}

TEST(RouterBuild, DetectsDuplicatesNamingBothRoutes) {
  std::vector<RouterError> errors;
  auto r =
      Router::build({spec("users", "/users/{id}", methods({Method::kGet})), spec("other", "/other"),
                     spec("users_again", "/users/{uid}", methods({Method::kGet})),
                     spec("h1", "/h", 0, "API.example.com", {{"a", "1"}, {"b", "2"}}),
                     spec("h2", "/h", 0, "api.example.com", {{"B", "2"}, {"a", "1"}}),
                     spec("tilde", "/~x"), spec("tilde_enc", "/%7Ex")},
                    &errors);
  EXPECT_EQ(r, nullptr);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].route, 2u);
  ASSERT_TRUE(errors[0].other.has_value());
  EXPECT_EQ(*errors[0].other, 0u);
  EXPECT_NE(errors[0].message.find("\"users_again\""), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[0].message.find("\"users\""), std::string::npos) << errors[0].message;
  EXPECT_EQ(errors[1].route, 4u);
  EXPECT_EQ(errors[1].other, std::optional<size_t>(3));
  EXPECT_EQ(errors[2].route, 6u);
  EXPECT_EQ(errors[2].other, std::optional<size_t>(5));
}

TEST(RouterBuild, NotDuplicatesWhenPriorityMethodsHeadersOrHostDiffer) {
  std::vector<RouterError> errors;
  auto r = Router::build(
      {spec("base", "/u/{id}"), spec("prio", "/u/{id}", 0, "", {}, 1),
       spec("get", "/u/{x}", methods({Method::kGet})),
       spec("getpost", "/u/{x}", methods({Method::kGet, Method::kPost})),
       spec("hdr", "/u/{id}", 0, "", {{"x", "1"}}), spec("hdr2", "/u/{id}", 0, "", {{"x", "2"}}),
       spec("host", "/u/{id}", 0, "h.test"), spec("wild", "/u/{id}", 0, "*.h.test"),
       spec("catch", "/u/{*id}"), spec("slash", "/u/{id}/")},
      &errors);
  EXPECT_NE(r, nullptr);
  EXPECT_TRUE(errors.empty());
  for (const RouterError& e : errors) ADD_FAILURE() << e.message;
}

TEST(RouterBuild, EmptyTable) {
  auto r = build_ok({});
  EXPECT_EQ(r->size(), 0u);
  EXPECT_EQ(pick(*r, "/"), "404");
  EXPECT_EQ(pick(*r, "/", Method::kGet, "a.b"), "404");
}

TEST(Router, ParamNamesOutliveTheSpecsVector) {
  std::unique_ptr<Router> r;
  {
    std::vector<RouteSpec> specs = {spec("a", "/a/{a_rather_long_parameter_name}/{short}")};
    r = build_ok(std::move(specs));
  }
  MatchResult m = r->match("", Method::kGet, "/a/1/2", {});
  ASSERT_EQ(m.status, MatchStatus::kFound);
  EXPECT_EQ(m.params[0].name, "a_rather_long_parameter_name");
  EXPECT_EQ(m.params[1].name, "short");
}

TEST(Router, MaximumParams) {
  auto r =
      build_ok({spec("max", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{*p}")});
  MatchResult m = r->match("", Method::kGet, "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", {});
  ASSERT_EQ(m.status, MatchStatus::kFound);
  EXPECT_EQ(m.param_count, kMaxParams);
  EXPECT_EQ(m.params[15].name, "p");
  EXPECT_EQ(m.params[15].value, "16/17");
}

}  // namespace
}  // namespace sluice::router
