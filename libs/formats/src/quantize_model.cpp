#include "aprender/quantize_model.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "tbb/blocked_range.h"
#include "tbb/parallel_for.h"
#include "trueno/quantize.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace {

using trueno::DType;

struct PresetInfo {
  QuantPreset preset;
  std::string_view name;
  uint32_t file_type;  // llama_ftype
  DType base;          // type of an ordinary 2-D weight
  bool mixed;          // a "_M" mix
};

constexpr PresetInfo kPresets[] = {
    {QuantPreset::kF32, "f32", 0, DType::kF32, false},
    {QuantPreset::kF16, "f16", 1, DType::kF16, false},
    {QuantPreset::kBF16, "bf16", 32, DType::kBF16, false},
    {QuantPreset::kQ8_0, "q8_0", 7, DType::kQ8_0, false},
    {QuantPreset::kQ4_0, "q4_0", 2, DType::kQ4_0, false},
    {QuantPreset::kQ4_K_M, "q4_k_m", 15, DType::kQ4_K, true},
    {QuantPreset::kQ5_K_M, "q5_k_m", 17, DType::kQ5_K, true},
    {QuantPreset::kQ6_K, "q6_k", 18, DType::kQ6_K, false},
    {QuantPreset::kQ2_K, "q2_k", 10, DType::kQ2_K, false},
    {QuantPreset::kQ3_K_M, "q3_k_m", 12, DType::kQ3_K, true},
};

const PresetInfo& Info(QuantPreset p) {
  for (const auto& i : kPresets) {
    if (i.preset == p) return i;
  }
  return kPresets[0];
}

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsFloatLike(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kF64 ||
         trueno::Traits(t).quantized;
}

// 2-D+ weights that llama.cpp re-encodes; norms, biases, routers and position tables stay as
// they are.
bool IsQuantizableWeight(const Tensor& t) {
  if (t.dims.size() < 2 || !EndsWith(t.name, "weight")) return false;
  if (!IsFloatLike(t.type)) return false;
  for (std::string_view skip : {"_norm.weight", "ffn_gate_inp.weight", "pos_embd", "token_types",
                                "rope_freqs", "ssm_conv1d"}) {
    if (Contains(t.name, skip)) return false;
  }
  return true;
}

// llama.cpp's layer selector for the _M mixes: the first and last eighth of the layers and every
// third layer in between.
bool UseMoreBits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// When the row length is not a multiple of the chosen type's block: the K types fall back to the
// nearest 32-block type of at least as many bits, then to f16.
DType FallbackForRow(DType t, uint64_t row) {
  if (row % trueno::Traits(t).block_elems == 0) return t;
  DType f = DType::kF16;
  switch (t) {
    case DType::kQ4_K:
      f = DType::kQ5_0;
      break;
    case DType::kQ5_K:
      f = DType::kQ5_1;
      break;
    case DType::kQ6_K:
      f = DType::kQ8_0;
      break;
    case DType::kQ2_K:
    case DType::kQ3_K:
      f = DType::kQ4_0;
      break;
    default:
      break;
  }
  if (row % trueno::Traits(f).block_elems != 0) f = DType::kF16;
  return f;
}

