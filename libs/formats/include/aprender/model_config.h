// Architecture and hyperparameters of a transformer, read from GGUF-normalised metadata.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aprender/model_file.h"

namespace aprender {

enum class Architecture { kLlama, kQwen2 };
enum class RopeType { kNormal, kNeox };  // llama: adjacent pairs; qwen2 (NeoX): split halves
enum class RopeScaling { kNone, kLinear, kYarn };

struct ModelConfig {
  Architecture arch = Architecture::kLlama;
  std::string arch_name;  // "llama", "qwen2"
  std::string name;       // general.name when present
  uint32_t n_layers = 0;
  uint32_t n_embd = 0;
  uint32_t n_ff = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t head_dim = 0;  // n_embd / n_head unless attention.key_length says otherwise
  uint32_t n_vocab = 0;
  uint32_t n_ctx_train = 0;
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeType rope_type = RopeType::kNormal;
  RopeScaling rope_scaling = RopeScaling::kNone;
  float rope_scale_factor = 1.0f;
  uint32_t rope_orig_ctx = 0;
  // YaRN only (GGUF "<arch>.rope.scaling.attn_factor", ".yarn_beta_fast", ".yarn_beta_slow"):
  // attn_factor multiplies the magnitude scale 1 + 0.1 ln(factor) (llama.cpp's meaning; an HF
  // "attention_factor" A is stored as A / (1 + 0.1 ln(factor))). Betas bound the ramp between
  // extrapolated and interpolated dimensions (see trueno::RopeParams).
  float rope_attn_factor = 1.0f;
  float rope_yarn_beta_fast = 32.0f;
  float rope_yarn_beta_slow = 1.0f;
  bool tied_embeddings = false;  // no output.weight: the head reuses token_embd.weight
  bool qkv_bias = false;         // qwen2 has attn_{q,k,v}.bias
};

// Reads "general.architecture" and "<arch>.*" keys. Unknown architecture or missing/invalid
// hyperparameters → InvalidArgument naming the key and what was expected.
absl::StatusOr<ModelConfig> ModelConfigFromMetadata(const Metadata& metadata);

// Reads the config and checks that every tensor the graph needs exists with the expected shape
// and that `n_vocab`/tied-ness agree with the tensors. Errors name the tensor.
absl::StatusOr<ModelConfig> ModelConfigFromFile(const ModelFile& model);

// Writes the config back as GGUF keys (used by synth and the HF importer).
void ModelConfigToMetadata(const ModelConfig& config, Metadata& metadata);

}  // namespace aprender
