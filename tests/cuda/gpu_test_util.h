// Skipping GPU tests cleanly: on CI (no device) or in a CPU-only build each test case returns
// early with a WARN that says why, so `ctest` stays green and the log shows what was not run.
#pragma once

#include <catch2/catch.hpp>

#include "trueno/cuda.h"

#define APR_REQUIRE_GPU()                                                              \
  do {                                                                                 \
    if (!::trueno::cuda::Compiled()) {                                                 \
      WARN("SKIPPED: this build has no CUDA backend");                                 \
      return;                                                                          \
    }                                                                                  \
    if (::trueno::cuda::DeviceCount() == 0) {                                          \
      WARN("SKIPPED: no CUDA device on this machine (GPU tests run on the GPU host)"); \
      return;                                                                          \
    }                                                                                  \
  } while (0)
