// GGUF-normalised ModelFile -> Hugging Face directory: config.json and generation_config.json
// from the "<arch>.*" keys, model.safetensors with HF tensor names (llama Q/K rows permuted back
// to the rotate-half layout), tokenizer files when the model carries a tokenizer.
#include <cmath>
#include <filesystem>

#include "aprender/hf_dir.h"
#include "aprender/safetensors.h"
#include "hf_json.h"
#include "hf_tensor_names.h"
#include "hf_tokenizer_export.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

absl::StatusOr<uint32_t> Need(const Metadata& md, const std::string& key) {
  auto v = md.GetUint(key);
  if (!v.ok()) return v.status();
  if (*v == 0 || *v > 0x7fffffff) {
    return absl::InvalidArgumentError(
        trueno::Concat("metadata ", key, " = ", *v, " is out of range"));
  }
  return static_cast<uint32_t>(*v);
}

std::string TorchDtype(const ModelFile& model) {
  for (const Tensor& t : model.tensors) {
    if (t.dims.size() < 2) continue;
    if (t.type == trueno::DType::kF16) return "float16";
    if (t.type == trueno::DType::kBF16) return "bfloat16";
    return "float32";
  }
  return "float32";
}

absl::StatusOr<json::object> BuildConfig(const ModelFile& model, const std::string& arch) {
  const Metadata& md = model.metadata;
  const std::string a = arch + ".";
  APR_ASSIGN_OR_RETURN(uint32_t n_embd, Need(md, a + "embedding_length"));
  APR_ASSIGN_OR_RETURN(uint32_t n_ff, Need(md, a + "feed_forward_length"));
  APR_ASSIGN_OR_RETURN(uint32_t n_layers, Need(md, a + "block_count"));
  APR_ASSIGN_OR_RETURN(uint32_t n_head, Need(md, a + "attention.head_count"));
  uint32_t n_head_kv = n_head;
  if (md.Find(a + "attention.head_count_kv")) {
    APR_ASSIGN_OR_RETURN(n_head_kv, Need(md, a + "attention.head_count_kv"));
  }
  uint32_t head_dim = n_embd / n_head;
  if (md.Find(a + "attention.key_length")) {
    APR_ASSIGN_OR_RETURN(head_dim, Need(md, a + "attention.key_length"));
  }
  const Tensor* embd = model.FindTensor("token_embd.weight");
  uint64_t n_vocab = md.GetUint(a + "vocab_size").value_or(0);
  if (n_vocab == 0 && embd != nullptr && embd->dims.size() == 2) n_vocab = embd->dims[1];
  const bool tied = model.FindTensor("output.weight") == nullptr;
  const Tensor* q_bias = model.FindTensor("blk.0.attn_q.bias");

  json::object c;
  c["architectures"] = json::array{arch == "llama" ? "LlamaForCausalLM" : "Qwen2ForCausalLM"};
  c["model_type"] = arch;
  if (arch == "llama") c["attention_bias"] = q_bias != nullptr;
  if (auto v = md.GetUint("tokenizer.ggml.bos_token_id"); v.ok()) c["bos_token_id"] = *v;
  if (auto v = md.GetUint("tokenizer.ggml.eos_token_id"); v.ok()) c["eos_token_id"] = *v;
  c["head_dim"] = head_dim;
  c["hidden_act"] = "silu";
  c["hidden_size"] = n_embd;
  c["intermediate_size"] = n_ff;
  if (auto v = md.GetUint(a + "context_length"); v.ok()) c["max_position_embeddings"] = *v;
  c["num_attention_heads"] = n_head;
  c["num_hidden_layers"] = n_layers;
  c["num_key_value_heads"] = n_head_kv;
  c["rms_norm_eps"] = md.GetDouble(a + "attention.layer_norm_rms_epsilon").value_or(1e-6);
  c["rope_theta"] = md.GetDouble(a + "rope.freq_base").value_or(10000.0);
  if (auto type = md.GetStringOr(a + "rope.scaling.type"); type && *type != "none") {
    json::object s;
    s["rope_type"] = *type;
    s["type"] = *type;
    s["factor"] = md.GetDouble(a + "rope.scaling.factor").value_or(1.0);
    if (auto v = md.GetUint(a + "rope.scaling.original_context_length"); v.ok()) {
      s["original_max_position_embeddings"] = *v;
    }
    if (*type == "yarn") {
      // transformers' attention_factor is the whole magnitude scale; GGUF's attn_factor is
      // relative to 1 + 0.1 ln(factor).
      const double factor = md.GetDouble(a + "rope.scaling.factor").value_or(1.0);
      const double base = factor > 1.0 ? 1.0 + 0.1 * std::log(factor) : 1.0;
      s["attention_factor"] = md.GetDouble(a + "rope.scaling.attn_factor").value_or(1.0) * base;
      s["beta_fast"] = md.GetDouble(a + "rope.scaling.yarn_beta_fast").value_or(32.0);
      s["beta_slow"] = md.GetDouble(a + "rope.scaling.yarn_beta_slow").value_or(1.0);
    }
    c["rope_scaling"] = std::move(s);
  }
  c["tie_word_embeddings"] = tied;
  c["torch_dtype"] = TorchDtype(model);
  c["use_cache"] = true;
  c["vocab_size"] = n_vocab;
  return c;
}

