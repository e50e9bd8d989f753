// Random-weight model synthesis: presets, tensor plan and the (parallel, seed-deterministic)
// weight generator. The built-in tokenizer lives in synth_tokenizer.cpp.
#include "aprender/synth.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>

#include "aprender/hf_dir.h"
#include "aprender/quantize_model.h"
#include "hf_tokenizer.h"
#include "trueno/half.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace {

struct Preset {
  std::string_view name;
  SynthSpec spec;
};

SynthSpec Make(std::string arch, std::string name, uint32_t hidden, uint32_t layers, uint32_t heads,
               uint32_t kv_heads, uint32_t ffn, uint32_t vocab, uint32_t ctx, float theta,
               float eps, bool tied) {
  SynthSpec s;
  s.arch = std::move(arch);
  s.name = std::move(name);
  s.hidden = hidden;
  s.layers = layers;
  s.heads = heads;
  s.kv_heads = kv_heads;
  s.ffn = ffn;
  s.vocab = vocab;
  s.ctx = ctx;
  s.rope_theta = theta;
  s.rms_eps = eps;
  s.tied = tied;
  return s;
}

// Shapes from each model's published config.json (hidden_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads, intermediate_size, vocab_size,
// max_position_embeddings, rope_theta, rms_norm_eps, tie_word_embeddings).
const std::vector<Preset>& Presets() {
  static const std::vector<Preset> presets = {
      {"qwen2.5-0.5b", Make("qwen2", "Qwen2.5-0.5B (synthetic)", 896, 24, 14, 2, 4864, 151936,
                            32768, 1e6f, 1e-6f, true)},
      {"qwen2.5-1.5b", Make("qwen2", "Qwen2.5-1.5B (synthetic)", 1536, 28, 12, 2, 8960, 151936,
                            32768, 1e6f, 1e-6f, true)},
      {"qwen2.5-3b", Make("qwen2", "Qwen2.5-3B (synthetic)", 2048, 36, 16, 2, 11008, 151936, 32768,
                          1e6f, 1e-6f, true)},
      {"qwen2.5-7b", Make("qwen2", "Qwen2.5-7B (synthetic)", 3584, 28, 28, 4, 18944, 152064, 32768,
                          1e6f, 1e-6f, false)},
      {"qwen2.5-14b", Make("qwen2", "Qwen2.5-14B (synthetic)", 5120, 48, 40, 8, 13824, 152064,
                           32768, 1e6f, 1e-5f, false)},
      {"qwen2.5-32b", Make("qwen2", "Qwen2.5-32B (synthetic)", 5120, 64, 40, 8, 27648, 152064,
                           32768, 1e6f, 1e-5f, false)},
      {"llama-3.2-1b", Make("llama", "Llama-3.2-1B (synthetic)", 2048, 16, 32, 8, 8192, 128256,
                            131072, 500000.0f, 1e-5f, true)},
      {"llama-2-7b", Make("llama", "Llama-2-7B (synthetic)", 4096, 32, 32, 32, 11008, 32000, 4096,
                          10000.0f, 1e-5f, false)},
      {"tiny-llama",
       Make("llama", "tiny-llama (synthetic)", 64, 2, 4, 2, 128, 300, 256, 10000.0f, 1e-5f, false)},
      {"tiny-qwen2",
       Make("qwen2", "tiny-qwen2 (synthetic)", 64, 2, 4, 2, 128, 300, 256, 1e6f, 1e-6f, true)},
  };
  return presets;
}

