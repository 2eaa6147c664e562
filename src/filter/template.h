// Text with variables, compiled once at config load and expanded per request without parsing:
// "${path.id}", "${client_ip}", "${header.x-tenant}", "${jwt.tenant}", "${status}" … An unknown
// variable is a config error; "$$" is a literal '$'. Expansion appends to a string the caller
// reuses, so it allocates nothing in steady state.
// Example:
//   std::string error;
//   std::optional<Template> t = Template::compile("/v2/users/${path.id}", &error, false);
//   t->expand(ctx, out);   // "/v2/users/42"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::filter {

class Context;

enum class Var : uint8_t {
  kLiteral,
  kClientIp,
  kRequestId,
  kRoute,
  kMethod,
  kPath,
  kPathParam,   // ${path.NAME}
  kQueryParam,  // ${query.NAME}
  kHeader,      // ${header.NAME}
  kConsumer,
  kJwtClaim,  // ${jwt.CLAIM}
  kStatus,    // response side
  kUpstreamAddr,
};

class Template {
 public:
  // response_side: ${status} and ${upstream_addr} are allowed (they exist only once a response
  // is known). On error returns nullopt and says why in *error.
  static std::optional<Template> compile(std::string_view text, std::string* error,
                                         bool response_side);

  void expand(const Context& ctx, std::string& out) const;
  const std::string& text() const { return text_; }
  bool uses(Var v) const {
    for (const Part& p : parts_) {
      if (p.var == v) return true;
    }
    return false;
  }

 private:
  struct Part {
    Var var = Var::kLiteral;
    std::string text;  // the literal, or the variable's NAME
  };
  std::string text_;
  std::vector<Part> parts_;
};

}  // namespace sluice::filter
