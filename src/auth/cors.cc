#include "auth/cors.h"

namespace sluice::auth {

namespace {

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  for (char p : std::string_view("!#$%&'*+-.^_`|~")) {
    if (c == p) return true;
  }
  return false;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool is_label_char(char c) {
  c = lower(c);
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// One or more non-empty labels separated by dots: what '*' stands for.
bool is_label_sequence(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = '.';
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!is_label_char(c)) {
      return false;
    }
    prev = c;
  }
  return true;
}

// "scheme://" with a scheme of RFC 3986 letters; returns its length or 0.
size_t scheme_prefix_size(std::string_view s) {
  const size_t sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0) return 0;
  for (size_t i = 0; i < sep; ++i) {
    const char c = lower(s[i]);
    const bool ok = (c >= 'a' && c <= 'z') ||
                    (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
    if (!ok) return 0;
  }
  return sep + 3;
}

// host[:port] as an origin serialises it: a DNS name, an IPv4 address or a bracketed IPv6 one.
bool is_host_port(std::string_view s) {
  if (s.empty()) return false;
  size_t host_end = s.size();
  if (s.front() == '[') {
    host_end = s.find(']');
    if (host_end == std::string_view::npos) return false;
    for (size_t i = 1; i < host_end; ++i) {
      const char c = lower(s[i]);
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.')) {
        return false;
      }
    }
    ++host_end;
  } else {
    const size_t colon = s.find(':');
    if (colon != std::string_view::npos) host_end = colon;
    if (!is_label_sequence(s.substr(0, host_end))) return false;
  }
  if (host_end == s.size()) return true;
  const std::string_view port = s.substr(host_end);
  if (port.size() < 2 || port.size() > 6 || port[0] != ':') return false;
  for (char c : port.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

void append_line(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out.append(", ");
    out.append(s);
  }
  return out;
}

}  // namespace

std::optional<CorsPolicy> CorsPolicy::compile(const CorsConfig& config, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<CorsPolicy> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  CorsPolicy p;
  p.credentials_ = config.credentials;
  if (config.origins.empty()) return fail("cors: origins must list at least one origin");
  for (const std::string& o : config.origins) {
    if (o == "*") {
      if (config.credentials) {
        return fail(
            "cors: origin \"*\" cannot be combined with credentials (Fetch standard); "
            "list the origins");
      }
      p.any_origin_ = true;
      continue;
    }
    if (o == "null") {
      p.exact_origins_.push_back(o);
      continue;
    }
    const size_t sp = scheme_prefix_size(o);
    if (sp == 0) return fail("cors: origin \"" + o + "\" must look like scheme://host[:port]");
    const std::string_view rest = std::string_view(o).substr(sp);
    if (rest.substr(0, 2) == "*.") {
      if (!is_host_port(rest.substr(2))) {
        return fail("cors: invalid origin pattern \"" + o + "\"");
      }
      p.patterns_.push_back(Pattern{to_lower(o.substr(0, sp)), to_lower(rest.substr(1))});
      continue;
    }
    if (!is_host_port(rest)) {
      return fail("cors: invalid origin \"" + o +
                  "\" (scheme://host[:port], no path; '*' only as a whole first label)");
    }
    p.exact_origins_.push_back(to_lower(o));
  }
  for (const std::string& m : config.methods) {
    if (m == "*") {
      if (config.credentials)
        return fail("cors: methods \"*\" cannot be combined with credentials");
      p.any_method_ = true;
    } else if (!is_token(m)) {
      return fail("cors: invalid method \"" + m + "\"");
    } else {
      p.methods_.push_back(m);
    }
  }
  if (config.methods.empty()) p.methods_ = {"GET", "HEAD", "POST"};  // the CORS-safelisted ones
  for (const std::string& h : config.allowed_headers) {
    if (h == "*") {
      if (config.credentials)
        return fail("cors: headers \"*\" cannot be combined with credentials");
      p.any_header_ = true;
    } else if (!is_token(h)) {
      return fail("cors: invalid header name \"" + h + "\"");
    } else {
      p.allowed_headers_.push_back(to_lower(h));
    }
  }
  std::vector<std::string> exposed;
  for (const std::string& h : config.exposed_headers) {
    if (h == "*" && config.credentials) {
      return fail("cors: exposed headers \"*\" cannot be combined with credentials");
    }
    if (h != "*" && !is_token(h)) return fail("cors: invalid header name \"" + h + "\"");
    exposed.push_back(h);
  }

  if (!p.any_method_)
    append_line(p.methods_line_, "Access-Control-Allow-Methods", join(p.methods_));
  if (!exposed.empty()) append_line(p.expose_line_, "Access-Control-Expose-Headers", join(exposed));
  if (config.max_age_s > 0) {
    append_line(p.tail_lines_, "Access-Control-Max-Age", std::to_string(config.max_age_s));
  }
  return p;
}