// splitmix64: a full-period 64-bit mixer; also our per-row generator (state += golden gamma).
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class RowRng {
 public:
  RowRng(uint64_t seed, uint64_t tensor, uint64_t row)
      : state_(Mix64(Mix64(Mix64(seed) ^ (tensor + 0x632be59bd9b4e019ULL)) ^
                     (row + 0x9e3779b97f4a7c15ULL))) {}
  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix64(state_);
  }
  // Uniform in (0, 1]: never 0, so log() below is finite.
  double Uniform() {
    return (static_cast<double>(Next() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  }
  // Standard normals, two at a time (Box-Muller).
  void Normal2(double& a, double& b) {
    const double r = std::sqrt(-2.0 * std::log(Uniform()));
    const double theta = 6.283185307179586 * Uniform();
    a = r * std::cos(theta);
    b = r * std::sin(theta);
  }

 private:
  uint64_t state_;
};

inline void Store(trueno::DType type, uint8_t* dst, uint64_t i, float v) {
  switch (type) {
    case trueno::DType::kF16: {
      const uint16_t h = trueno::Fp32ToFp16(v);
      std::memcpy(dst + 2 * i, &h, 2);
      break;
    }
    case trueno::DType::kBF16: {
      const uint16_t h = trueno::Fp32ToBf16(v);
      std::memcpy(dst + 2 * i, &h, 2);
      break;
    }
    default:
      std::memcpy(dst + 4 * i, &v, 4);
      break;
  }
}

void FillRow(const SynthTensor& t, trueno::DType type, uint64_t seed, uint64_t tensor_index,
             uint64_t row, float std_dev, uint8_t* row_dst) {
  const uint64_t n = t.dims[0];
  if (t.init == SynthInit::kOnes) {
    for (uint64_t i = 0; i < n; ++i) Store(type, row_dst, i, 1.0f);
    return;
  }
  RowRng rng(seed, tensor_index, row);
  uint64_t i = 0;
  for (; i + 1 < n; i += 2) {
    double a, b;
    rng.Normal2(a, b);
    Store(type, row_dst, i, static_cast<float>(a * std_dev));
    Store(type, row_dst, i + 1, static_cast<float>(b * std_dev));
  }
  if (i < n) {
    double a, b;
    rng.Normal2(a, b);
    Store(type, row_dst, i, static_cast<float>(a * std_dev));
  }
}

}  // namespace

std::vector<std::string> SynthPresetNames() {
  std::vector<std::string> names;
  for (const auto& p : Presets()) names.emplace_back(p.name);
  return names;
}

absl::StatusOr<SynthSpec> SynthPreset(std::string_view name) {
  for (const auto& p : Presets()) {
    if (p.name == name) return p.spec;
  }
  std::string known;
  for (const auto& p : Presets()) known += trueno::Concat(known.empty() ? "" : ", ", p.name);
  return absl::NotFoundError(
      trueno::Concat("unknown synth preset '", name, "'; known presets: ", known));
}

absl::Status ValidateSynthSpec(const SynthSpec& s) {
  if (s.arch != "llama" && s.arch != "qwen2") {
    return absl::InvalidArgumentError(
        trueno::Concat("synth: unknown architecture '", s.arch, "'; use llama or qwen2"));
  }
  const std::pair<const char*, uint32_t> sizes[] = {
      {"hidden", s.hidden}, {"layers", s.layers}, {"heads", s.heads}, {"kv_heads", s.kv_heads},
      {"ffn", s.ffn},       {"vocab", s.vocab},   {"ctx", s.ctx}};
  for (const auto& [what, v] : sizes) {
    if (v == 0) return absl::InvalidArgumentError(trueno::Concat("synth: ", what, " must be > 0"));
  }
  if (s.hidden % s.heads != 0) {
    return absl::InvalidArgumentError(trueno::Concat(
        "synth: hidden (", s.hidden, ") must be a multiple of heads (", s.heads, ")"));
  }
  if (s.heads % s.kv_heads != 0) {
    return absl::InvalidArgumentError(trueno::Concat(
        "synth: heads (", s.heads, ") must be a multiple of kv_heads (", s.kv_heads, ")"));
  }
  if ((s.hidden / s.heads) % 2 != 0) {
    return absl::InvalidArgumentError(trueno::Concat(
        "synth: head dimension hidden/heads = ", s.hidden / s.heads, " must be even for RoPE"));
  }
  if (s.tokenizer_json.empty() && s.vocab < 259) {
    return absl::InvalidArgumentError(trueno::Concat(
        "synth: vocab ", s.vocab, " is too small for the built-in tokenizer (needs >= 259)"));
  }
  if (!(s.std > 0.0f) || !std::isfinite(s.std)) {
    return absl::InvalidArgumentError("synth: std must be a positive finite number");
  }
  if (!(s.rope_theta > 0.0f) || !(s.rms_eps > 0.0f)) {
    return absl::InvalidArgumentError("synth: rope_theta and rms_eps must be positive");
  }
  return absl::OkStatus();
}

