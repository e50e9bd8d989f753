// Hugging Face <-> GGUF tensor naming for the llama/qwen2 families, and the Q/K row permutation
// between HF's rotate-half RoPE layout and GGUF's interleaved (adjacent pair) layout.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aprender/model_file.h"

namespace aprender::hf_internal {

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; nullopt when unknown.
std::optional<std::string> HfToGgufName(std::string_view hf_name);
// Inverse of HfToGgufName.
std::optional<std::string> GgufToHfName(std::string_view gguf_name);
// Tensors HF checkpoints carry that GGUF does not (e.g. rotary_emb.inv_freq): skipped on import.
bool IsIgnoredHfTensor(std::string_view hf_name);

// Reorders the rows of a Q or K projection (weight [rows, cols] or bias [rows]) with
// rows = n_head * head_dim. `to_gguf` true maps HF's layout (per head: all first halves of the
// rotary pairs, then all second halves) to GGUF's (pairs adjacent):
//   out[h*hd + 2*i + j] = in[h*hd + j*hd/2 + i]   (i < hd/2, j in {0,1});
// false applies the inverse. The result owns new bytes, appended to `storage`.
absl::StatusOr<Tensor> PermuteQkRows(const Tensor& t, uint32_t n_head, bool to_gguf,
                                     std::vector<std::shared_ptr<const void>>& storage);

}  // namespace aprender::hf_internal
