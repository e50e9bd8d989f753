// Random-weight model synthesis: a llama or qwen2 model of any shape, with GGUF tensor names,
// GGUF metadata and a tokenizer, deterministic for a seed (independent of the thread count).
// Used by `apr synth`, by tests that need a model of a given shape, and by benchmarks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aprender/model_config.h"
#include "aprender/model_file.h"
#include "trueno/dtype.h"

namespace aprender {

struct SynthSpec {
  std::string arch = "llama";  // "llama" or "qwen2" (qwen2 adds q/k/v biases)
  std::string name;            // general.name; empty = "synth-<arch>"
  uint32_t hidden = 0;
  uint32_t layers = 0;
  uint32_t heads = 0;
  uint32_t kv_heads = 0;
  uint32_t ffn = 0;
  uint32_t vocab = 0;
  uint32_t ctx = 2048;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied = false;  // no output.weight; the head reuses token_embd.weight
  uint64_t seed = 0;
  float std = 0.02f;           // standard deviation of the normal weights and biases
  std::string tokenizer_json;  // HF tokenizer.json to embed; empty = built-in byte-level BPE
};

// Real shapes: qwen2.5-{0.5b,1.5b,3b,7b,14b,32b}, llama-3.2-1b, llama-2-7b; and test sizes
// tiny-llama, tiny-qwen2. NotFound (listing the names) for anything else.
absl::StatusOr<SynthSpec> SynthPreset(std::string_view name);
std::vector<std::string> SynthPresetNames();

// Checks the spec (arch known, sizes non-zero, heads divide hidden, kv_heads divide heads,
// vocab large enough for the built-in tokenizer when no tokenizer_json is given).
[[nodiscard]] absl::Status ValidateSynthSpec(const SynthSpec& spec);

// The hyperparameters the synthesized model carries.
ModelConfig SynthModelConfig(const SynthSpec& spec);

enum class SynthInit { kNormal, kOnes };  // weights/biases ~ N(0, std); norms = 1

struct SynthTensor {
  std::string name;            // GGUF naming
  std::vector<uint64_t> dims;  // GGML order: dims[0] contiguous
  SynthInit init = SynthInit::kNormal;
  bool is_matrix = false;  // 2-D weights take the requested type; norms/biases stay F32
};

// Names and shapes of every tensor, in file order, without allocating any data.
absl::StatusOr<std::vector<SynthTensor>> SynthTensorPlan(const SynthSpec& spec);

// (done, total) in elements; may be called from worker threads (calls are serialised).
using SynthProgress = std::function<void(uint64_t done, uint64_t total)>;

// Generates the model in memory (owned buffers in ModelFile::storage). Matrices are written
// directly in `weight_type` (F32, F16 or BF16; anything else is InvalidArgument), so no float
// copy of the whole model is ever held. Row r of tensor t is drawn from a generator seeded with
// (seed, t, r), so the bytes depend only on the spec and the seed.
absl::StatusOr<ModelFile> SynthesizeModel(const SynthSpec& spec, trueno::DType weight_type,
                                          const SynthProgress& progress = {});

// The built-in byte-level BPE tokenizer (gpt2 model) as tokenizer.ggml.* metadata, sized to
// exactly `vocab` tokens. InvalidArgument when vocab < 259 (256 bytes + 3 control tokens).
[[nodiscard]] absl::Status AddDefaultTokenizer(uint32_t vocab, Metadata& metadata);

// GGUF general.file_type (llama_ftype) of a synthesized model with `weight_type` (F32/F16/BF16).
uint32_t SynthFileType(trueno::DType weight_type);

}  // namespace aprender
