// Memory read bandwidth of this machine: the ceiling a memory-bound decode step is measured
// against (its "roofline").
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace trueno {

// Sum (mod 2^64) of data[0..n), streamed with the widest vector loads the CPU supports — the
// read kernel of MeasureReadBandwidth, exposed so that tests can check it reads every word.
uint64_t ReadSum(const uint64_t* data, size_t n);

// Best of `passes` timed reads of a `bytes`-byte buffer split evenly over `threads` threads, in
// bytes per second. Each thread first writes its own share (so pages sit where they are read)
// and the passes start together behind a barrier. The buffer should be far larger than the
// last-level cache. Errors: InvalidArgument (bytes < 1 MiB, threads or passes < 1),
// ResourceExhausted (the buffer cannot be allocated).
absl::StatusOr<double> MeasureReadBandwidth(size_t bytes, int threads, int passes = 5);

}  // namespace trueno
