// sluice command line: run the gateway, validate a config, print the version.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "auth/api_key.h"
#include "config/config.h"
#include "config/sources.h"
#include "proxy/config_watch.h"
#include "proxy/gateway.h"
#include "proxy/snapshot.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

namespace {

constexpr const char* kUsage =
    "usage: sluice <command> [options]\n"
    "\n"
    "commands:\n"
    "  run --config FILE       run the gateway (also: sluice -c FILE)\n"
    "  validate --config FILE  check a config; prints FILE:LINE:COL: key: message per error\n"
    "                          (--config again: files merged in order, later ones win)\n"
    "  hash-key [KEY]          print the hash of an API key for consumers[].api_keys; without\n"
    "                          KEY, make a new key and print it and its hash (KEY '-': read it\n"
    "                          from standard input, out of the shell history)\n"
    "  version                 print the version\n"
    "  help                    print this text\n"
    "\n"
    "signals: SIGHUP reloads the config; SIGTERM/SIGINT drain and exit; SIGUSR2 starts the\n"
    "         binary on disk with the same arguments, hands it the sockets and drains\n"
    "config: ${VAR} and ${VAR:-default} in values come from the environment\n";

// `sluice hash-key [KEY]`: the stored form of an API key ("sha256:<hex>").
int hash_key(const std::vector<std::string>& args) {
  if (args.size() > 2) {
    std::fprintf(stderr, "sluice: hash-key takes at most one KEY\n%s", kUsage);
    return 2;
  }
  if (args.size() == 2) {
    std::string key = args[1];
    if (key == "-") {
      if (!std::getline(std::cin, key)) key.clear();
      if (!key.empty() && key.back() == '\r') key.pop_back();
    }
    if (key.empty()) {
      std::fprintf(stderr, "sluice: hash-key: the key is empty\n");
      return 2;
    }
    std::printf("%s\n", sluice::auth::hash_api_key(key).c_str());
    return 0;
  }
  const std::string key = sluice::auth::generate_api_key();
  if (key.empty()) {
    std::fprintf(stderr, "sluice: hash-key: the random number generator failed\n");
    return 1;
  }
  std::printf("key: %s\nhash: %s\n", key.c_str(), sluice::auth::hash_api_key(key).c_str());
  return 0;
}

// "a.yaml" or "a.yaml, b.yaml": how the files are named in the summary line.
std::string files_named(const std::vector<std::string>& paths) {
  std::string out;
  for (const std::string& p : paths) out += (out.empty() ? "" : ", ") + p;
  return out;
}

int validate(const std::vector<std::string>& paths) {
  const std::string name = files_named(paths);
  sluice::config::LoadResult loaded = sluice::config::load_sources(paths).loaded;
  std::vector<sluice::config::ConfigError> errors = loaded.errors;
  size_t routes = 0;
  size_t upstreams = 0;
  if (loaded.ok()) {
    routes = loaded.config->routes.size();
    upstreams = loaded.config->upstreams.size();
    sluice::proxy::RuntimeRegistry registry;
    // Host-name targets are not resolved here: validation needs no DNS.
    sluice::proxy::SnapshotResult built =
        sluice::proxy::build_snapshot(std::move(*loaded.config), 1, 1, registry, {});
    errors = std::move(built.errors);
  }
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!errors.empty()) {
    std::fprintf(stderr, "%s: %zu error(s)\n", name.c_str(), errors.size());
    return 1;
  }
  std::printf("%s: ok (%zu routes, %zu upstreams)\n", name.c_str(), routes, upstreams);
  return 0;
}

