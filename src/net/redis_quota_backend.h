// limits::QuotaBackend on a RedisClient: runs the cluster-quota lease scripts by EVALSHA (EVAL on
// NOSCRIPT) and hands {granted, remaining, reset_ms} back; one per worker, next to its client.
// Example:
//   RedisClient redis(loop, opts);  redis.start();
//   RedisQuotaBackend backend(redis, loop);
//   limits::ClusterQuota quota(backend, quota_options);
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/event_loop.h"
#include "limits/cluster_quota.h"
#include "net/redis_client.h"

namespace sluice::net {

class RedisQuotaBackend : public limits::QuotaBackend {
 public:
  RedisQuotaBackend(RedisClient& client, core::EventLoop& loop);

  // false when the client is not connected. A reply that is not an array of three integers
  // counts as a failure (ok=false), like a timeout or a lost connection.
  bool eval(int script, std::string_view key, std::span<const int64_t> args, Done done,
            Ticket* ticket) override;
  void cancel(Ticket ticket) override { client_.cancel(ticket); }

 private:
  RedisClient& client_;
  core::EventLoop& loop_;
  std::array<RedisScript, 4> scripts_;
};

}  // namespace sluice::net
