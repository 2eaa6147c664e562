// See context.h.
#include "filter/context.h"

#include <arpa/inet.h>

#include <algorithm>

namespace sluice::filter {
namespace {

bool control_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

// Whether a value holds a byte that could end or add a header line (a control byte but tab).
// Eight bytes at a time: a word with a byte below 0x20 or equal to 0x7f is looked at bytewise
// (a tab is the only such byte allowed).
bool has_control(std::string_view v) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const char* p = v.data();
  size_t n = v.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t x;
    std::memcpy(&x, p, sizeof(x));
    const uint64_t below = (x - 0x20 * kOnes) & ~x & kHigh;
    const uint64_t del = x ^ (0x7f * kOnes);
    const uint64_t is_del = (del - kOnes) & ~del & kHigh;
    if ((below | is_del) != 0 && std::any_of(p, p + 8, control_byte)) return true;
  }
  return std::any_of(p, p + n, control_byte);
}

}  // namespace

void Context::begin(const http::RequestHead& head, std::string_view path,
                    const router::MatchResult* m, std::string_view route_name,
                    const auth::IpAddress& client, std::string_view request_id, Driver* driver,
                    Services* services) {
  head_ = &head;
  path_.assign(path);
  param_count_ = 0;
  if (m != nullptr) {
    // The router's values view into `path`: point them into our copy.
    for (size_t i = 0; i < m->param_count; ++i) {
      const router::Param& p = m->params[i];
      const size_t at = static_cast<size_t>(p.value.data() - path.data());
      params_[i] = {p.name, std::string_view(path_).substr(at, p.value.size())};
    }
    param_count_ = m->param_count;
  }
  route_ = route_name;
  client_ = client;
  client_text_len_ = 0;
  request_id_ = request_id;
  driver_ = driver;
  services_ = services;
}

void Context::set_token(const auth::JwtClaims& claims) {
  principal_.assign(claims.sub);
  consumer_ = principal_;
  identified_ = true;
  if (keep_claims_) {
    kept_claims_ = claims;
    claims_ = &kept_claims_;
    roles_ = kept_claims_.roles;
  } else {
    roles_ = {};
  }
}

void Context::reset() {
  head_ = nullptr;
  path_.clear();
  param_count_ = 0;
  route_ = {};
  client_text_len_ = 0;
  request_id_ = {};
  driver_ = nullptr;
  services_ = nullptr;
  consumer_ = {};
  principal_.clear();
  roles_ = {};
  identified_ = false;
  keep_claims_ = false;
  claims_ = nullptr;
  req_.clear();
  new_path_.clear();
  new_query_.clear();
  path_set_ = query_set_ = false;
  status_ = 0;
  response_headers_ = {};
  upstream_addr_ = {};
  resp_.clear();
  resp_prefix_.clear();
  request_body_.clear();
  response_body_.clear();
  answer_status_ = 0;
  answer_body_.clear();
  answer_lines_.clear();
  answer_reason_.clear();
  has_reason_ = false;
  refusal_ = Refusal::kNone;
}

void Context::append_line(std::string& out, std::string_view name, std::string_view value) {
  // A value made from request data must not add a header: control bytes are dropped.
  if (has_control(value)) {
    out.append(name);
    out.append(": ");
    for (char c : value) {
      if (!control_byte(c)) out.push_back(c);
    }
    out.append("\r\n");
    return;
  }
  // One growth check and straight copies (a line per edit, on every request of the route).
  const size_t at = out.size();
  const size_t n = name.size() + 2 + value.size() + 2;
  if (out.capacity() < at + n) out.reserve(std::max(at + n, 2 * out.capacity()));
  out.resize(at + n);
  char* p = out.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
}

bool Context::find_line(std::string_view lines, std::string_view name, std::string_view* value) {
  while (!lines.empty()) {
    const size_t end = lines.find("\r\n");
    std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 2);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && http::iequals(line.substr(0, colon), name)) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      *value = v;
      return true;
    }
  }
  return false;
}

bool Context::HeaderEdits::dropped(std::string_view name) const {
  for (size_t i = 0; i < used; ++i) {
    if (http::iequals(drop[i], name)) return true;
  }
  return false;
}

