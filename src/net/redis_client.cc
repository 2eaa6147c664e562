// hiredis' async context does the protocol; this file is the adapter to our edge-triggered loop
// and the policy around it (handshake, deadlines, back-off).
//
// Edge-triggered readiness with hiredis 0.14: redisAsyncHandleRead() does ONE read(2) of at most
// 16 KiB, so after it we peek at the socket and call it again while bytes (or EOF) are waiting;
// otherwise a reply larger than the read size, or one arriving with the previous, would sit in the
// kernel with no new edge to announce it. Writes need no loop: hiredis writes the whole output
// buffer, and a short write means the send buffer is full, so an EPOLLOUT edge will follow. The fd
// stays registered for EPOLLIN|EPOLLOUT for its whole life; hiredis' add/del hooks only flip
// flags. A command issued while connected is flushed at the end of the turn (post()), so commands
// issued in one turn leave in one write.
//
// The connection object outlives hiredis' context by one loop turn (destroy_later), because
// hiredis may free the context from inside our on_io() (EOF, error) and the frames above must
// still be able to see that it is gone.
#include "net/redis_client.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace sluice::net {

namespace {

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.kind = RedisReply::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.kind = RedisReply::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.kind = RedisReply::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.kind = RedisReply::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = RedisReply::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.kind = RedisReply::kNil;
      break;
  }
  return out;
}

bool is_noscript(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_ERROR && r->len >= 8 &&
         std::string_view(r->str, 8) == "NOSCRIPT";
}

}  // namespace

RedisScript::RedisScript(std::string body) : body_(std::move(body)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(body_.data()), body_.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  sha1_.reserve(2 * SHA_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    sha1_.push_back(kHex[b >> 4]);
    sha1_.push_back(kHex[b & 15]);
  }
}

// What an EVALSHA needs to be sent again as EVAL.
struct RedisClient::EvalRetry {
  const RedisScript* script;
  std::vector<std::string> args;  // numkeys, keys..., args...
};

class RedisClient::Connection : public core::IoHandler, public core::Deferred {
 public:
  Connection(RedisClient* owner, core::EventLoop& loop, redisAsyncContext* ac)
      : owner_(owner), loop_(loop), ac_(ac), fd_(ac->c.fd) {}

  bool attach() {
    ac_->ev.data = this;
    ac_->ev.addRead = [](void*) {};  // always registered for reading
    ac_->ev.delRead = [](void*) {};
    ac_->ev.addWrite = [](void* p) { static_cast<Connection*>(p)->add_write(); };
    ac_->ev.delWrite = [](void* p) { static_cast<Connection*>(p)->want_write_ = false; };
    ac_->ev.cleanup = [](void* p) { static_cast<Connection*>(p)->cleanup(); };
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return loop_.add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
  }

  void on_io(uint32_t events) override {
    if (events == 0) posted_ = false;
    redisAsyncContext* ac = ac_;
    if (ac == nullptr) return;
    if ((ac->c.flags & REDIS_CONNECTED) == 0) {
      if (events == 0) return;
      // Completes the non-blocking connect (or reports its failure), then writes the handshake.
      write(ac);
      if (ac_ != ac || (ac->c.flags & REDIS_CONNECTED) == 0) return;
    } else if (want_write_ && (events == 0 || (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0)) {
      write(ac);
      if (ac_ != ac) return;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) == 0) return;
    for (;;) {
      redisAsyncHandleRead(ac);
      if (ac_ != ac) return;  // hiredis freed the context (EOF, error, or a callback's stop())
      char byte;
      const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // n > 0: more bytes; n == 0: EOF; another error: the next read reports it.
    }
  }

  RedisClient* owner_;  // null once the client has let go of this connection
  core::EventLoop& loop_;
  redisAsyncContext* ac_;  // null once hiredis has freed it
  int fd_;
  bool want_write_ = false;
  bool in_write_ = false;
  bool posted_ = false;

