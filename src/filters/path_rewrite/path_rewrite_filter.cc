// See path_rewrite_filter.h.
#include "filters/path_rewrite/path_rewrite_filter.h"

#include <re2/re2.h>

#include <memory>
#include <string>
#include <vector>

#include "config/reader.h"
#include "filter/context.h"

namespace sluice::filters {
namespace {

using filter::Context;
using filter::Phase;
using filter::Status;

constexpr int kMaxGroups = 9;

// `to` split into literal text and group references.
struct Piece {
  std::string literal;
  int group = -1;  // 0..9, or -1 for a literal
};

class PathRewrite final : public filter::Filter {
 public:
  PathRewrite(std::unique_ptr<re2::RE2> re, std::string prefix, std::vector<Piece> to)
      : re_(std::move(re)), prefix_(std::move(prefix)), to_(std::move(to)) {}

  uint8_t phases() const override { return filter::phase_bit(Phase::kRequestHeaders); }

  Status on_request_headers(Context& ctx) const override {
    thread_local std::string out;
    out.clear();
    const std::string_view path = ctx.path();
    if (!re_) {
      // Whole segments only: /old matches /old and /old/x, not /oldx.
      if (!path.starts_with(prefix_)) return Status::kContinue;
      if (path.size() > prefix_.size() && prefix_.back() != '/' && path[prefix_.size()] != '/') {
        return Status::kContinue;
      }
      out.append(to_.front().literal);
      out.append(path.substr(prefix_.size()));
      if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
      ctx.set_path(out);
      return Status::kContinue;
    }
    re2::StringPiece groups[kMaxGroups + 1];
    const int n = 1 + re_->NumberOfCapturingGroups();
    if (!re_->Match(re2::StringPiece(path.data(), path.size()), 0, path.size(),
                    re2::RE2::UNANCHORED, groups, n)) {
      return Status::kContinue;
    }
    for (const Piece& p : to_) {
      if (p.group < 0) {
        out.append(p.literal);
      } else {
        out.append(groups[p.group].data(), groups[p.group].size());
      }
    }
    ctx.set_path(out);
    return Status::kContinue;
  }

 private:
  std::unique_ptr<re2::RE2> re_;  // null: prefix replacement
  std::string prefix_;
  std::vector<Piece> to_;
};

std::unique_ptr<filter::Filter> build(config::Reader& r, const config::Item& item,
                                      const filter::BuildContext& /*bc*/) {
  std::optional<config::MapItem> m = filter::filter_map(r, item, {"regex", "prefix", "to"});
  if (!m) return nullptr;
  const config::Item* regex = m->get("regex");
  const config::Item* prefix = m->get("prefix");
  const config::Item* to = r.require(*m, "to");
  if ((regex == nullptr) == (prefix == nullptr)) {
    r.error(item.mark, item.path, "give exactly one of 'regex' or 'prefix'");
    return nullptr;
  }
  if (to == nullptr) return nullptr;
  std::optional<std::string> target = r.string(*to);
  if (!target) return nullptr;
  if (target->empty() || target->front() != '/') {
    r.error(to->mark, to->path, "must start with '/', got " + config::quote(*target));
    return nullptr;
  }
  if (prefix != nullptr) {
    std::optional<std::string> p = r.string(*prefix);
    if (!p) return nullptr;
    if (!config::is_request_path(*p)) {
      r.error(prefix->mark, prefix->path,
              "must be a path starting with '/', got " + config::quote(*p));
      return nullptr;
    }
    if (!config::is_request_path(*target)) {
      r.error(to->mark, to->path, "must be a path without spaces or control characters");
      return nullptr;
    }
    std::vector<Piece> pieces{{*target, -1}};
    if (pieces[0].literal == "/") pieces[0].literal.clear();  // "/api/x" → "/x"
    return std::make_unique<PathRewrite>(nullptr, std::move(*p), std::move(pieces));
  }
  std::optional<std::string> pattern = r.string(*regex);
  if (!pattern) return nullptr;
  re2::RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(1 << 20);  // bounds the compiled program of a user's pattern
  auto re = std::make_unique<re2::RE2>(*pattern, opts);
  if (!re->ok()) {
    r.error(regex->mark, regex->path, "invalid regular expression: " + re->error());
    return nullptr;
  }
  const int groups = re->NumberOfCapturingGroups();
  if (groups > kMaxGroups) {
    r.error(regex->mark, regex->path, "at most 9 capturing groups, got " + std::to_string(groups));
    return nullptr;
  }
  std::vector<Piece> pieces;
  std::string lit;
  for (size_t i = 0; i < target->size(); ++i) {
    const char c = (*target)[i];
    if (c == '$' && i + 1 < target->size() && (*target)[i + 1] >= '0' && (*target)[i + 1] <= '9') {
      const int g = (*target)[i + 1] - '0';
      if (g > groups) {
        r.error(to->mark, to->path,
                "$" + std::to_string(g) + " names a group the regex does not have (it has " +
                    std::to_string(groups) + ")");
        return nullptr;
      }
      if (!lit.empty()) pieces.push_back({std::move(lit), -1});
      lit.clear();
      pieces.push_back({"", g});
      ++i;
      continue;
    }
    if (c == '$' && i + 1 < target->size() && (*target)[i + 1] == '$') ++i;
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '#' || c == '?') {
      r.error(to->mark, to->path, "must be a path without spaces, '?', '#' or control characters");
      return nullptr;
    }
    lit.push_back(c);
  }
  if (!lit.empty()) pieces.push_back({std::move(lit), -1});
  return std::make_unique<PathRewrite>(std::move(re), "", std::move(pieces));
}

}  // namespace

const filter::Factory kPathRewriteFactory{"path_rewrite", filter::priority::kPathRewrite, &build};

}  // namespace sluice::filters