void Context::HeaderEdits::remove(std::string_view name) {
  if (!dropped(name)) {
    if (used == drop.size()) drop.emplace_back();
    drop[used].assign(name);
    ++used;
  }
  // Lines added earlier under this name go too.
  size_t at = 0;
  while (at < lines.size()) {
    size_t end = lines.find("\r\n", at);
    end = end == std::string::npos ? lines.size() : end + 2;
    const std::string_view line = std::string_view(lines).substr(at, end - at);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        http::iequals(line.substr(0, name.size()), name)) {
      lines.erase(at, end - at);
    } else {
      at = end;
    }
  }
}

void Context::HeaderEdits::set(std::string_view name, std::string_view value) {
  remove(name);
  append_line(lines, name, value);
}

std::string_view Context::request_header(std::string_view name) const {
  std::string_view added;
  if (find_line(req_.lines, name, &added) || req_.dropped(name)) return added;
  const http::Header* h = http::find_header(head_->headers, name);
  return h != nullptr ? h->value : std::string_view();
}

bool Context::has_request_header(std::string_view name) const {
  std::string_view v;
  if (find_line(req_.lines, name, &v)) return true;
  if (req_.dropped(name)) return false;
  return http::find_header(head_->headers, name) != nullptr;
}

void Context::set_request_header(std::string_view name, std::string_view value) {
  req_.set(name, value);
}

void Context::add_request_header(std::string_view name, std::string_view value) {
  req_.add(name, value);
}

void Context::remove_request_header(std::string_view name) {
  req_.remove(name);
}

void Context::set_path(std::string_view path) {
  new_path_.assign(path);
  path_set_ = true;
}

void Context::set_query(std::string_view query) {
  new_query_.assign(query);
  query_set_ = true;
}

std::string_view Context::param(std::string_view name) const {
  for (size_t i = 0; i < param_count_; ++i) {
    if (params_[i].name == name) return params_[i].value;
  }
  return {};
}

std::string_view Context::client_ip() const {
  if (client_text_len_ == 0) {
    // Into the context's own buffer: no allocation, whatever the family.
    if (client_.is_v4()) {
      auth::format_ipv4(client_.v4_value(), client_text_.data());
    } else {
      unsigned char b[16];
      for (int i = 0; i < 8; ++i) {
        b[i] = static_cast<unsigned char>(client_.v6_hi() >> (56 - 8 * i));
        b[8 + i] = static_cast<unsigned char>(client_.v6_lo() >> (56 - 8 * i));
      }
      inet_ntop(AF_INET6, b, client_text_.data(), static_cast<socklen_t>(client_text_.size()));
    }
    client_text_len_ = static_cast<uint8_t>(std::strlen(client_text_.data()));
  }
  return {client_text_.data(), client_text_len_};
}

std::string_view Context::claim(std::string_view name) const {
  if (claims_ == nullptr) return {};
  if (name == "sub") return claims_->sub;
  if (name == "iss") return claims_->iss;
  auto it = std::lower_bound(claims_->strings.begin(), claims_->strings.end(), name,
                             [](const auto& kv, std::string_view n) { return kv.first < n; });
  if (it != claims_->strings.end() && it->first == name) return it->second;
  return {};
}

std::string_view Context::response_header(std::string_view name) const {
  std::string_view added;
  if (find_line(resp_.lines, name, &added) || resp_.dropped(name)) return added;
  if (!resp_prefix_.empty() && name.size() >= resp_prefix_.size() &&
      http::iequals(name.substr(0, resp_prefix_.size()), resp_prefix_)) {
    return {};
  }
  const http::Header* h = http::find_header(response_headers_, name);
  return h != nullptr ? h->value : std::string_view();
}

void Context::set_response_header(std::string_view name, std::string_view value) {
  resp_.set(name, value);
}

void Context::add_response_header(std::string_view name, std::string_view value) {
  resp_.add(name, value);
}

void Context::remove_response_header(std::string_view name) {
  resp_.remove(name);
}

void Context::respond(int status, std::string_view body, std::string_view content_type) {
  answer_status_ = status;
  answer_body_.assign(body);
  answer_lines_.clear();
  if (!content_type.empty()) append_line(answer_lines_, "content-type", content_type);
}

void Context::refuse(int status, std::string_view reason, Refusal why) {
  answer_status_ = status;
  answer_body_.clear();
  answer_lines_.clear();
  set_answer_reason(reason);
  refusal_ = why;
}

void Context::add_answer_header(std::string_view name, std::string_view value) {
  append_line(answer_lines_, name, value);
}

}  // namespace sluice::filter