int LayerFromName(std::string_view name) {
  int layer = -1;
  const std::string s(name);
  if (std::sscanf(s.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

}  // namespace

absl::StatusOr<QuantPreset> ParseQuantPreset(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& i : kPresets) {
    if (i.name == lower) return i.preset;
  }
  return absl::InvalidArgumentError(trueno::Concat(
      "unknown quantization preset '", std::string(name),
      "'; expected one of f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k_m, q6_k, q2_k, q3_k_m"));
}

std::string_view QuantPresetName(QuantPreset p) { return Info(p).name; }
uint32_t QuantPresetFileType(QuantPreset p) { return Info(p).file_type; }

absl::StatusOr<std::vector<DType>> PlanQuantization(const ModelFile& in, QuantPreset p) {
  const PresetInfo& info = Info(p);
  const bool quantized_preset = trueno::Traits(info.base).quantized;
  std::string arch = in.metadata.GetStringOr("general.architecture").value_or("");
  int n_expert = 1;
  if (const auto* v = in.metadata.Find(arch + ".expert_count")) {
    if (auto n = v->AsUint()) n_expert = static_cast<int>(std::min<uint64_t>(*n, 1u << 20));
  }
  const bool has_output = in.FindTensor("output.weight") != nullptr;
  int n_attn_v = 0, n_ffn_down = 0;
  for (const auto& t : in.tensors) {
    if (Contains(t.name, "attn_v.weight")) ++n_attn_v;
    if (Contains(t.name, "ffn_down")) ++n_ffn_down;
  }
  int n_layer = n_ffn_down;
  if (const auto* v = in.metadata.Find(arch + ".block_count")) {
    if (auto n = v->AsUint(); n && *n > 0 && *n < (1u << 20)) n_layer = static_cast<int>(*n);
  }

  std::vector<DType> plan;
  plan.reserve(in.tensors.size());
  int i_attn_v = 0, i_ffn_down = 0;
  for (const auto& t : in.tensors) {
    if (t.dims.empty())
      return absl::InvalidArgumentError(trueno::Concat("tensor ", t.name, " has no dimensions"));
    if (t.dims.size() == 1) {
      // Norm weights and biases: always float32 (they are tiny and precision-critical).
      plan.push_back(IsFloatLike(t.type) ? DType::kF32 : t.type);
      continue;
    }
    if (!IsQuantizableWeight(t)) {
      plan.push_back(t.type);
      continue;
    }
    const uint64_t row = t.dims[0];
    DType type = info.base;
    if (quantized_preset) {
      const std::string_view name = t.name;
      if (name == "output.weight" || (!has_output && name == "token_embd.weight")) {
        // llama.cpp: the output projection gets Q6_K unless the preset is Q8_0 (or Falcon, or the
        // row does not fit the block, which give Q8_0).
        if (arch == "falcon" || row % trueno::Traits(type).block_elems != 0) {
          type = DType::kQ8_0;
        } else if (type != DType::kQ8_0) {
          type = DType::kQ6_K;
        }
      } else if (name == "token_embd.weight") {
        // keeps the base type
      } else if (Contains(name, "attn_v.weight")) {
        if (p == QuantPreset::kQ2_K) {
          type = DType::kQ3_K;
        } else if (p == QuantPreset::kQ3_K_M) {
          type = i_attn_v < 2 ? DType::kQ5_K : DType::kQ4_K;
        } else if (info.mixed && UseMoreBits(i_attn_v, n_attn_v)) {
          type = DType::kQ6_K;
        }
        if (n_expert == 8) type = DType::kQ8_0;
        ++i_attn_v;
      } else if (Contains(name, "attn_k.weight")) {
        if (n_expert == 8) type = DType::kQ8_0;
      } else if (Contains(name, "ffn_down")) {
        int i_layer = i_ffn_down;
        if (n_expert > 1) {
          i_layer = LayerFromName(name);
          if (i_layer < 0 || i_layer >= n_layer) {
            return absl::InvalidArgumentError(trueno::Concat(
                "tensor ", t.name, ": cannot determine its layer (expected blk.N. with N < ",
                n_layer, ")"));
          }
        }
        const int layers = n_expert > 1 ? n_layer : n_ffn_down;
        if (p == QuantPreset::kQ4_K_M) {
          if (arch == "falcon") {
            type = i_layer < layers / 16          ? DType::kQ6_K
                   : UseMoreBits(i_layer, layers) ? DType::kQ5_K
                                                  : DType::kQ4_K;
          } else if (UseMoreBits(i_layer, layers)) {
            type = DType::kQ6_K;
          }
        } else if (p == QuantPreset::kQ5_K_M && UseMoreBits(i_layer, layers)) {
          type = DType::kQ6_K;
        } else if (p == QuantPreset::kQ2_K) {
          type = DType::kQ3_K;
        } else if (p == QuantPreset::kQ3_K_M) {
          type = i_layer < layers / 16                              ? DType::kQ5_K
                 : arch != "falcon" || UseMoreBits(i_layer, layers) ? DType::kQ4_K
                                                                    : DType::kQ3_K;
        }
        ++i_ffn_down;
      } else if (Contains(name, "attn_output.weight")) {
        if (arch != "falcon" && n_expert == 8 && p == QuantPreset::kQ4_K_M) type = DType::kQ5_K;
        if (arch != "falcon" && n_expert != 8 && p == QuantPreset::kQ2_K) type = DType::kQ3_K;
        if (arch != "falcon" && n_expert != 8 && p == QuantPreset::kQ3_K_M) type = DType::kQ4_K;
      } else if (Contains(name, "attn_qkv.weight")) {
        if (p == QuantPreset::kQ4_K_M) type = DType::kQ5_K;
        if (p == QuantPreset::kQ5_K_M) type = DType::kQ6_K;
        if (p == QuantPreset::kQ3_K_M) type = DType::kQ4_K;
      }
    }
    plan.push_back(FallbackForRow(type, row));
  }
  return plan;
}

namespace {

// Converts one tensor row by row in parallel into `out` (sized for `to`).
absl::Status ConvertTensor(const Tensor& t, DType to, uint8_t* out) {
  const uint64_t row = t.dims[0];
  const uint64_t elems = t.elements();
  if (elems == 0) return absl::OkStatus();
  const uint64_t rows = elems / row;
  const auto& from_tr = trueno::Traits(t.type);
  const auto& to_tr = trueno::Traits(to);
  if (row % from_tr.block_elems != 0) {
    return absl::DataLossError(trueno::Concat("tensor ", t.name, ": row of ", row,
                                              " elements is not a whole number of ",
                                              std::string(from_tr.name), " blocks"));
  }
  const size_t in_row_bytes = row / from_tr.block_elems * from_tr.block_bytes;
  const size_t out_row_bytes = row / to_tr.block_elems * to_tr.block_bytes;
  // Roughly 256K elements per task keeps scheduling overhead negligible.
  const size_t grain = std::max<uint64_t>(1, (uint64_t{1} << 18) / row);
  std::mutex error_mu;
  absl::Status error;
  std::atomic<bool> failed{false};
  tbb::parallel_for(
      tbb::blocked_range<uint64_t>(0, rows, grain), [&](const tbb::blocked_range<uint64_t>& r) {
        if (failed.load(std::memory_order_relaxed)) return;
        std::vector<float> buf(row);
        for (uint64_t i = r.begin(); i != r.end(); ++i) {
          absl::Status s =
              trueno::DequantizeRowFast(t.type, t.data.data() + i * in_row_bytes, buf.data(), row);
          if (s.ok()) s = trueno::QuantizeRow(to, buf.data(), out + i * out_row_bytes, row);
          if (!s.ok()) {
            std::lock_guard<std::mutex> lock(error_mu);
            if (error.ok()) error = s;
            failed = true;
            return;
          }
        }
      });
  if (!error.ok()) {
    return absl::Status(error.code(),
                        trueno::Concat("tensor ", t.name, ": ", std::string(error.message())));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelFile> QuantizeModel(const ModelFile& in, QuantPreset p,
                                        std::function<void(size_t done, size_t total)> progress) {
  APR_ASSIGN_OR_RETURN(const std::vector<DType> plan, PlanQuantization(in, p));
  ModelFile out;
  out.format = in.format;
  out.path = in.path;
  out.version = in.version;
  out.metadata = in.metadata;
  out.metadata.Set("general.file_type", MetaValue::U32(QuantPresetFileType(p)));
  out.metadata.Set("general.quantization_version", MetaValue::U32(2));
  out.tensors.reserve(in.tensors.size());
  const size_t total = in.tensors.size();
  for (size_t k = 0; k < total; ++k) {
    const Tensor& t = in.tensors[k];
    APR_ASSIGN_OR_RETURN(const uint64_t elems, trueno::ElementCount(t.dims.data(), t.dims.size()));
    APR_ASSIGN_OR_RETURN(const uint64_t in_bytes, trueno::ByteSize(t.type, elems));
    if (in_bytes != t.data.size()) {
      return absl::DataLossError(trueno::Concat("tensor ", t.name, ": holds ", t.data.size(),
                                                " bytes but its shape and type need ", in_bytes));
    }
    const DType to = plan[k];
    APR_ASSIGN_OR_RETURN(const uint64_t out_bytes, trueno::ByteSize(to, elems));
    auto buf = std::make_shared<std::vector<uint8_t>>(out_bytes);
    if (to == t.type) {
      // Same encoding: copy the bytes (re-encoding a quantized tensor would only add error).
      if (out_bytes > 0) std::memcpy(buf->data(), t.data.data(), out_bytes);
    } else {
      if (!trueno::CanQuantize(to)) {
        return absl::UnimplementedError(trueno::Concat("tensor ", t.name, ": cannot encode ",
                                                       std::string(trueno::DTypeName(to))));
      }
      APR_RETURN_IF_ERROR(ConvertTensor(t, to, buf->data()));
    }
    Tensor o;
    o.name = t.name;
    o.type = to;
    o.dims = t.dims;
    o.data = std::span<const uint8_t>(buf->data(), buf->size());
    out.tensors.push_back(std::move(o));
    out.storage.push_back(std::move(buf));
    if (progress) progress(k + 1, total);
  }
  return out;
}

}  // namespace aprender