ModelConfig SynthModelConfig(const SynthSpec& s) {
  ModelConfig c;
  c.arch = s.arch == "qwen2" ? Architecture::kQwen2 : Architecture::kLlama;
  c.arch_name = s.arch;
  c.name = s.name.empty() ? trueno::Concat("synth-", s.arch) : s.name;
  c.n_layers = s.layers;
  c.n_embd = s.hidden;
  c.n_ff = s.ffn;
  c.n_head = s.heads;
  c.n_head_kv = s.kv_heads;
  c.head_dim = s.heads ? s.hidden / s.heads : 0;
  c.n_vocab = s.vocab;
  c.n_ctx_train = s.ctx;
  c.rms_eps = s.rms_eps;
  c.rope_theta = s.rope_theta;
  c.rope_type = c.arch == Architecture::kQwen2 ? RopeType::kNeox : RopeType::kNormal;
  c.tied_embeddings = s.tied;
  c.qkv_bias = c.arch == Architecture::kQwen2;
  return c;
}

absl::StatusOr<std::vector<SynthTensor>> SynthTensorPlan(const SynthSpec& s) {
  APR_RETURN_IF_ERROR(ValidateSynthSpec(s));
  const uint64_t hidden = s.hidden;
  const uint64_t head_dim = s.hidden / s.heads;
  const uint64_t q_dim = head_dim * s.heads;
  const uint64_t kv_dim = head_dim * s.kv_heads;
  const bool bias = s.arch == "qwen2";
  std::vector<SynthTensor> plan;
  auto matrix = [&](std::string name, uint64_t cols, uint64_t rows) {
    plan.push_back({std::move(name), {cols, rows}, SynthInit::kNormal, true});
  };
  auto vec = [&](std::string name, uint64_t n, SynthInit init) {
    plan.push_back({std::move(name), {n}, init, false});
  };
  matrix("token_embd.weight", hidden, s.vocab);
  for (uint32_t l = 0; l < s.layers; ++l) {
    const std::string p = trueno::Concat("blk.", l, ".");
    vec(p + "attn_norm.weight", hidden, SynthInit::kOnes);
    matrix(p + "attn_q.weight", hidden, q_dim);
    matrix(p + "attn_k.weight", hidden, kv_dim);
    matrix(p + "attn_v.weight", hidden, kv_dim);
    if (bias) {
      vec(p + "attn_q.bias", q_dim, SynthInit::kNormal);
      vec(p + "attn_k.bias", kv_dim, SynthInit::kNormal);
      vec(p + "attn_v.bias", kv_dim, SynthInit::kNormal);
    }
    matrix(p + "attn_output.weight", q_dim, hidden);
    vec(p + "ffn_norm.weight", hidden, SynthInit::kOnes);
    matrix(p + "ffn_gate.weight", hidden, s.ffn);
    matrix(p + "ffn_up.weight", hidden, s.ffn);
    matrix(p + "ffn_down.weight", s.ffn, hidden);
  }
  vec("output_norm.weight", hidden, SynthInit::kOnes);
  if (!s.tied) matrix("output.weight", hidden, s.vocab);
  return plan;
}

uint32_t SynthFileType(trueno::DType weight_type) {
  switch (weight_type) {
    case trueno::DType::kF16:
      return QuantPresetFileType(QuantPreset::kF16);
    case trueno::DType::kBF16:
      return QuantPresetFileType(QuantPreset::kBF16);
    default:
      return QuantPresetFileType(QuantPreset::kF32);
  }
}

