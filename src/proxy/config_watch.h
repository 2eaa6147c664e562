// Reloads the config when one of its files changes (`reload: {watch: true, debounce: 200ms}`),
// on the control thread: inotify on the folder of every file the last load read (the --config
// files and what they include), so a file replaced by rename (an editor's save, a deploy tool)
// is seen as well as one written in place, and on each file itself (which follows a symlink to
// its target: a ConfigMap's swapped link). Once no event came for `debounce`, the files are read
// and, when any file's bytes differ from what the last load read, Gateway::reload("watch") runs
// as SIGHUP does: a valid config is applied, an invalid one changes nothing and is reported
// (log, sluice_config_reloads_total{result="error"}, GET /config's last_reload). A touch or a
// save of the same bytes reloads nothing.
//
// The watch follows the config in force: checked after each reload it made and every second,
// it starts when `reload.watch` becomes true, stops when it becomes false, and watches the
// files the last load read (an include added or removed changes the set).
// Example (control thread, after Gateway::start):
//   ConfigWatch watch(gateway, control_loop);
//   watch.start();
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/sources.h"
#include "core/event_loop.h"
#include "core/timer_wheel.h"

namespace sluice::proxy {

class Gateway;

class ConfigWatch : public core::IoHandler {
 public:
  static constexpr uint64_t kSyncIntervalMs = 1000;

  ConfigWatch(Gateway& gateway, core::EventLoop& loop);
  ~ConfigWatch() override;
  ConfigWatch(const ConfigWatch&) = delete;
  ConfigWatch& operator=(const ConfigWatch&) = delete;

  void start();
  void on_io(uint32_t events) override;
  bool watching() const { return fd_ >= 0; }

 private:
  class Debounce : public core::Timer {
   public:
    explicit Debounce(ConfigWatch& w) : w_(w) {}
    void on_timer() override { w_.settled(); }

   private:
    ConfigWatch& w_;
  };
  class Sync : public core::Timer {
   public:
    explicit Sync(ConfigWatch& w) : w_(w) {}
    void on_timer() override { w_.sync(); }

   private:
    ConfigWatch& w_;
  };

  // The watches follow the config in force and the files the last load read.
  void sync();
  void stop();
  // Debounce passed: reload when a file's bytes changed.
  void settled();
  // An event about one of the files: the debounce starts again.
  void changed();

  Gateway& gateway_;
  core::EventLoop& loop_;
  Debounce debounce_{*this};
  Sync sync_{*this};
  int fd_ = -1;  // inotify; -1 while not watching
  uint64_t debounce_ms_ = 200;
  std::vector<config::SourceFile> files_;       // as last loaded
  std::map<std::string, int> dirs_;             // folder -> watch
  std::map<int, std::set<std::string>> names_;  // a folder's watch -> the file names in it
  std::set<int> file_watches_;                  // the files' (their inodes')
  std::set<std::string> warned_;                // folders that could not be watched (logged once)
};

}  // namespace sluice::proxy