 private:
  void write(redisAsyncContext* ac) {
    in_write_ = true;
    redisAsyncHandleWrite(ac);
    in_write_ = false;
  }

  void add_write() {
    want_write_ = true;
    // Inside a write, hiredis asks again only after a short write: EPOLLOUT will come. Before
    // the connect completes, the EPOLLOUT of the connect flushes the buffer.
    if (in_write_ || posted_ || ac_ == nullptr || (ac_->c.flags & REDIS_CONNECTED) == 0) return;
    posted_ = true;
    loop_.post(this);
  }

  void cleanup() {
    ac_ = nullptr;
    loop_.remove(fd_);
    if (posted_) loop_.unpost(this);
    posted_ = false;
    if (owner_ != nullptr) owner_->on_connection_lost();
  }
};

void RedisClient::hiredis_reply(redisAsyncContext* /*ac*/, void* reply, void* privdata) {
  auto* conn = static_cast<Connection*>(privdata);
  if (conn->owner_ != nullptr) conn->owner_->on_reply(reply);
}

void RedisClient::hiredis_handshake(redisAsyncContext* /*ac*/, void* reply, void* privdata) {
  auto* conn = static_cast<Connection*>(privdata);
  if (conn->owner_ == nullptr) return;
  const auto* r = static_cast<const redisReply*>(reply);
  if (r == nullptr) {
    conn->owner_->on_connection_lost();  // hiredis is freeing the context: do not free it again
    return;
  }
  conn->owner_->on_handshake_reply(r->type != REDIS_REPLY_ERROR);
}

RedisClient::RedisClient(core::EventLoop& loop, RedisOptions options)
    : loop_(loop),
      options_(std::move(options)),
      rng_(reinterpret_cast<uintptr_t>(this) ^ (loop.clock().now_us() * 0x9e3779b97f4a7c15ull)) {
  if (rng_ == 0) rng_ = 1;
}

RedisClient::~RedisClient() {
  running_ = false;
  pending_.clear();  // dropped, not called
  detach(true);
}

void RedisClient::start() {
  if (running_) return;
  running_ = true;
  attempt_ = 0;
  connect();
}

void RedisClient::stop() {
  running_ = false;
  loop_.timers().cancel(reconnect_timer_);
  detach(true);
  fail_pending(RedisReply::kDisconnected);
}

void RedisClient::connect() {
  if (!running_ || conn_ != nullptr) return;
  redisAsyncContext* ac = redisAsyncConnect(options_.host.c_str(), options_.port);
  if (ac == nullptr) {
    schedule_reconnect();
    return;
  }
  if (ac->err != 0) {
    redisAsyncFree(ac);
    schedule_reconnect();
    return;
  }
  conn_ = std::make_unique<Connection>(this, loop_, ac);
  if (!conn_->attach()) {
    detach(true);
    schedule_reconnect();
    return;
  }
  // The handshake is queued now and leaves with the connect; PING proves that the server
  // answers (a stopped server's kernel still completes the TCP handshake).
  handshake_left_ = 0;
  Connection* c = conn_.get();
  if (!options_.password.empty()) {
    const char* argv[] = {"AUTH", options_.password.data()};
    const size_t len[] = {4, options_.password.size()};
    if (redisAsyncCommandArgv(ac, hiredis_handshake, c, 2, argv, len) == REDIS_OK) {
      ++handshake_left_;
    }
  }
  if (options_.db != 0) {
    const std::string db = std::to_string(options_.db);
    const char* argv[] = {"SELECT", db.c_str()};
    if (redisAsyncCommandArgv(ac, hiredis_handshake, c, 2, argv, nullptr) == REDIS_OK) {
      ++handshake_left_;
    }
  }
  const char* ping[] = {"PING"};
  if (redisAsyncCommandArgv(ac, hiredis_handshake, c, 1, ping, nullptr) == REDIS_OK) {
    ++handshake_left_;
  }
  loop_.timers().schedule(connect_timer_, loop_.now_ms() + options_.connect_timeout_ms);
}

