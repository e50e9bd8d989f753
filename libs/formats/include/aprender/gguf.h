// GGUF v2/v3 reader (mmap, zero-copy) and writer (v3 by default).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aprender/model_file.h"

namespace aprender {

// Maps `path` and parses it; tensors are views into the mapping (kept alive by ModelFile::storage).
absl::StatusOr<ModelFile> ReadGguf(const std::string& path);

// Parses an in-memory GGUF image. `bytes` must outlive the result (tensor views point into it).
// `name` is used in error messages only. Every length, count and offset is validated.
absl::StatusOr<ModelFile> ParseGguf(std::span<const uint8_t> bytes, const std::string& name);

struct GgufWriteOptions {
  uint32_t version = 3;
  uint32_t alignment = 32;  // also written as general.alignment when not 32
};

// Writes metadata (in order) and tensors (in order) so that llama.cpp can load the file.
// Writes to `path + ".tmp"` and renames, so a failed write never leaves a truncated model.
[[nodiscard]] absl::Status WriteGguf(const ModelFile& model, const std::string& path,
                                     const GgufWriteOptions& options = {});

}  // namespace aprender
