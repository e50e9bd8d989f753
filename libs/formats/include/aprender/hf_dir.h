// Hugging Face model directories (config.json, tokenizer.json, tokenizer_config.json,
// generation_config.json, *.safetensors) mapped to and from the GGUF-normalised ModelFile:
// GGUF metadata keys, GGUF tensor names, and tokenizer.ggml.* keys built from tokenizer.json.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aprender/model_file.h"

namespace aprender {

absl::StatusOr<ModelFile> ReadHfDir(const std::string& dir);

// Writes config.json, tokenizer.json (when the model carries a tokenizer), tokenizer_config.json,
// generation_config.json and model.safetensors with HF tensor names. Only F32/F16/BF16 tensors.
[[nodiscard]] absl::Status WriteHfDir(const ModelFile& model, const std::string& dir);

// Tokenizer data from an HF tokenizer.json (+ optional tokenizer_config.json in the same
// directory) as GGUF tokenizer.* metadata entries added to `metadata`.
[[nodiscard]] absl::Status ImportHfTokenizer(const std::string& tokenizer_json_path, Metadata& metadata);

}  // namespace aprender
