// CHECK(cond) for the fuzz targets: on failure prints the condition and its line to stderr, then
// aborts, so that a crash report names the invariant that broke.
#pragma once

#include <cstdio>
#include <cstdlib>

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
