// A float64 reference forward pass for llama / qwen2 models, written to be read: no cache, no
// batching tricks, every step of every position recomputed from the dequantized weights.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "aprender/model_config.h"
#include "aprender/model_file.h"

namespace apr_test {

struct RefLayer {
  std::vector<double> attn_norm, ffn_norm;  // [embd]
  std::vector<double> wq, wk, wv, wo;       // [out][in], row-major
  std::vector<double> bq, bk, bv;           // empty without QKV bias
  std::vector<double> w_gate, w_up, w_down;
};

struct RefModel {
  aprender::ModelConfig config;
  std::vector<double> token_embd;  // [vocab][embd]
  std::vector<double> output_norm;
  std::vector<double> output;  // [vocab][embd] (a copy of token_embd when tied)
  std::vector<RefLayer> layers;
};

// Dequantizes every tensor the graph needs to double (trueno::DequantizeRow for block types).
absl::StatusOr<RefModel> LoadRefModel(const aprender::ModelFile& file,
                                      const aprender::ModelConfig& config);

// Logits [tokens.size()][vocab] for every position of `tokens`, position 0 first.
std::vector<std::vector<double>> ReferenceForward(const RefModel& model,
                                                  std::span<const int32_t> tokens);

// Greedy decoding with the reference: `steps` tokens after `prompt`.
std::vector<int32_t> ReferenceGreedy(const RefModel& model, std::vector<int32_t> prompt, int steps);

}  // namespace apr_test
