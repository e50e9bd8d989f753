// Hugging Face model directory -> GGUF-normalised ModelFile: config.json becomes "<arch>.*"
// metadata keys (the keys llama.cpp's converter writes), tensors get GGUF names and GGML dim
// order, llama Q/K rows are permuted to the interleaved RoPE layout, and tokenizer.json becomes
// tokenizer.ggml.* entries.
#include <cmath>
#include <filesystem>
#include <map>

#include "aprender/hf_dir.h"
#include "aprender/safetensors.h"
#include "hf_json.h"
#include "hf_tensor_names.h"
#include "hf_tokenizer.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace json = boost::json;
namespace fs = std::filesystem;
using hf_internal::GetInt;
using hf_internal::GetNumber;

namespace {

constexpr uint64_t kMaxConfigBytes = 16ull << 20;

struct HfConfig {
  std::string arch;  // "llama" | "qwen2"
  uint32_t n_embd = 0, n_ff = 0, n_layers = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  uint32_t n_ctx = 0, n_vocab = 0;
  double rms_eps = 1e-6, rope_theta = 10000.0;
  std::string rope_scaling;  // "", "linear", "yarn"
  double rope_factor = 1.0;
  uint32_t rope_orig_ctx = 0;
  double rope_attn_factor = 1.0;  // GGUF meaning: multiplier on 1 + 0.1 ln(factor)
  std::optional<double> rope_beta_fast, rope_beta_slow;
  bool tied = false;
  std::optional<int64_t> bos, eos;
};

absl::StatusOr<uint32_t> RequireU32(const json::object& cfg, std::string_view key,
                                    const std::string& path, std::optional<uint32_t> fallback) {
  const auto v = GetInt(cfg, key);
  if (!v) {
    if (fallback) return *fallback;
    return absl::InvalidArgumentError(
        trueno::Concat(path, ": missing integer \"", key, "\"; the config cannot be used"));
  }
  if (*v <= 0 || *v > 0x7fffffff) {
    return absl::InvalidArgumentError(
        trueno::Concat(path, ": \"", key, "\" = ", *v, " is out of range (expected 1..2^31-1)"));
  }
  return static_cast<uint32_t>(*v);
}

// First id of a scalar or list token id field.
std::optional<int64_t> TokenId(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr) return std::nullopt;
  if (const json::array* a = v->if_array()) {
    if (a->empty()) return std::nullopt;
    return hf_internal::AsInt(a->front());
  }
  return hf_internal::AsInt(*v);
}

