// Tiny random-weight llama / qwen2 models built in memory for engine tests.
#pragma once

#include <cstdint>

#include "aprender/model_config.h"
#include "aprender/model_file.h"
#include "trueno/dtype.h"

namespace apr_test {

struct SynthSpec {
  aprender::Architecture arch = aprender::Architecture::kLlama;
  trueno::DType wtype = trueno::DType::kF32;  // projections, embeddings and head
  uint32_t n_embd = 64;
  uint32_t n_layers = 2;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 2;
  uint32_t n_ff = 128;
  uint32_t n_vocab = 96;
  bool tied = false;
  uint32_t seed = 1;
};

struct SynthModel {
  aprender::ModelFile file;
  aprender::ModelConfig config;
};

// Weights ~ N(0, 1/cols) (embeddings N(0, 1)), norms 1 + N(0, 0.1), qwen2 biases N(0, 0.1);
// quantized types via trueno::QuantizeRow. Deterministic in spec.seed.
SynthModel MakeSynthModel(const SynthSpec& spec);

}  // namespace apr_test