int run(const std::vector<std::string>& paths, const std::vector<std::string>& argv) {
  // What an upgrading process handed over (SIGUSR2 there): sockets, counters, the ready pipe.
  sluice::proxy::Inherited inherited = sluice::proxy::take_inherited();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  // Blocked before any thread starts, so only the signalfd below sees them.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

  sluice::core::EventLoop control_loop;
  sluice::proxy::Gateway gateway(paths, control_loop);
  std::vector<std::string> errors;
  if (!gateway.start(&errors, &inherited)) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::fprintf(stderr, "sluice: not started\n");
    return 1;
  }
  std::shared_ptr<const sluice::proxy::Snapshot> snap = gateway.current();
  sluice::admin::AdminServer admin(gateway, control_loop);
  if (snap->config.admin.enabled && inherited.admin_fd >= 0) {
    admin.adopt(inherited.admin_fd);
  } else if (snap->config.admin.enabled) {
    sluice::net::SocketAddress addr;
    std::string err;
    if (!sluice::net::resolve_address(snap->config.admin.address.host,
                                      snap->config.admin.address.port, &addr, &err) ||
        !admin.listen(addr, &err)) {
      std::fprintf(stderr, "admin %s: %s\n", snap->config.admin.address.text.c_str(), err.c_str());
      gateway.drain();
      gateway.join();
      return 1;
    }
  }
  std::fprintf(stderr, "sluice %s: %zu worker(s), %zu listener(s), config version %llu (%s)\n",
               SLUICE_VERSION, gateway.worker_count(), snap->config.listeners.size(),
               static_cast<unsigned long long>(snap->version), files_named(paths).c_str());
  if (!snap->config.admin.enabled && inherited.admin_fd >= 0) ::close(inherited.admin_fd);
  snap.reset();
  sluice::proxy::ConfigWatch watch(gateway, control_loop);  // while reload.watch is true
  watch.start();
  sluice::proxy::Upgrader upgrader(gateway, control_loop, argv);
  inherited.ready();  // an upgrading process drains from now on

  class SignalHandler : public sluice::core::IoHandler {
   public:
    SignalHandler(int fd, sluice::proxy::Gateway& gw, sluice::proxy::Upgrader& up,
                  sluice::admin::AdminServer& admin)
        : fd_(fd), gw_(gw), up_(up), admin_(admin) {}
    void on_io(uint32_t /*events*/) override {
      signalfd_siginfo info{};
      while (read(fd_, &info, sizeof(info)) == sizeof(info)) {
        if (info.ssi_signo == SIGHUP) {
          gw_.reload("signal");
        } else if (info.ssi_signo == SIGUSR1) {
          gw_.reopen_logs();
        } else if (info.ssi_signo == SIGUSR2) {
          up_.begin(admin_.listen_fd());
        } else {
          std::fprintf(stderr, "sluice: signal %u, draining\n", info.ssi_signo);
          gw_.drain();
        }
      }
    }

   private:
    int fd_;
    sluice::proxy::Gateway& gw_;
    sluice::proxy::Upgrader& up_;
    sluice::admin::AdminServer& admin_;
  } handler(sfd, gateway, upgrader, admin);
  admin.loop().add(sfd, EPOLLIN, &handler);

  while (!gateway.finished()) {
    admin.loop().run_once(100);
    if (gateway.upgrade_drain()) admin.stop_listening();  // the new process answers there now
  }
  gateway.join();
  gateway.flush_observability();
  admin.loop().remove(sfd);
  close(sfd);
  std::fprintf(stderr, "sluice: stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "hash-key") return hash_key(args);
  std::string command;
  std::vector<std::string> configs;  // merged in order
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help" || a == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--version" || a == "-V") {
      command = "version";
    } else if (a == "-c" || a == "--config") {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "sluice: %s needs a file\n%s", a.c_str(), kUsage);
        return 2;
      }
      configs.push_back(args[++i]);
    } else if (a.rfind("--config=", 0) == 0) {
      configs.push_back(a.substr(9));
    } else if (command.empty() && (a == "run" || a == "validate" || a == "version")) {
      command = a;
    } else {
      std::fprintf(stderr, "sluice: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (command == "version") {
    std::printf("sluice %s\n", SLUICE_VERSION);
    return 0;
  }
  if (command.empty() && !configs.empty()) command = "run";
  if (command.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (configs.empty()) {
    std::fprintf(stderr, "sluice %s: --config FILE is required\n", command.c_str());
    return 2;
  }
  return command == "validate" ? validate(configs)
                               : run(configs, std::vector<std::string>(argv, argv + argc));
}