absl::StatusOr<HfConfig> ParseConfig(const json::object& cfg, const std::string& path) {
  HfConfig c;
  std::string model_type = hf_internal::GetString(cfg, "model_type").value_or("");
  if (model_type.empty()) {
    if (const json::array* archs = hf_internal::GetArray(cfg, "architectures");
        archs != nullptr && !archs->empty() && archs->front().is_string()) {
      const std::string a(archs->front().get_string());
      if (a == "LlamaForCausalLM") model_type = "llama";
      if (a == "Qwen2ForCausalLM") model_type = "qwen2";
    }
  }
  if (model_type != "llama" && model_type != "qwen2") {
    return absl::UnimplementedError(trueno::Concat(
        path, ": model_type \"", model_type, "\" is not supported (supported: llama, qwen2)"));
  }
  c.arch = model_type;
  APR_ASSIGN_OR_RETURN(c.n_embd, RequireU32(cfg, "hidden_size", path, std::nullopt));
  APR_ASSIGN_OR_RETURN(c.n_ff, RequireU32(cfg, "intermediate_size", path, std::nullopt));
  APR_ASSIGN_OR_RETURN(c.n_layers, RequireU32(cfg, "num_hidden_layers", path, std::nullopt));
  APR_ASSIGN_OR_RETURN(c.n_head, RequireU32(cfg, "num_attention_heads", path, std::nullopt));
  APR_ASSIGN_OR_RETURN(c.n_head_kv, RequireU32(cfg, "num_key_value_heads", path, c.n_head));
  if (c.n_layers > 4096 || c.n_head > 65536) {
    return absl::InvalidArgumentError(trueno::Concat(path, ": implausible layer/head counts"));
  }
  const auto explicit_head_dim = GetInt(cfg, "head_dim");
  APR_ASSIGN_OR_RETURN(c.head_dim, RequireU32(cfg, "head_dim", path, c.n_embd / c.n_head));
  if (!explicit_head_dim && c.n_embd % c.n_head != 0) {
    return absl::InvalidArgumentError(trueno::Concat(path, ": hidden_size ", c.n_embd,
                                                     " is not a multiple of num_attention_heads ",
                                                     c.n_head, " and head_dim is not given"));
  }
  if (c.n_head % c.n_head_kv != 0) {
    return absl::InvalidArgumentError(trueno::Concat(path, ": num_attention_heads ", c.n_head,
                                                     " is not a multiple of num_key_value_heads ",
                                                     c.n_head_kv));
  }
  APR_ASSIGN_OR_RETURN(c.n_ctx, RequireU32(cfg, "max_position_embeddings", path, 0u));
  APR_ASSIGN_OR_RETURN(c.n_vocab, RequireU32(cfg, "vocab_size", path, 0u));
  c.rms_eps = GetNumber(cfg, "rms_norm_eps").value_or(1e-6);
  c.tied = hf_internal::GetBool(cfg, "tie_word_embeddings").value_or(false);
  // transformers >= 5 nests rope settings in "rope_parameters"; older configs use top-level
  // "rope_theta" plus an optional "rope_scaling" object.
  const json::object* rope_params = hf_internal::GetObject(cfg, "rope_parameters");
  c.rope_theta = GetNumber(cfg, "rope_theta")
                     .value_or(rope_params ? GetNumber(*rope_params, "rope_theta").value_or(10000.0)
                                           : 10000.0);
  const json::object* scaling = hf_internal::GetObject(cfg, "rope_scaling");
  if (scaling == nullptr) scaling = rope_params;
  if (scaling != nullptr) {
    std::string type = hf_internal::GetString(*scaling, "rope_type")
                           .value_or(hf_internal::GetString(*scaling, "type").value_or("default"));
    if (type == "linear" || type == "yarn") {
      c.rope_scaling = type;
      c.rope_factor = GetNumber(*scaling, "factor").value_or(1.0);
      if (!(c.rope_factor > 0.0)) {
        return absl::InvalidArgumentError(
            trueno::Concat(path, ": rope scaling factor must be positive"));
      }
      APR_ASSIGN_OR_RETURN(c.rope_orig_ctx,
                           RequireU32(*scaling, "original_max_position_embeddings", path, 0u));
      if (type == "yarn") {
        // transformers' YaRN: attention_factor (default get_mscale(factor), or the ratio
        // get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) when both are given),
        // with get_mscale(s, m) = 0.1 m ln(s) + 1 for s > 1. GGUF stores it relative to
        // get_mscale(factor).
        auto get_mscale = [](double s, double m) {
          return s <= 1.0 ? 1.0 : 0.1 * m * std::log(s) + 1.0;
        };
        const double base = get_mscale(c.rope_factor, 1.0);
        double attention = base;
        if (auto a = GetNumber(*scaling, "attention_factor")) {
          attention = *a;
        } else if (auto m = GetNumber(*scaling, "mscale")) {
          if (auto m_all = GetNumber(*scaling, "mscale_all_dim")) {
            attention = get_mscale(c.rope_factor, *m) / get_mscale(c.rope_factor, *m_all);
          }
        }
        c.rope_attn_factor = attention / base;
        c.rope_beta_fast = GetNumber(*scaling, "beta_fast");
        c.rope_beta_slow = GetNumber(*scaling, "beta_slow");
        for (double v :
             {c.rope_attn_factor, c.rope_beta_fast.value_or(1.0), c.rope_beta_slow.value_or(1.0)}) {
          if (!(v > 0.0) || !std::isfinite(v)) {
            return absl::InvalidArgumentError(trueno::Concat(
                path,
                ": rope_scaling attention_factor/mscale, beta_fast and beta_slow must be "
                "positive finite numbers"));
          }
        }
      }
    } else if (type != "default") {
      return absl::UnimplementedError(trueno::Concat(
          path, ": rope scaling type \"", type, "\" is not supported (supported: linear, yarn)"));
    }
  }
  c.bos = TokenId(cfg, "bos_token_id");
  c.eos = TokenId(cfg, "eos_token_id");
  return c;
}

