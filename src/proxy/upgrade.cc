#include "proxy/upgrade.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "proxy/gateway.h"

extern char** environ;

namespace sluice::proxy {
namespace {

constexpr const char* kListeners = "SLUICE_INHERIT_LISTENERS";
constexpr const char* kAdmin = "SLUICE_INHERIT_ADMIN";
constexpr const char* kReady = "SLUICE_INHERIT_READY";
constexpr const char* kState = "SLUICE_INHERIT_STATE";

void set_cloexec(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) return;
  ::fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}

// A descriptor number from the environment that is open; -1 otherwise.
int fd_of(std::string_view text) {
  if (text.empty() || text.size() > 9) return -1;
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  if (::fcntl(v, F_GETFD) < 0) return -1;
  set_cloexec(v, true);
  return v;
}

int take_fd(const char* name) {
  const char* v = std::getenv(name);
  const int fd = v != nullptr ? fd_of(v) : -1;
  ::unsetenv(name);
  return fd;
}

}  // namespace

std::vector<int> Inherited::take(const std::string& address) {
  auto it = listeners.find(address);
  if (it == listeners.end()) return {};
  std::vector<int> fds = std::move(it->second);
  listeners.erase(it);
  return fds;
}

void Inherited::close_rest() {
  for (auto& [address, fds] : listeners) {
    for (int fd : fds) ::close(fd);
  }
  listeners.clear();
}

void Inherited::ready() {
  if (ready_fd < 0) return;
  const char msg[] = "ready\n";
  (void)::write(ready_fd, msg, sizeof msg - 1);
  ::close(ready_fd);
  ready_fd = -1;
}

Inherited take_inherited() {
  Inherited in;
  if (const char* v = std::getenv(kListeners)) {
    // "ADDRESS=fd,fd;ADDRESS=fd" (an address may hold ':' and '[', never ';' or '=')
    std::string_view rest = v;
    while (!rest.empty()) {
      const size_t semi = rest.find(';');
      const std::string_view entry = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const size_t eq = entry.rfind('=');
      if (eq == std::string_view::npos) continue;
      std::vector<int>& fds = in.listeners[std::string(entry.substr(0, eq))];
      std::string_view list = entry.substr(eq + 1);
      while (!list.empty()) {
        const size_t comma = list.find(',');
        const int fd = fd_of(list.substr(0, comma));
        if (fd >= 0) fds.push_back(fd);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      }
    }
  }
  ::unsetenv(kListeners);
  in.admin_fd = take_fd(kAdmin);
  in.ready_fd = take_fd(kReady);
  in.state_fd = take_fd(kState);
  return in;
}

Upgrader::Upgrader(Gateway& gateway, core::EventLoop& loop, std::vector<std::string> argv)
    : gateway_(gateway), loop_(loop), argv_(std::move(argv)) {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) exe_.assign(buf, static_cast<size_t>(n));
}

Upgrader::~Upgrader() {
  if (ready_read_ >= 0) {
    loop_.remove(ready_read_);
    ::close(ready_read_);
  }
}

bool Upgrader::begin(int admin_fd) {
  if (pid_ > 0) {
    std::fprintf(stderr, "upgrade: pid %d is starting already\n", static_cast<int>(pid_));
    return false;
  }
  if (gateway_.draining()) {
    std::fprintf(stderr, "upgrade: refused while draining\n");
    return false;
  }
  if (exe_.empty() || ::access(exe_.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "upgrade: cannot run %s: %s\n", exe_.c_str(), std::strerror(errno));
    return false;
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "upgrade: pipe: %s\n", std::strerror(errno));
    return false;
  }
  std::vector<int> handed{p[1]};
  std::string listeners;
  for (const auto& [address, fds] : gateway_.listen_fds()) {
    if (!listeners.empty()) listeners += ';';
    listeners += address + "=";
    for (size_t i = 0; i < fds.size(); ++i) {
      listeners += (i > 0 ? "," : "") + std::to_string(fds[i]);
      handed.push_back(fds[i]);
    }
  }
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view v = *e;
    if (!v.starts_with("SLUICE_INHERIT_")) env_text.emplace_back(v);
  }
  env_text.push_back(std::string(kListeners) + "=" + listeners);
  env_text.push_back(std::string(kReady) + "=" + std::to_string(p[1]));
  if (admin_fd >= 0) {
    env_text.push_back(std::string(kAdmin) + "=" + std::to_string(admin_fd));
    handed.push_back(admin_fd);
  }
  const int state_fd = gateway_.save_state();
  if (state_fd >= 0) {
    env_text.push_back(std::string(kState) + "=" + std::to_string(state_fd));
    handed.push_back(state_fd);
  }
  std::vector<char*> envp;
  envp.reserve(env_text.size() + 1);
  for (std::string& s : env_text) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  argv.reserve(argv_.size() + 1);
  for (std::string& s : argv_) argv.push_back(s.data());
  argv.push_back(nullptr);

  for (int fd : handed) set_cloexec(fd, false);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe_.c_str(), nullptr, nullptr, argv.data(), envp.data());
  for (int fd : handed) set_cloexec(fd, true);
  ::close(p[1]);
  if (state_fd >= 0) ::close(state_fd);
  if (rc != 0) {
    ::close(p[0]);
    std::fprintf(stderr, "upgrade: cannot start %s: %s\n", exe_.c_str(), std::strerror(rc));
    return false;
  }
  pid_ = pid;
  ready_read_ = p[0];
  ::fcntl(ready_read_, F_SETFL, ::fcntl(ready_read_, F_GETFL) | O_NONBLOCK);
  loop_.add(ready_read_, EPOLLIN | EPOLLRDHUP, this);
  got_.clear();
  std::fprintf(stderr, "upgrade: started %s as pid %d; serving until it is ready\n", exe_.c_str(),
               static_cast<int>(pid));
  return true;
}

void Upgrader::on_io(uint32_t /*events*/) {
  if (ready_read_ < 0) return;
  char buf[64];
  for (;;) {
    const ssize_t n = ::read(ready_read_, buf, sizeof buf);
    if (n > 0) {
      got_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break;  // the new process closed its end
  }
  loop_.remove(ready_read_);
  ::close(ready_read_);
  ready_read_ = -1;
  if (got_.starts_with("ready")) {
    std::fprintf(stderr, "upgrade: pid %d is ready; this process stops accepting and drains\n",
                 static_cast<int>(pid_));
    pid_ = 0;  // done: no second upgrade from this process
    gateway_.drain(true);
    return;
  }
  int status = 0;
  std::string why = "it closed the ready pipe without being ready";
  if (::waitpid(pid_, &status, 0) == pid_) {
    why = WIFEXITED(status) ? "it exited with " + std::to_string(WEXITSTATUS(status))
                            : "it was killed by signal " + std::to_string(WTERMSIG(status));
  }
  failed(why);
}

void Upgrader::failed(const std::string& why) {
  std::fprintf(stderr, "upgrade: pid %d failed (%s); this process goes on serving\n",
               static_cast<int>(pid_), why.c_str());
  pid_ = -1;
}

}  // namespace sluice::proxy
