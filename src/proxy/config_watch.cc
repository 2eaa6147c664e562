// See config_watch.h.
#include "proxy/config_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "config/reader.h"
#include "proxy/gateway.h"

namespace sluice::proxy {
namespace {

// A folder: a file of ours written, created, renamed in or out, removed; the folder itself
// removed or renamed.
constexpr uint32_t kFolderEvents = IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_CREATE | IN_DELETE |
                                   IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
                                   IN_ONLYDIR;
// A file (through a symlink, its target): written, its links or mode changed, removed, renamed.
constexpr uint32_t kFileEvents =
    IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

std::string folder_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

std::string name_of(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

}  // namespace

ConfigWatch::ConfigWatch(Gateway& gateway, core::EventLoop& loop)
    : gateway_(gateway), loop_(loop) {}

ConfigWatch::~ConfigWatch() {
  stop();
}

void ConfigWatch::start() {
  sync();
}

void ConfigWatch::stop() {
  if (fd_ < 0) return;
  loop_.remove(fd_);
  ::close(fd_);
  fd_ = -1;
  dirs_.clear();
  names_.clear();
  file_watches_.clear();
  loop_.timers().cancel(debounce_);
}

void ConfigWatch::sync() {
  loop_.timers().schedule(sync_, loop_.now_ms() + kSyncIntervalMs);
  const config::ReloadConfig rc = gateway_.current()->config.reload;
  if (!rc.watch || gateway_.draining()) {
    if (fd_ >= 0) {
      std::fprintf(stderr, "config watch: off\n");
      stop();
    }
    return;
  }
  debounce_ms_ = rc.debounce_ms;
  files_ = gateway_.source_files();
  const bool starting = fd_ < 0;
  if (starting) {
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) {
      std::fprintf(stderr, "config watch: inotify: %s (files are not watched)\n",
                   std::strerror(errno));
      return;
    }
    loop_.add(fd_, EPOLLIN, this);
  }
  std::set<std::string> want_dirs;
  std::set<std::string> want_files;
  for (const config::SourceFile& f : files_) {
    want_dirs.insert(folder_of(f.path));
    want_files.insert(f.path);
  }
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (want_dirs.contains(it->first)) {
      ++it;
      continue;
    }
    inotify_rm_watch(fd_, it->second);
    it = dirs_.erase(it);
  }
  for (const std::string& dir : want_dirs) {
    if (dirs_.contains(dir)) continue;
    const int wd = inotify_add_watch(fd_, dir.c_str(), kFolderEvents);
    if (wd < 0) {
      if (warned_.insert(dir).second) {
        std::fprintf(stderr, "config watch: %s: %s (retried every second)\n", dir.c_str(),
                     std::strerror(errno));
      }
      continue;
    }
    warned_.erase(dir);
    dirs_[dir] = wd;
  }
  names_.clear();
  for (const config::SourceFile& f : files_) {
    auto d = dirs_.find(folder_of(f.path));
    if (d != dirs_.end()) names_[d->second].insert(name_of(f.path));
  }
  // The files themselves, each second again: a file replaced (or a symlink pointed elsewhere)
  // is a new inode, watched from now on; a missing one is seen appearing in its folder.
  std::set<int> watches;
  for (const std::string& path : want_files) {
    const int wd = inotify_add_watch(fd_, path.c_str(), kFileEvents);
    if (wd >= 0) watches.insert(wd);
  }
  for (int wd : file_watches_) {
    if (!watches.contains(wd) && !names_.contains(wd)) inotify_rm_watch(fd_, wd);
  }
  file_watches_ = std::move(watches);
  if (starting) {
    std::fprintf(stderr, "config watch: watching %zu file(s) in %zu folder(s) (debounce %s)\n",
                 want_files.size(), want_dirs.size(), config::format_ms(debounce_ms_).c_str());
  }
}

void ConfigWatch::on_io(uint32_t /*events*/) {
  alignas(inotify_event) char buf[16 * 1024];
  while (fd_ >= 0) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t at = 0; at < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if ((ev->mask & IN_Q_OVERFLOW) != 0) {  // events were lost: look at every file
        changed();
        continue;
      }
      if (auto d = names_.find(ev->wd); d != names_.end()) {
        if ((ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0) {
          // The folder went away: watched again by the next sync if it comes back.
          std::erase_if(dirs_, [&](const auto& dir) { return dir.second == ev->wd; });
          names_.erase(d);
          changed();
        } else if (ev->len > 0 && d->second.contains(ev->name)) {
          changed();
        }
        continue;
      }
      if (file_watches_.contains(ev->wd)) {
        if ((ev->mask & IN_IGNORED) != 0) file_watches_.erase(ev->wd);
        changed();
      }
    }
  }
}

void ConfigWatch::changed() {
  loop_.timers().schedule(debounce_, loop_.now_ms() + debounce_ms_);  // from the last event
}

void ConfigWatch::settled() {
  if (gateway_.draining()) return;
  std::optional<std::string> differs;
  for (const config::SourceFile& f : files_) {
    std::string bytes;
    const bool unreadable = config::read_config_file(f.path, &bytes).has_value();
    if ((unreadable ? std::string() : config::sha256_hex(bytes)) != f.sha256) {
      differs = f.path;
      break;
    }
  }
  if (differs) {  // else a touch, or a save of the same bytes: nothing to do
    std::fprintf(stderr, "config watch: %s changed, reloading\n", differs->c_str());
    gateway_.reload("watch");
  }
  sync();
}

}  // namespace sluice::proxy
