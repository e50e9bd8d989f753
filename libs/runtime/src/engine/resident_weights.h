// Private anonymous copies of the weight matrices the CPU streams every step.
//
// Why not read them through the file mapping: on the project VM (2 vCPUs, the model in the page
// cache) streaming ~370 MiB of file-backed pages stalled for 60-130 ms about every 0.5 s, in a
// plain read loop as in decode (perf-notes CPU §23); the same bytes in anonymous memory showed no
// stall. llama.cpp offers the same trade as --no-mmap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace realizar::internal {

class ResidentWeights {
 public:
  // Copies every source range (ranges starting at the same address are copied once) into one
  // anonymous mapping, each at a 64-byte aligned offset, and makes it read-only. Source pages
  // that lie wholly inside one of `mapped` (read-only private file mappings) are then dropped
  // from this process (madvise DONTNEED: a later read faults the same file bytes back in), so
  // the copy does not count twice in the resident set.
  static absl::StatusOr<std::shared_ptr<const ResidentWeights>> Copy(
      std::span<const std::span<const uint8_t>> sources,
      std::span<const std::span<const uint8_t>> mapped);
  ~ResidentWeights();
  ResidentWeights(const ResidentWeights&) = delete;
  ResidentWeights& operator=(const ResidentWeights&) = delete;

  // The copy of a range passed to Copy (by its start address); nullptr for any other address.
  const uint8_t* Find(const uint8_t* source) const;
  size_t bytes() const { return size_; }

 private:
  ResidentWeights() = default;
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  std::vector<std::pair<const uint8_t*, const uint8_t*>> copies_;  // (source, copy), by source
};

}  // namespace realizar::internal