void AddConfigMetadata(const HfConfig& c, const std::string& name, Metadata& md) {
  const std::string& a = c.arch;
  md.Set("general.architecture", MetaValue::String(a));
  if (!name.empty()) md.Set("general.name", MetaValue::String(name));
  if (c.n_ctx > 0) md.Set(a + ".context_length", MetaValue::U32(c.n_ctx));
  md.Set(a + ".embedding_length", MetaValue::U32(c.n_embd));
  md.Set(a + ".block_count", MetaValue::U32(c.n_layers));
  md.Set(a + ".feed_forward_length", MetaValue::U32(c.n_ff));
  md.Set(a + ".attention.head_count", MetaValue::U32(c.n_head));
  md.Set(a + ".attention.head_count_kv", MetaValue::U32(c.n_head_kv));
  md.Set(a + ".rope.dimension_count", MetaValue::U32(c.head_dim));
  md.Set(a + ".rope.freq_base", MetaValue::F32(static_cast<float>(c.rope_theta)));
  md.Set(a + ".attention.layer_norm_rms_epsilon", MetaValue::F32(static_cast<float>(c.rms_eps)));
  if (c.head_dim * c.n_head != c.n_embd) {
    md.Set(a + ".attention.key_length", MetaValue::U32(c.head_dim));
    md.Set(a + ".attention.value_length", MetaValue::U32(c.head_dim));
  }
  if (!c.rope_scaling.empty()) {
    md.Set(a + ".rope.scaling.type", MetaValue::String(c.rope_scaling));
    md.Set(a + ".rope.scaling.factor", MetaValue::F32(static_cast<float>(c.rope_factor)));
    if (c.rope_orig_ctx > 0) {
      md.Set(a + ".rope.scaling.original_context_length", MetaValue::U32(c.rope_orig_ctx));
    }
    if (c.rope_scaling == "yarn") {
      md.Set(a + ".rope.scaling.attn_factor",
             MetaValue::F32(static_cast<float>(c.rope_attn_factor)));
      if (c.rope_beta_fast) {
        md.Set(a + ".rope.scaling.yarn_beta_fast",
               MetaValue::F32(static_cast<float>(*c.rope_beta_fast)));
      }
      if (c.rope_beta_slow) {
        md.Set(a + ".rope.scaling.yarn_beta_slow",
               MetaValue::F32(static_cast<float>(*c.rope_beta_slow)));
      }
    }
  }
}

// GGUF "general.file_type" (llama_ftype) of the dominant matrix type.
uint32_t FileType(const std::vector<Tensor>& tensors) {
  std::map<trueno::DType, uint64_t> counts;
  for (const Tensor& t : tensors) {
    if (t.dims.size() >= 2) counts[t.type] += t.elements();
  }
  trueno::DType best = trueno::DType::kF32;
  uint64_t best_n = 0;
  for (const auto& [type, n] : counts) {
    if (n > best_n) best = type, best_n = n;
  }
  if (best == trueno::DType::kF16) return 1;
  if (best == trueno::DType::kBF16) return 32;
  return 0;
}

// Expected GGML dims of every tensor the graph needs, in GGUF file order.
struct Expected {
  std::string name;
  std::vector<uint64_t> dims;
  bool required;
};