void RedisClient::on_handshake_reply(bool ok) {
  if (!ok) {
    drop_connection(RedisReply::kDisconnected);
    return;
  }
  if (--handshake_left_ > 0) return;
  loop_.timers().cancel(connect_timer_);
  connected_ = true;
  attempt_ = 0;
  if (ever_connected_) ++stats_.reconnects;
  ever_connected_ = true;
}

void RedisClient::on_connect_timeout() {
  drop_connection(RedisReply::kDisconnected);
}

void RedisClient::on_command_timeout() {
  if (pending_.empty()) return;
  if (pending_.front().deadline_ms > loop_.now_ms()) {
    arm_command_timer();
    return;
  }
  drop_connection(RedisReply::kTimeout);
}

void RedisClient::on_connection_lost() {
  detach(false);  // hiredis is freeing the context already
  if (running_) schedule_reconnect();
  fail_pending(RedisReply::kDisconnected);
}

void RedisClient::drop_connection(RedisReply::Kind why) {
  detach(true);
  if (running_) schedule_reconnect();
  fail_pending(why);
}

void RedisClient::detach(bool free_context) {
  connected_ = false;
  handshake_left_ = 0;
  loop_.timers().cancel(connect_timer_);
  loop_.timers().cancel(command_timer_);
  if (conn_ == nullptr) return;
  Connection* c = conn_.get();
  c->owner_ = nullptr;  // hiredis' NULL-reply callbacks and cleanup now find nobody
  redisAsyncContext* ac = c->ac_;
  loop_.destroy_later(std::move(conn_));
  if (free_context && ac != nullptr) redisAsyncFree(ac);
}

void RedisClient::fail_pending(RedisReply::Kind why) {
  // Taken out first: the callbacks may issue commands (refused: not connected) or call stop().
  std::deque<Pending> failed;
  failed.swap(pending_);
  const uint64_t now = loop_.now_ms();
  for (Pending& p : failed) {
    RedisReply r;
    r.kind = why == RedisReply::kTimeout && p.deadline_ms <= now ? RedisReply::kTimeout
                                                                 : RedisReply::kDisconnected;
    if (r.kind == RedisReply::kTimeout) {
      ++stats_.timeouts;
      r.str = "command timed out";
    } else {
      ++stats_.errors;
      r.str = "connection lost";
    }
    if (p.cb) p.cb(r);
  }
}

void RedisClient::schedule_reconnect() {
  const uint64_t lo = std::max<uint64_t>(1, options_.reconnect_min_ms);
  const uint64_t hi = std::max(lo, options_.reconnect_max_ms);
  const uint32_t shift = std::min<uint32_t>(attempt_, 30);
  const uint64_t ceiling = std::min(hi, lo << shift);
  ++attempt_;
  // Jitter in [ceiling/2, ceiling] so that the workers of all instances do not reconnect in step
  // after a Redis restart, while the delay still grows.
  const uint64_t half = ceiling / 2;
  const uint64_t delay = std::max(lo, half + next_random() % (ceiling - half + 1));
  loop_.timers().schedule(reconnect_timer_, loop_.now_ms() + delay);
}

uint64_t RedisClient::next_random() {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return rng_;
}

void RedisClient::arm_command_timer() {
  if (pending_.empty()) {
    loop_.timers().cancel(command_timer_);
  } else if (!command_timer_.armed() ||
             command_timer_.expires_ms() != pending_.front().deadline_ms) {
    loop_.timers().schedule(command_timer_, pending_.front().deadline_ms);
  }
}

