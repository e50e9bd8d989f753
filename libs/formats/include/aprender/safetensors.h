// SafeTensors: single files and sharded sets (model.safetensors.index.json). Tensor names are
// kept as stored (HF naming); dims are converted to GGML order (reversed).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aprender/model_file.h"

namespace aprender {

// `path` is a .safetensors file or a *.safetensors.index.json naming the shards.
absl::StatusOr<ModelFile> ReadSafetensors(const std::string& path);

// Parses one in-memory .safetensors image (bytes must outlive the result).
absl::StatusOr<ModelFile> ParseSafetensors(std::span<const uint8_t> bytes, const std::string& name);

// Writes F32/F16/BF16 tensors under their names; other types are an InvalidArgument error.
// Metadata string values go into the "__metadata__" header object.
[[nodiscard]] absl::Status WriteSafetensors(const ModelFile& model, const std::string& path);

}  // namespace aprender
