// Helpers shared by the loader tests (loader_test.cc, loader_errors_test.cc): a YAML text loaded
// as test.yaml, the messages of its errors, the one error a text must have.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace sluice::config::loader_test_util {

// The YAML in these tests starts on the line after R"( so that line 1 of the text is line 1 of
// the source as written.
inline LoadResult load(std::string yaml) {
  if (!yaml.empty() && yaml.front() == '\n') yaml.erase(0, 1);
  return load_config_string(yaml, "test.yaml");
}

inline std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.to_string());
  return out;
}

// One error expected; returns it (or a blank one, after failing the test).
inline ConfigError only_error(const std::string& yaml) {
  LoadResult r = load(yaml);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.errors.size(), 1u) << testing::PrintToString(messages(r));
  return r.errors.empty() ? ConfigError{} : r.errors[0];
}

}  // namespace sluice::config::loader_test_util
