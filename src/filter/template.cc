// See template.h.
#include "filter/template.h"

#include <charconv>

#include "filter/context.h"
#include "http/header.h"

namespace sluice::filter {
namespace {

struct Known {
  std::string_view name;
  Var var;
  bool takes_name;
  bool response_only;
};

constexpr Known kVars[] = {
    {"client_ip", Var::kClientIp, false, false}, {"request_id", Var::kRequestId, false, false},
    {"route", Var::kRoute, false, false},        {"method", Var::kMethod, false, false},
    {"path", Var::kPath, false, false},          {"path.", Var::kPathParam, true, false},
    {"query.", Var::kQueryParam, true, false},   {"header.", Var::kHeader, true, false},
    {"consumer", Var::kConsumer, false, false},  {"jwt.", Var::kJwtClaim, true, false},
    {"status", Var::kStatus, false, true},       {"upstream_addr", Var::kUpstreamAddr, false, true},
};

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

}  // namespace

std::optional<Template> Template::compile(std::string_view text, std::string* error,
                                          bool response_side) {
  Template t;
  t.text_.assign(text);
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) t.parts_.push_back({Var::kLiteral, std::move(literal)});
    literal.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '$') {
      literal.push_back(c);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      literal.push_back('$');
      ++i;
      continue;
    }
    if (i + 1 >= text.size() || text[i + 1] != '{') {
      literal.push_back('$');
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      *error = "unclosed variable at offset " + std::to_string(i) + " (write $$ for a '$')";
      return std::nullopt;
    }
    const std::string_view name = text.substr(i + 2, close - i - 2);
    const Known* found = nullptr;
    for (const Known& k : kVars) {
      if (k.takes_name ? name.starts_with(k.name) && name.size() > k.name.size() : name == k.name) {
        found = &k;
        break;
      }
    }
    if (found == nullptr) {
      *error = "unknown variable ${" + std::string(name) +
               "} (known: client_ip, request_id, route, method, path, path.NAME, query.NAME, "
               "header.NAME, consumer, jwt.CLAIM, status, upstream_addr)";
      return std::nullopt;
    }
    if (found->response_only && !response_side) {
      *error = "${" + std::string(name) + "} is only known on the response side";
      return std::nullopt;
    }
    std::string arg(found->takes_name ? name.substr(found->name.size()) : std::string_view());
    for (char a : arg) {
      if (!name_char(a)) {
        *error = "invalid name in ${" + std::string(name) + "}";
        return std::nullopt;
      }
    }
    if (found->var == Var::kHeader) {
      for (char& a : arg) a = http::ascii_lower(a);
    }
    flush();
    t.parts_.push_back({found->var, std::move(arg)});
    i = close;
  }
  flush();
  return t;
}

void Template::expand(const Context& ctx, std::string& out) const {
  for (const Part& p : parts_) {
    switch (p.var) {
      case Var::kLiteral:
        out.append(p.text);
        break;
      case Var::kClientIp:
        out.append(ctx.client_ip());
        break;
      case Var::kRequestId:
        out.append(ctx.request_id());
        break;
      case Var::kRoute:
        out.append(ctx.route());
        break;
      case Var::kMethod:
        out.append(ctx.method());
        break;
      case Var::kPath:
        out.append(ctx.path());
        break;
      case Var::kPathParam:
        out.append(ctx.param(p.text));
        break;
      case Var::kQueryParam:
        out.append(http::query_param(ctx.query(), p.text));
        break;
      case Var::kHeader:
        out.append(ctx.request_header(p.text));
        break;
      case Var::kConsumer:
        out.append(ctx.consumer());
        break;
      case Var::kJwtClaim:
        out.append(ctx.claim(p.text));
        break;
      case Var::kStatus: {
        char buf[8];
        auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), ctx.status());
        out.append(buf, end);
        break;
      }
      case Var::kUpstreamAddr:
        out.append(ctx.upstream_addr());
        break;
    }
  }
}

}  // namespace sluice::filter
