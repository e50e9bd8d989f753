#include "hf_tensor_names.h"

#include <array>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "trueno/str_cat.h"

namespace aprender::hf_internal {
namespace {

struct NamePair {
  std::string_view hf;
  std::string_view gguf;
};

// Per-layer suffixes (after "model.layers.N." / "blk.N.").
constexpr std::array<NamePair, 15> kLayerNames = {{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
}};

constexpr std::array<NamePair, 3> kGlobalNames = {{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
}};

// Splits "<prefix><digits>.<rest>" into (layer, rest); nullopt when it does not match.
std::optional<std::pair<uint32_t, std::string_view>> SplitLayer(std::string_view name,
                                                                std::string_view prefix) {
  if (!absl::StartsWith(absl::string_view(name.data(), name.size()),
                        absl::string_view(prefix.data(), prefix.size()))) {
    return std::nullopt;
  }
  name.remove_prefix(prefix.size());
  uint64_t layer = 0;
  size_t digits = 0;
  while (digits < name.size() && digits < 7 && name[digits] >= '0' && name[digits] <= '9') {
    layer = layer * 10 + static_cast<uint64_t>(name[digits] - '0');
    ++digits;
  }
  if (digits == 0 || digits >= name.size() || name[digits] != '.') return std::nullopt;
  if (digits > 1 && name[0] == '0') return std::nullopt;  // "01" is not a canonical layer
  return std::make_pair(static_cast<uint32_t>(layer), name.substr(digits + 1));
}

}  // namespace

std::optional<std::string> HfToGgufName(std::string_view hf_name) {
  for (const auto& p : kGlobalNames) {
    if (hf_name == p.hf) return std::string(p.gguf);
  }
  const auto split = SplitLayer(hf_name, "model.layers.");
  if (!split) return std::nullopt;
  for (const auto& p : kLayerNames) {
    if (split->second == p.hf) return trueno::Concat("blk.", split->first, ".", p.gguf);
  }
  return std::nullopt;
}

std::optional<std::string> GgufToHfName(std::string_view gguf_name) {
  for (const auto& p : kGlobalNames) {
    if (gguf_name == p.gguf) return std::string(p.hf);
  }
  const auto split = SplitLayer(gguf_name, "blk.");
  if (!split) return std::nullopt;
  for (const auto& p : kLayerNames) {
    if (split->second == p.gguf) return trueno::Concat("model.layers.", split->first, ".", p.hf);
  }
  return std::nullopt;
}

bool IsIgnoredHfTensor(std::string_view hf_name) {
  return absl::EndsWith(absl::string_view(hf_name.data(), hf_name.size()), "rotary_emb.inv_freq");
}

absl::StatusOr<Tensor> PermuteQkRows(const Tensor& t, uint32_t n_head, bool to_gguf,
                                     std::vector<std::shared_ptr<const void>>& storage) {
  if (t.dims.empty() || t.dims.size() > 2 || n_head == 0) {
    return absl::InvalidArgumentError(
        trueno::Concat("tensor \"", t.name, "\": expected a matrix or vector to permute"));
  }
  if (trueno::Traits(t.type).quantized) {
    return absl::UnimplementedError(trueno::Concat(
        "tensor \"", t.name, "\" is ", trueno::DTypeName(t.type),
        "; the Q/K RoPE row permutation needs an unquantized (F32/F16/BF16) tensor"));
  }
  const uint64_t rows = t.dims.back();
  if (rows == 0 || rows % (2ull * n_head) != 0 || t.data.size() % rows != 0) {
    return absl::InvalidArgumentError(trueno::Concat("tensor \"", t.name, "\": ", rows,
                                                     " rows do not split into ", n_head,
                                                     " heads of rotary pairs"));
  }
  const uint64_t head_dim = rows / n_head;
  const uint64_t half = head_dim / 2;
  const size_t row_bytes = t.data.size() / rows;
  auto buf = std::make_shared<std::vector<uint8_t>>(t.data.size());
  for (uint64_t h = 0; h < n_head; ++h) {
    for (uint64_t i = 0; i < half; ++i) {
      for (uint64_t j = 0; j < 2; ++j) {
        const uint64_t gguf_row = h * head_dim + 2 * i + j;
        const uint64_t hf_row = h * head_dim + j * half + i;
        const uint64_t src = to_gguf ? hf_row : gguf_row;
        const uint64_t dst = to_gguf ? gguf_row : hf_row;
        std::memcpy(buf->data() + dst * row_bytes, t.data.data() + src * row_bytes, row_bytes);
      }
    }
  }
  Tensor out = t;
  out.data = std::span<const uint8_t>(buf->data(), buf->size());
  storage.push_back(std::move(buf));
  return out;
}

}  // namespace aprender::hf_internal
