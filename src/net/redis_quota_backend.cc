#include "net/redis_quota_backend.h"

#include <charconv>
#include <utility>

namespace sluice::net {

RedisQuotaBackend::RedisQuotaBackend(RedisClient& client, core::EventLoop& loop)
    : client_(client),
      loop_(loop),
      scripts_{RedisScript(std::string(limits::kLeaseScripts[0])),
               RedisScript(std::string(limits::kLeaseScripts[1])),
               RedisScript(std::string(limits::kLeaseScripts[2])),
               RedisScript(std::string(limits::kLeaseScripts[3]))} {}

bool RedisQuotaBackend::eval(int script, std::string_view key, std::span<const int64_t> args,
                             Done done, Ticket* ticket) {
  if (script < 0 || script >= static_cast<int>(scripts_.size()) || args.size() > 8) return false;
  // Decimal arguments formatted on the stack: this runs once per lease, not per request.
  char buf[8][24];
  std::string_view argv[8];
  for (size_t i = 0; i < args.size(); ++i) {
    const auto r = std::to_chars(buf[i], buf[i] + sizeof(buf[i]), args[i]);
    argv[i] = std::string_view(buf[i], static_cast<size_t>(r.ptr - buf[i]));
  }
  const std::string_view keys[1] = {key};
  core::EventLoop* loop = &loop_;
  return client_.eval(
      [loop, done = std::move(done)](const RedisReply& r) {
        limits::LeaseReply out;
        out.now_ms = loop->now_ms();
        const auto integers = [&r] {
          for (const RedisReply& e : r.elements) {
            if (e.kind != RedisReply::kInteger) return false;
          }
          return true;
        };
        if (r.kind == RedisReply::kArray && (r.elements.size() == 3 || r.elements.size() == 6) &&
            integers()) {
          out.ok = true;
          out.granted = r.elements[0].integer;
          out.remaining = r.elements[1].integer;
          out.reset_ms = r.elements[2].integer;
          if (r.elements.size() == 6) {  // the sliding window's lease
            out.lease_ms = r.elements[3].integer;
            out.slot = r.elements[4].integer;
            out.retry_ms = r.elements[5].integer;
          }
        }
        done(out);
      },
      scripts_[static_cast<size_t>(script)], keys, std::span(argv, args.size()), ticket);
}

}  // namespace sluice::net