std::vector<Expected> ExpectedTensors(const HfConfig& c, uint64_t n_vocab) {
  const uint64_t q_rows = uint64_t{c.n_head} * c.head_dim;
  const uint64_t kv_rows = uint64_t{c.n_head_kv} * c.head_dim;
  std::vector<Expected> e;
  e.push_back({"token_embd.weight", {c.n_embd, n_vocab}, true});
  e.push_back({"output_norm.weight", {c.n_embd}, true});
  e.push_back({"output.weight", {c.n_embd, n_vocab}, !c.tied});
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string b = trueno::Concat("blk.", l, ".");
    e.push_back({b + "attn_norm.weight", {c.n_embd}, true});
    e.push_back({b + "attn_q.weight", {c.n_embd, q_rows}, true});
    e.push_back({b + "attn_q.bias", {q_rows}, false});
    e.push_back({b + "attn_k.weight", {c.n_embd, kv_rows}, true});
    e.push_back({b + "attn_k.bias", {kv_rows}, false});
    e.push_back({b + "attn_v.weight", {c.n_embd, kv_rows}, true});
    e.push_back({b + "attn_v.bias", {kv_rows}, false});
    e.push_back({b + "attn_output.weight", {q_rows, c.n_embd}, true});
    e.push_back({b + "attn_output.bias", {c.n_embd}, false});
    e.push_back({b + "ffn_norm.weight", {c.n_embd}, true});
    e.push_back({b + "ffn_gate.weight", {c.n_embd, c.n_ff}, true});
    e.push_back({b + "ffn_up.weight", {c.n_embd, c.n_ff}, true});
    e.push_back({b + "ffn_down.weight", {c.n_ff, c.n_embd}, true});
  }
  return e;
}

std::string DimsString(const std::vector<uint64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += trueno::Concat(i ? ", " : "", dims[i]);
  return s + "]";
}

absl::StatusOr<std::string> FindWeights(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir / "model.safetensors.index.json", ec)) {
    return (dir / "model.safetensors.index.json").string();
  }
  if (fs::exists(dir / "model.safetensors", ec)) return (dir / "model.safetensors").string();
  return absl::NotFoundError(
      trueno::Concat(dir.string(),
                     ": no model.safetensors or model.safetensors.index.json (PyTorch .bin "
                     "checkpoints are not supported; re-save with safe_serialization=True)"));
}

}  // namespace