absl::Status WriteTensors(const ModelFile& model, const std::string& arch,
                          const std::string& path) {
  const std::string a = arch + ".";
  const uint32_t n_head =
      static_cast<uint32_t>(model.metadata.GetUint(a + "attention.head_count").value_or(0));
  const uint32_t n_head_kv =
      static_cast<uint32_t>(model.metadata.GetUint(a + "attention.head_count_kv").value_or(n_head));
  ModelFile out;
  out.metadata.Set("format", MetaValue::String("pt"));
  for (const Tensor& t : model.tensors) {
    const auto hf_name = hf_internal::GgufToHfName(t.name);
    if (!hf_name) {
      return absl::InvalidArgumentError(trueno::Concat(
          path, ": tensor \"", t.name, "\" has no Hugging Face equivalent for ", arch));
    }
    if (t.type != trueno::DType::kF32 && t.type != trueno::DType::kF16 &&
        t.type != trueno::DType::kBF16) {
      return absl::InvalidArgumentError(trueno::Concat(
          path, ": tensor \"", t.name, "\" is ", trueno::DTypeName(t.type),
          "; an HF directory holds only F32/F16/BF16 weights. Run `apr convert` from an "
          "unquantized source (e.g. the original F16/F32 GGUF) instead"));
    }
    Tensor hf = t;
    const bool is_q = t.name.find(".attn_q.") != std::string::npos;
    const bool is_k = t.name.find(".attn_k.") != std::string::npos;
    if (arch == "llama" && (is_q || is_k)) {
      APR_ASSIGN_OR_RETURN(hf, hf_internal::PermuteQkRows(t, is_q ? n_head : n_head_kv,
                                                          /*to_gguf=*/false, out.storage));
    }
    hf.name = *hf_name;
    out.tensors.push_back(std::move(hf));
  }
  return WriteSafetensors(out, path);
}

}  // namespace

absl::Status WriteHfDir(const ModelFile& model, const std::string& dir_str) {
  const fs::path dir(dir_str);
  const std::string arch = model.metadata.GetStringOr("general.architecture").value_or("");
  if (arch != "llama" && arch != "qwen2") {
    return absl::UnimplementedError(trueno::Concat(dir_str, ": general.architecture \"", arch,
                                                   "\" cannot be written as an HF directory "
                                                   "(supported: llama, qwen2)"));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(trueno::Concat(dir_str, ": cannot create: ", ec.message()));
  }
  json::object config;
  try {
    APR_ASSIGN_OR_RETURN(config, BuildConfig(model, arch));
  } catch (...) {
    return absl::ResourceExhaustedError("out of memory building config.json");
  }
  APR_RETURN_IF_ERROR(WriteTensors(model, arch, (dir / "model.safetensors").string()));
  APR_RETURN_IF_ERROR(hf_internal::WriteJsonFile(config, (dir / "config.json").string()));

  try {
    json::object gen;
    if (const json::value* v = config.if_contains("bos_token_id")) gen["bos_token_id"] = *v;
    if (const json::value* v = config.if_contains("eos_token_id")) gen["eos_token_id"] = *v;
    APR_RETURN_IF_ERROR(hf_internal::WriteJsonFile(gen, (dir / "generation_config.json").string()));
  } catch (...) {
    return absl::ResourceExhaustedError("out of memory building generation_config.json");
  }
  if (model.metadata.Find("tokenizer.ggml.tokens") != nullptr) {
    APR_RETURN_IF_ERROR(hf_internal::ExportHfTokenizer(model.metadata, dir_str));
  }
  return absl::OkStatus();
}

}  // namespace aprender
