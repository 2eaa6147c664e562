// libFuzzer target for the YAML config loader: any input must give a LoadResult (config or
// errors), never a crash, a hang or an escaping exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  sluice::config::LoadResult r;
  try {
    r = sluice::config::load_config_string(yaml, "fuzz.yaml");
  } catch (...) {
    std::abort();  // load_config_* promise not to throw
  }
  // Exactly one of: a config, or at least one error, each printable.
  if (r.ok() == !r.errors.empty()) std::abort();
  if (r.config.has_value() != r.ok()) std::abort();
  for (const sluice::config::ConfigError& e : r.errors) {
    if (e.message.empty() || e.to_string().empty()) std::abort();
    if (e.mark.line < 0 || e.mark.col < 0) std::abort();
  }
  if (r.ok() && (r.config->listeners.empty() || r.config->hash.size() != 64)) std::abort();
  return 0;
}
