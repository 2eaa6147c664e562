// HTTP request methods as a small enum, so routers and filters compare integers, not strings.
// Example: if (parse_method("GET") == Method::kGet) { ... }
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::http {

enum class Method : uint8_t {
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kConnect,
  kOptions,
  kTrace,
  kPatch,
  kOther,  // a syntactically valid token we do not know; routed only by routes without methods
};

inline constexpr int kMethodCount = 10;

// Bit for a method in a uint16_t method set (see router).
constexpr uint16_t method_bit(Method m) {
  return static_cast<uint16_t>(1u << static_cast<int>(m));
}

Method parse_method(std::string_view text);
std::string_view method_name(Method m);

// Safe methods may be retried and are never expected to carry a body.
constexpr bool is_idempotent(Method m) {
  return m == Method::kGet || m == Method::kHead || m == Method::kOptions || m == Method::kTrace ||
         m == Method::kPut || m == Method::kDelete;
}

}  // namespace sluice::http
