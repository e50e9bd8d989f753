// GGUF tokenizer.* metadata -> tokenizer.json + tokenizer_config.json (private).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "aprender/metadata.h"

namespace aprender::hf_internal {

// Writes `dir`/tokenizer_config.json and, for byte-level BPE ("gpt2") vocabularies,
// `dir`/tokenizer.json in the form the HF `tokenizers` library loads. Other tokenizer models get
// only tokenizer_config.json (their tokenizer.json cannot be rebuilt from GGUF data alone).
[[nodiscard]] absl::Status ExportHfTokenizer(const Metadata& metadata, const std::string& dir);

}  // namespace aprender::hf_internal