absl::StatusOr<ModelFile> SynthesizeModel(const SynthSpec& spec, trueno::DType weight_type,
                                          const SynthProgress& progress) {
  if (weight_type != trueno::DType::kF32 && weight_type != trueno::DType::kF16 &&
      weight_type != trueno::DType::kBF16) {
    return absl::InvalidArgumentError(
        trueno::Concat("synth: weights are generated as f32, f16 or bf16, not ",
                       trueno::DTypeName(weight_type), "; quantize the result instead"));
  }
  APR_ASSIGN_OR_RETURN(std::vector<SynthTensor> plan, SynthTensorPlan(spec));

  ModelFile model;
  model.format = FileFormat::kGguf;
  model.version = 3;
  const ModelConfig config = SynthModelConfig(spec);
  model.metadata.Set("general.architecture", MetaValue::String(spec.arch));
  model.metadata.Set("general.name", MetaValue::String(config.name));
  model.metadata.Set("general.file_type", MetaValue::U32(SynthFileType(weight_type)));
  ModelConfigToMetadata(config, model.metadata);
  if (spec.tokenizer_json.empty()) {
    APR_RETURN_IF_ERROR(AddDefaultTokenizer(spec.vocab, model.metadata));
  } else {
    APR_RETURN_IF_ERROR(ImportHfTokenizer(spec.tokenizer_json, model.metadata));
    if (const MetaValue* tokens = model.metadata.Find("tokenizer.ggml.tokens")) {
      if (const MetaArray* a = tokens->AsArray(); a && a->items.size() > spec.vocab) {
        return absl::InvalidArgumentError(
            trueno::Concat(spec.tokenizer_json, ": tokenizer has ", a->items.size(),
                           " tokens but the model vocab is ", spec.vocab, "; pass --vocab ",
                           a->items.size(), " or more"));
      }
    }
    // The embedding has a row for every id; ids no token uses get [PAD<id>] entries, as in
    // llama.cpp's conversions of Qwen (151,936 rows, 151,669 tokens), or the file would not load.
    hf_internal::PadVocab(spec.vocab, model.metadata);
  }

  uint64_t total = 0;
  for (const auto& t : plan) total += t.dims[0] * (t.dims.size() > 1 ? t.dims[1] : 1);
  std::atomic<uint64_t> done{0};
  std::mutex progress_mu;

  model.tensors.reserve(plan.size());
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const SynthTensor& t = plan[ti];
    const trueno::DType type = t.is_matrix ? weight_type : trueno::DType::kF32;
    const uint64_t cols = t.dims[0];
    const uint64_t rows = t.dims.size() > 1 ? t.dims[1] : 1;
    APR_ASSIGN_OR_RETURN(const uint64_t elements,
                         trueno::ElementCount(t.dims.data(), t.dims.size()));
    APR_ASSIGN_OR_RETURN(const uint64_t bytes, trueno::ByteSize(type, elements));
    const uint64_t row_bytes = bytes / rows;
    std::shared_ptr<uint8_t[]> buf(new (std::nothrow) uint8_t[bytes]);
    if (!buf) {
      return absl::ResourceExhaustedError(
          trueno::Concat("synth: cannot allocate ", bytes, " bytes for ", t.name));
    }
    uint8_t* base = buf.get();
    tbb::parallel_for(tbb::blocked_range<uint64_t>(0, rows, 16),
                      [&](const tbb::blocked_range<uint64_t>& r) {
                        for (uint64_t row = r.begin(); row != r.end(); ++row) {
                          FillRow(t, type, spec.seed, ti, row, spec.std, base + row * row_bytes);
                        }
                        if (progress) {
                          const uint64_t now = done.fetch_add(r.size() * cols) + r.size() * cols;
                          std::lock_guard<std::mutex> lock(progress_mu);
                          progress(now, total);
                        }
                      });
    Tensor out;
    out.name = t.name;
    out.type = type;
    out.dims = t.dims;
    out.data = std::span<const uint8_t>(base, bytes);
    model.tensors.push_back(std::move(out));
    model.storage.push_back(std::shared_ptr<const void>(buf, buf.get()));
  }
  return model;
}

}  // namespace aprender
