// Templates: every variable, literal '$', and the errors at load.
#include "filter/template.h"

#include <gtest/gtest.h>

#include "filter/context.h"
#include "http/request_parser.h"

namespace sluice::filter {
namespace {

std::string expand(const std::string& text, const Context& ctx, bool response = false) {
  std::string error;
  std::optional<Template> t = Template::compile(text, &error, response);
  EXPECT_TRUE(t.has_value()) << error;
  std::string out;
  if (t) t->expand(ctx, out);
  return out;
}

std::string compile_error(const std::string& text, bool response = false) {
  std::string error;
  EXPECT_FALSE(Template::compile(text, &error, response).has_value());
  return error;
}

TEST(Template, ExpandsEveryVariable) {
  std::string raw =
      "POST /u/42?page=3&x=y HTTP/1.1\r\nHost: h\r\nX-Tenant: acme\r\nContent-Length: 0\r\n\r\n";
  http::RequestHead head;
  http::RequestParser p;
  ASSERT_EQ(p.parse(raw, head), http::ParseStatus::kDone);
  std::string path = "/u/42";
  router::MatchResult m;
  m.params[0] = {"id", std::string_view(path).substr(3)};
  m.param_count = 1;
  Context ctx;
  ctx.begin(head, path, &m, "users", *auth::IpAddress::parse("10.1.2.3"), "rid9", nullptr);
  auth::JwtClaims c;
  c.sub = "bob";
  c.strings = {{"tenant", "t1"}};
  ctx.set_keep_claims(true);
  ctx.set_token(c);
  ctx.set_response(503, {}, "10.0.0.9:8080");
  EXPECT_EQ(expand("${client_ip}|${request_id}|${route}|${method}|${path}", ctx),
            "10.1.2.3|rid9|users|POST|/u/42");
  EXPECT_EQ(expand("${path.id}-${query.page}-${query.none}-${header.X-Tenant}", ctx), "42-3--acme");
  EXPECT_EQ(expand("${consumer}/${jwt.tenant}", ctx), "bob/t1");
  EXPECT_EQ(expand("${status} from ${upstream_addr}", ctx, true), "503 from 10.0.0.9:8080");
  EXPECT_EQ(expand("cost: $$5, $x {y}", ctx), "cost: $5, $x {y}");
}

TEST(Template, ErrorsAtLoad) {
  EXPECT_NE(compile_error("${nope}").find("unknown variable ${nope}"), std::string::npos);
  EXPECT_NE(compile_error("${status}").find("only known on the response side"), std::string::npos);
  EXPECT_NE(compile_error("a ${path.id").find("unclosed variable"), std::string::npos);
  EXPECT_NE(compile_error("${header.a b}").find("invalid name"), std::string::npos);
  EXPECT_NE(compile_error("${path.}").find("unknown variable"), std::string::npos);
}

TEST(Template, UsesNamesItsVariables) {
  std::string error;
  auto t = Template::compile("plain", &error, false);
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->uses(Var::kJwtClaim));
  auto u = Template::compile("/v/${path.a}/${jwt.tenant}", &error, false);
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->uses(Var::kJwtClaim));
  EXPECT_TRUE(u->uses(Var::kPathParam));
  EXPECT_FALSE(u->uses(Var::kHeader));
}

}  // namespace
}  // namespace sluice::filter