absl::StatusOr<ModelFile> ReadHfDir(const std::string& dir_str) {
  const fs::path dir(dir_str);
  const std::string config_path = (dir / "config.json").string();
  APR_ASSIGN_OR_RETURN(json::value cfg_root,
                       hf_internal::ReadJsonFile(config_path, kMaxConfigBytes));
  const json::object* cfg_obj = cfg_root.if_object();
  if (cfg_obj == nullptr) {
    return absl::InvalidArgumentError(trueno::Concat(config_path, ": not a JSON object"));
  }
  APR_ASSIGN_OR_RETURN(HfConfig cfg, ParseConfig(*cfg_obj, config_path));

  APR_ASSIGN_OR_RETURN(std::string weights_path, FindWeights(dir));
  APR_ASSIGN_OR_RETURN(ModelFile st, ReadSafetensors(weights_path));

  ModelFile model;
  model.format = FileFormat::kHfDir;
  model.path = dir_str;
  model.storage = st.storage;

  // Rename, keyed by GGUF name.
  std::map<std::string, Tensor> by_name;
  for (Tensor& t : st.tensors) {
    if (hf_internal::IsIgnoredHfTensor(t.name)) continue;
    const auto gguf = hf_internal::HfToGgufName(t.name);
    if (!gguf) {
      return absl::InvalidArgumentError(trueno::Concat(weights_path, ": tensor \"", t.name,
                                                       "\" has no GGUF equivalent for ", cfg.arch));
    }
    t.name = *gguf;
    by_name.emplace(t.name, std::move(t));
  }
  const Tensor* embd =
      by_name.count("token_embd.weight") ? &by_name.at("token_embd.weight") : nullptr;
  if (embd == nullptr) {
    return absl::InvalidArgumentError(
        trueno::Concat(weights_path, ": missing tensor \"model.embed_tokens.weight\""));
  }
  const uint64_t n_vocab =
      cfg.n_vocab > 0 ? cfg.n_vocab : (embd->dims.size() == 2 ? embd->dims[1] : 0);
  if (cfg.n_vocab == 0) cfg.n_vocab = static_cast<uint32_t>(n_vocab);
  if (!by_name.count("output.weight")) cfg.tied = true;

  for (const Expected& e : ExpectedTensors(cfg, n_vocab)) {
    auto it = by_name.find(e.name);
    const std::string hf_name = hf_internal::GgufToHfName(e.name).value_or(e.name);
    if (it == by_name.end()) {
      if (!e.required) continue;
      return absl::InvalidArgumentError(trueno::Concat(weights_path, ": missing tensor \"", hf_name,
                                                       "\" required by config.json"));
    }
    Tensor t = std::move(it->second);
    by_name.erase(it);
    if (t.dims != e.dims) {
      return absl::InvalidArgumentError(
          trueno::Concat(weights_path, ": tensor \"", hf_name, "\" has GGML dims ",
                         DimsString(t.dims), " but config.json implies ", DimsString(e.dims)));
    }
    // llama.cpp's converter permutes llama (not qwen2: NeoX RoPE) Q/K rows; K uses the KV heads.
    if (cfg.arch == "llama") {
      const bool is_q = e.name.find(".attn_q.") != std::string::npos;
      const bool is_k = e.name.find(".attn_k.") != std::string::npos;
      if (is_q || is_k) {
        APR_ASSIGN_OR_RETURN(t, hf_internal::PermuteQkRows(t, is_q ? cfg.n_head : cfg.n_head_kv,
                                                           /*to_gguf=*/true, model.storage));
      }
    }
    model.tensors.push_back(std::move(t));
  }
  if (!by_name.empty()) {
    const std::string& extra = by_name.begin()->first;
    return absl::InvalidArgumentError(trueno::Concat(
        weights_path, ": tensor \"", hf_internal::GgufToHfName(extra).value_or(extra),
        "\" is not used by a ", cfg.arch, " model with ", cfg.n_layers, " layers"));
  }

  // Metadata: general + hyperparameters, then the tokenizer, then special ids the tokenizer
  // files left unset (generation_config.json first, config.json second).
  std::string name = hf_internal::GetString(*cfg_obj, "_name_or_path").value_or("");
  if (name.empty()) name = fs::absolute(dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  if (const size_t slash = name.rfind('/'); slash != std::string::npos)
    name = name.substr(slash + 1);
  AddConfigMetadata(cfg, name, model.metadata);
  model.metadata.Set("general.file_type", MetaValue::U32(FileType(model.tensors)));
  model.metadata.Set(cfg.arch + ".vocab_size", MetaValue::U32(cfg.n_vocab));
  for (const auto& [key, value] : st.metadata.entries()) {
    if (key != "format") model.metadata.Set("safetensors." + key, value);
  }

  std::error_code ec;
  const fs::path tok_path = dir / "tokenizer.json";
  if (fs::exists(tok_path, ec)) {
    APR_RETURN_IF_ERROR(ImportHfTokenizer(tok_path.string(), model.metadata));
    hf_internal::PadVocab(cfg.n_vocab, model.metadata);
  }
  std::optional<int64_t> bos = cfg.bos, eos = cfg.eos;
  const fs::path gen_path = dir / "generation_config.json";
  if (fs::exists(gen_path, ec)) {
    APR_ASSIGN_OR_RETURN(json::value gen,
                         hf_internal::ReadJsonFile(gen_path.string(), kMaxConfigBytes));
    if (const json::object* g = gen.if_object()) {
      if (auto v = TokenId(*g, "bos_token_id")) bos = v;
      if (auto v = TokenId(*g, "eos_token_id")) eos = v;
    }
  }
  if (bos && *bos >= 0 && *bos <= 0xffffffff &&
      !model.metadata.Find("tokenizer.ggml.bos_token_id")) {
    model.metadata.Set("tokenizer.ggml.bos_token_id", MetaValue::U32(static_cast<uint32_t>(*bos)));
  }
  if (eos && *eos >= 0 && *eos <= 0xffffffff &&
      !model.metadata.Find("tokenizer.ggml.eos_token_id")) {
    model.metadata.Set("tokenizer.ggml.eos_token_id", MetaValue::U32(static_cast<uint32_t>(*eos)));
  }
  return model;
}

}  // namespace aprender