bool RedisClient::send(Callback& cb, std::unique_ptr<EvalRetry>& retry, int argc, const char** argv,
                       const size_t* argvlen, RequestId id) {
  if (!connected_ || conn_ == nullptr || conn_->ac_ == nullptr) return false;
  if (redisAsyncCommandArgv(conn_->ac_, hiredis_reply, conn_.get(), argc, argv, argvlen) !=
      REDIS_OK) {
    return false;
  }
  pending_.push_back(
      Pending{id, loop_.now_ms() + options_.command_timeout_ms, std::move(cb), std::move(retry)});
  if (pending_.size() == 1) arm_command_timer();
  return true;
}

bool RedisClient::command(Callback cb, int argc, const char** argv, const size_t* argvlen,
                          RequestId* id) {
  std::unique_ptr<EvalRetry> none;
  const RequestId rid = next_id_;
  if (!send(cb, none, argc, argv, argvlen, rid)) return false;
  ++next_id_;
  ++stats_.commands;
  if (id != nullptr) *id = rid;
  return true;
}

bool RedisClient::eval(Callback cb, const RedisScript& script,
                       std::span<const std::string_view> keys,
                       std::span<const std::string_view> args, RequestId* id) {
  if (!connected_) return false;
  auto retry = std::make_unique<EvalRetry>();
  retry->script = &script;
  retry->args.reserve(1 + keys.size() + args.size());
  retry->args.push_back(std::to_string(keys.size()));
  for (std::string_view k : keys) retry->args.emplace_back(k);
  for (std::string_view a : args) retry->args.emplace_back(a);
  const size_t argc = 2 + retry->args.size();
  std::vector<const char*> argv(argc);
  std::vector<size_t> len(argc);
  argv[0] = "EVALSHA";
  len[0] = 7;
  argv[1] = script.sha1().data();
  len[1] = script.sha1().size();
  for (size_t i = 0; i < retry->args.size(); ++i) {
    argv[2 + i] = retry->args[i].data();
    len[2 + i] = retry->args[i].size();
  }
  const RequestId rid = next_id_;
  if (!send(cb, retry, static_cast<int>(argc), argv.data(), len.data(), rid)) return false;
  ++next_id_;
  ++stats_.commands;
  if (id != nullptr) *id = rid;
  return true;
}

void RedisClient::cancel(RequestId id) {
  for (Pending& p : pending_) {
    if (p.id == id) {
      p.cb = nullptr;
      p.retry.reset();
    }
  }
}

void RedisClient::on_reply(void* reply) {
  if (reply == nullptr) {
    // hiredis is failing its callbacks because the connection broke: fail ours in one go.
    on_connection_lost();
    return;
  }
  if (pending_.empty()) return;  // cannot happen: one hiredis callback per Pending
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  const auto* r = static_cast<const redisReply*>(reply);
  if (p.retry != nullptr && p.cb && is_noscript(r)) {
    // The same call as EVAL, with the body; it keeps its id and gets a fresh deadline.
    const EvalRetry& e = *p.retry;
    const size_t argc = 2 + e.args.size();
    std::vector<const char*> argv(argc);
    std::vector<size_t> len(argc);
    argv[0] = "EVAL";
    len[0] = 4;
    argv[1] = e.script->body().data();
    len[1] = e.script->body().size();
    for (size_t i = 0; i < e.args.size(); ++i) {
      argv[2 + i] = e.args[i].data();
      len[2 + i] = e.args[i].size();
    }
    std::unique_ptr<EvalRetry> no_retry;  // a second NOSCRIPT is an answer
    if (send(p.cb, no_retry, static_cast<int>(argc), argv.data(), len.data(), p.id)) {
      arm_command_timer();
      return;
    }
    arm_command_timer();
    RedisReply failed;
    failed.kind = RedisReply::kDisconnected;
    failed.str = "connection lost";
    ++stats_.errors;
    p.cb(failed);
    return;
  }
  arm_command_timer();
  if (!p.cb) return;
  const RedisReply out = convert(r);
  if (out.kind == RedisReply::kError) ++stats_.errors;
  p.cb(out);
}

}  // namespace sluice::net