bool CorsPolicy::origin_allowed(std::string_view origin) const {
  if (origin.empty()) return false;
  if (any_origin_) return true;
  for (const std::string& o : exact_origins_) {
    if (iequals(origin, o)) return true;
  }
  for (const Pattern& pat : patterns_) {
    if (origin.size() <= pat.scheme_prefix.size() + pat.suffix.size()) continue;
    if (!istarts_with(origin, pat.scheme_prefix) || !iends_with(origin, pat.suffix)) continue;
    const std::string_view middle = origin.substr(
        pat.scheme_prefix.size(), origin.size() - pat.scheme_prefix.size() - pat.suffix.size());
    if (is_label_sequence(middle)) return true;
  }
  return false;
}

bool CorsPolicy::method_allowed(std::string_view method) const {
  if (any_method_) return is_token(method);
  for (const std::string& m : methods_) {
    if (m == method) return true;  // methods are case-sensitive (RFC 9110 section 9.1)
  }
  return false;
}

bool CorsPolicy::header_allowed(std::string_view name) const {
  if (!is_token(name)) return false;
  if (any_header_) return true;
  for (const std::string& h : allowed_headers_) {
    if (iequals(name, h)) return true;
  }
  return false;
}

void CorsPolicy::append_allow_origin(std::string_view origin, std::string& out) const {
  // "*" only when it is the whole answer; with credentials, or a list, echo the one origin and
  // tell caches that the answer depends on it.
  if (any_origin_ && !credentials_) {
    append_line(out, "Access-Control-Allow-Origin", "*");
    return;
  }
  append_line(out, "Access-Control-Allow-Origin", origin);
  if (credentials_) append_line(out, "Access-Control-Allow-Credentials", "true");
  append_line(out, "Vary", "Origin");
}

void CorsPolicy::preflight_response(std::string_view origin, std::string_view requested_method,
                                    std::string_view requested_headers, std::string& out_headers,
                                    int* status) const {
  *status = 403;
  if (!origin_allowed(origin) || !method_allowed(requested_method)) return;
  // Validate every requested header before writing anything, so a refusal adds no headers.
  size_t count = 0;
  size_t i = 0;
  while (i <= requested_headers.size()) {
    size_t comma = requested_headers.find(',', i);
    if (comma == std::string_view::npos) comma = requested_headers.size();
    const std::string_view name = trim(requested_headers.substr(i, comma - i));
    if (!name.empty()) {
      if (!header_allowed(name)) return;
      ++count;
    }
    i = comma + 1;
  }
  *status = 204;
  append_allow_origin(origin, out_headers);
  if (any_method_) {
    append_line(out_headers, "Access-Control-Allow-Methods", requested_method);
  } else {
    out_headers.append(methods_line_);
  }
  // Echo the (validated) list rather than send "*": a wildcard never covers Authorization, and
  // with credentials it would be taken literally.
  if (count > 0) append_line(out_headers, "Access-Control-Allow-Headers", trim(requested_headers));
  out_headers.append(tail_lines_);
}

void CorsPolicy::actual_response_headers(std::string_view origin, std::string& out) const {
  if (!origin_allowed(origin)) return;
  append_allow_origin(origin, out);
  out.append(expose_line_);
}

}  // namespace sluice::auth
