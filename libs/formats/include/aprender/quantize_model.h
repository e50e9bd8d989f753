// Whole-model quantization: every tensor is decoded to float32 and re-encoded with the type a
// preset chooses for it. The "_M" presets follow llama.cpp's published tensor-type policy
// (docs/quantization.md lists exactly which rules are implemented).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aprender/model_file.h"
#include "trueno/dtype.h"

namespace aprender {

enum class QuantPreset { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K_M, kQ5_K_M, kQ6_K, kQ2_K, kQ3_K_M };

// Accepts "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "q2_k", "q3_k_m"
// (case-insensitive).
absl::StatusOr<QuantPreset> ParseQuantPreset(std::string_view name);
std::string_view QuantPresetName(QuantPreset p);  // the lower-case spelling above
// The GGUF general.file_type (llama_ftype) id written for the preset.
uint32_t QuantPresetFileType(QuantPreset p);

// The type QuantizeModel gives each tensor of `in` (same order as in.tensors). Tensors it does
// not convert keep their type.
absl::StatusOr<std::vector<trueno::DType>> PlanQuantization(const ModelFile& in, QuantPreset p);

// Converts every tensor to its planned type (see PlanQuantization) using all cores. The result
// owns its tensor bytes (ModelFile::storage) and does not reference `in`. Metadata is copied with
// general.file_type and general.quantization_version updated. `progress`, when set, is called on
// the calling thread after each tensor with (tensors done, tensors total).
absl::StatusOr<ModelFile> QuantizeModel(
    const ModelFile& in, QuantPreset p,
    std::function<void(size_t done, size_t total)> progress = {});

}  // namespace aprender
