// Transformer hyperparameters from GGUF-named metadata, and the tensor inventory check that
// makes sure a file holds exactly what the llama/qwen2 graph will read.
#include "aprender/model_config.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace {

std::string Key(const std::string& arch, std::string_view suffix) {
  return trueno::Concat(arch, ".", suffix);
}

absl::Status BadKey(std::string_view key, const MetaValue& v, std::string_view expected) {
  return absl::InvalidArgumentError(trueno::Concat("metadata key '", key, "' is ", v.ToString(4),
                                                   " (", MetaTypeName(v.type()), "); expected ",
                                                   expected));
}

// A positive u32. Some converters write per-layer values as an array; a uniform array is
// accepted as its single value.
absl::StatusOr<std::optional<uint32_t>> FindCount(const Metadata& md, const std::string& key,
                                                  bool allow_zero = false) {
  const MetaValue* v = md.Find(key);
  if (v == nullptr) return std::optional<uint32_t>();
  const MetaValue* scalar = v;
  if (const MetaArray* a = v->AsArray()) {
    if (a->items.empty()) return BadKey(key, *v, "a positive integer");
    for (const MetaValue& item : a->items) {
      if (!(item == a->items[0])) {
        return BadKey(key, *v, "one value for every layer (per-layer values are not supported)");
      }
    }
    scalar = &a->items[0];
  }
  const std::optional<uint64_t> u = scalar->is_integer() ? scalar->AsUint() : std::nullopt;
  if (!u || *u > std::numeric_limits<uint32_t>::max() || (*u == 0 && !allow_zero)) {
    return BadKey(key, *v,
                  allow_zero ? "a non-negative 32-bit integer" : "a positive 32-bit integer");
  }
  return std::optional<uint32_t>(static_cast<uint32_t>(*u));
}

absl::StatusOr<uint32_t> RequireCount(const Metadata& md, const std::string& key) {
  APR_ASSIGN_OR_RETURN(std::optional<uint32_t> v, FindCount(md, key));
  if (!v) {
    return absl::InvalidArgumentError(
        trueno::Concat("metadata key '", key, "' is missing; expected a positive integer"));
  }
  return *v;
}

// A finite positive float, or `fallback` when absent.
absl::StatusOr<float> FindPositiveFloat(const Metadata& md, const std::string& key,
                                        float fallback) {
  const MetaValue* v = md.Find(key);
  if (v == nullptr) return fallback;
  const std::optional<double> d = v->is_number() ? v->AsDouble() : std::nullopt;
  if (!d || !std::isfinite(*d) || *d <= 0.0) return BadKey(key, *v, "a positive number");
  return static_cast<float>(*d);
}

std::string ShapeString(const std::vector<uint64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += trueno::Concat(i ? ", " : "", dims[i]);
  return s + "]";
}

absl::Status CheckShape(const Tensor& t, const std::vector<uint64_t>& want) {
  if (t.dims != want) {
    return absl::InvalidArgumentError(trueno::Concat("tensor '", t.name, "' has shape ",
                                                     ShapeString(t.dims), ", expected ",
                                                     ShapeString(want), " (GGML order)"));
  }
  return absl::OkStatus();
}

absl::Status Require(const ModelFile& model, const std::string& name,
                     const std::vector<uint64_t>& want) {
  const Tensor* t = model.FindTensor(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(trueno::Concat(
        model.path, ": tensor '", name, "' is missing (expected shape ", ShapeString(want), ")"));
  }
  absl::Status s = CheckShape(*t, want);
  if (!s.ok())
    return absl::InvalidArgumentError(trueno::Concat(model.path, ": ", std::string(s.message())));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfigFromMetadata(const Metadata& md) {
  ModelConfig c;
  const MetaValue* arch = md.Find("general.architecture");
  if (arch == nullptr || arch->AsString() == nullptr) {
    return absl::InvalidArgumentError(
        "metadata key 'general.architecture' is missing or not a string; expected \"llama\" or "
        "\"qwen2\"");
  }
  c.arch_name = *arch->AsString();
  if (c.arch_name == "llama") {
    c.arch = Architecture::kLlama;
    c.rope_type = RopeType::kNormal;
  } else if (c.arch_name == "qwen2") {
    c.arch = Architecture::kQwen2;
    c.rope_type = RopeType::kNeox;
    c.qkv_bias = true;
  } else {
    return absl::InvalidArgumentError(
        trueno::Concat("unsupported architecture '", c.arch_name, "' (supported: llama, qwen2)"));
  }
  const std::string& a = c.arch_name;
  c.name = md.GetStringOr("general.name").value_or("");
  APR_ASSIGN_OR_RETURN(c.n_layers, RequireCount(md, Key(a, "block_count")));
  APR_ASSIGN_OR_RETURN(c.n_embd, RequireCount(md, Key(a, "embedding_length")));
  APR_ASSIGN_OR_RETURN(c.n_ff, RequireCount(md, Key(a, "feed_forward_length")));
  APR_ASSIGN_OR_RETURN(c.n_head, RequireCount(md, Key(a, "attention.head_count")));
  APR_ASSIGN_OR_RETURN(c.n_ctx_train, RequireCount(md, Key(a, "context_length")));
  APR_ASSIGN_OR_RETURN(std::optional<uint32_t> kv,
                       FindCount(md, Key(a, "attention.head_count_kv")));
  c.n_head_kv = kv.value_or(c.n_head);
  if (c.n_head % c.n_head_kv != 0) {
    return absl::InvalidArgumentError(trueno::Concat(
        "metadata key '", Key(a, "attention.head_count_kv"), "' is ", c.n_head_kv,
        "; expected a divisor of ", Key(a, "attention.head_count"), " = ", c.n_head));
  }
  APR_ASSIGN_OR_RETURN(std::optional<uint32_t> key_len,
                       FindCount(md, Key(a, "attention.key_length")));
  if (key_len) {
    c.head_dim = *key_len;
  } else if (c.n_embd % c.n_head != 0) {
    return absl::InvalidArgumentError(
        trueno::Concat(Key(a, "embedding_length"), " = ", c.n_embd, " is not a multiple of ",
                       Key(a, "attention.head_count"), " = ", c.n_head, " and ",
                       Key(a, "attention.key_length"), " is missing; expected the head size"));
  } else {
    c.head_dim = c.n_embd / c.n_head;
  }
  APR_ASSIGN_OR_RETURN(std::optional<uint32_t> val_len,
                       FindCount(md, Key(a, "attention.value_length")));
  if (val_len && *val_len != c.head_dim) {
    return absl::InvalidArgumentError(
        trueno::Concat("metadata key '", Key(a, "attention.value_length"), "' is ", *val_len,
                       "; expected ", c.head_dim, " (value heads the size of key heads)"));
  }
  APR_ASSIGN_OR_RETURN(std::optional<uint32_t> rot, FindCount(md, Key(a, "rope.dimension_count")));
  if (rot && *rot != c.head_dim) {
    return absl::InvalidArgumentError(trueno::Concat(
        "metadata key '", Key(a, "rope.dimension_count"), "' is ", *rot, "; expected ", c.head_dim,
        " (partial rotary embeddings are not supported)"));
  }
  APR_ASSIGN_OR_RETURN(c.rms_eps,
                       FindPositiveFloat(md, Key(a, "attention.layer_norm_rms_epsilon"), 1e-5f));
  APR_ASSIGN_OR_RETURN(c.rope_theta, FindPositiveFloat(md, Key(a, "rope.freq_base"), 10000.0f));

  // RoPE scaling: "<arch>.rope.scaling.type" (none|linear|yarn), or the older
  // "<arch>.rope.scale_linear" factor.
  const std::string type_key = Key(a, "rope.scaling.type");
  APR_ASSIGN_OR_RETURN(c.rope_scale_factor,
                       FindPositiveFloat(md, Key(a, "rope.scaling.factor"), 1.0f));
  if (const MetaValue* t = md.Find(type_key)) {
    const std::string* s = t->AsString();
    if (s != nullptr && *s == "none") {
      c.rope_scaling = RopeScaling::kNone;
    } else if (s != nullptr && *s == "linear") {
      c.rope_scaling = RopeScaling::kLinear;
    } else if (s != nullptr && *s == "yarn") {
      c.rope_scaling = RopeScaling::kYarn;
    } else {
      return BadKey(type_key, *t, "\"none\", \"linear\" or \"yarn\"");
    }
  } else if (md.Find(Key(a, "rope.scale_linear")) != nullptr) {
    APR_ASSIGN_OR_RETURN(c.rope_scale_factor,
                         FindPositiveFloat(md, Key(a, "rope.scale_linear"), 1.0f));
    c.rope_scaling = c.rope_scale_factor == 1.0f ? RopeScaling::kNone : RopeScaling::kLinear;
  }
  if (c.rope_scaling == RopeScaling::kNone) c.rope_scale_factor = 1.0f;
  APR_ASSIGN_OR_RETURN(std::optional<uint32_t> orig,
                       FindCount(md, Key(a, "rope.scaling.original_context_length")));
  c.rope_orig_ctx = orig.value_or(c.rope_scaling == RopeScaling::kNone ? 0 : c.n_ctx_train);
  APR_ASSIGN_OR_RETURN(c.rope_attn_factor,
                       FindPositiveFloat(md, Key(a, "rope.scaling.attn_factor"), 1.0f));
  APR_ASSIGN_OR_RETURN(c.rope_yarn_beta_fast,
                       FindPositiveFloat(md, Key(a, "rope.scaling.yarn_beta_fast"), 32.0f));
  APR_ASSIGN_OR_RETURN(c.rope_yarn_beta_slow,
                       FindPositiveFloat(md, Key(a, "rope.scaling.yarn_beta_slow"), 1.0f));
  if (c.rope_scaling == RopeScaling::kYarn && c.rope_orig_ctx == 0) {
    return absl::InvalidArgumentError(trueno::Concat("metadata key '",
                                                     Key(a, "rope.scaling.original_context_length"),
                                                     "' (or '", Key(a, "context_length"),
                                                     "') is needed for YaRN scaling; set it to the "
                                                     "context length the model was trained with"));
  }

  // Vocabulary: the token list is authoritative; "<arch>.vocab_size" otherwise; else the
  // embedding matrix decides (ModelConfigFromFile).
  if (const MetaValue* tokens = md.Find("tokenizer.ggml.tokens")) {
    const MetaArray* arr = tokens->AsArray();
    if (arr == nullptr || arr->elem_type != MetaType::kString || arr->items.empty() ||
        arr->items.size() > std::numeric_limits<uint32_t>::max()) {
      return BadKey("tokenizer.ggml.tokens", *tokens, "a non-empty array of strings");
    }
    c.n_vocab = static_cast<uint32_t>(arr->items.size());
  } else {
    APR_ASSIGN_OR_RETURN(std::optional<uint32_t> vocab, FindCount(md, Key(a, "vocab_size")));
    c.n_vocab = vocab.value_or(0);
  }
  return c;
}

absl::StatusOr<ModelConfig> ModelConfigFromFile(const ModelFile& model) {
  absl::StatusOr<ModelConfig> parsed = ModelConfigFromMetadata(model.metadata);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        trueno::Concat(model.path, ": ", std::string(parsed.status().message())));
  }
  ModelConfig c = *std::move(parsed);
  const uint64_t embd = c.n_embd;
  const Tensor* tok = model.FindTensor("token_embd.weight");
  if (tok == nullptr) {
    return absl::InvalidArgumentError(
        trueno::Concat(model.path, ": tensor 'token_embd.weight' is missing (expected shape [",
                       embd, ", ", c.n_vocab != 0 ? std::to_string(c.n_vocab) : "n_vocab", "])"));
  }
  if (c.n_vocab == 0 && tok->dims.size() == 2 && tok->dims[1] > 0 &&
      tok->dims[1] <= std::numeric_limits<uint32_t>::max()) {
    c.n_vocab = static_cast<uint32_t>(tok->dims[1]);
  }
  const uint64_t vocab = c.n_vocab;
  const uint64_t q_dim = static_cast<uint64_t>(c.n_head) * c.head_dim;
  const uint64_t kv_dim = static_cast<uint64_t>(c.n_head_kv) * c.head_dim;
  const uint64_t ff = c.n_ff;
  APR_RETURN_IF_ERROR(Require(model, "token_embd.weight", {embd, vocab}));
  APR_RETURN_IF_ERROR(Require(model, "output_norm.weight", {embd}));
  c.tied_embeddings = model.FindTensor("output.weight") == nullptr;
  if (!c.tied_embeddings) APR_RETURN_IF_ERROR(Require(model, "output.weight", {embd, vocab}));
  // llama files may carry q/k/v biases too; then every layer must have them.
  if (c.arch == Architecture::kLlama) c.qkv_bias = model.FindTensor("blk.0.attn_q.bias") != nullptr;
  for (uint32_t i = 0; i < c.n_layers; ++i) {
    const std::string p = trueno::Concat("blk.", i, ".");
    APR_RETURN_IF_ERROR(Require(model, p + "attn_norm.weight", {embd}));
    APR_RETURN_IF_ERROR(Require(model, p + "attn_q.weight", {embd, q_dim}));
    APR_RETURN_IF_ERROR(Require(model, p + "attn_k.weight", {embd, kv_dim}));
    APR_RETURN_IF_ERROR(Require(model, p + "attn_v.weight", {embd, kv_dim}));
    APR_RETURN_IF_ERROR(Require(model, p + "attn_output.weight", {q_dim, embd}));
    APR_RETURN_IF_ERROR(Require(model, p + "ffn_norm.weight", {embd}));
    APR_RETURN_IF_ERROR(Require(model, p + "ffn_gate.weight", {embd, ff}));
    APR_RETURN_IF_ERROR(Require(model, p + "ffn_up.weight", {embd, ff}));
    APR_RETURN_IF_ERROR(Require(model, p + "ffn_down.weight", {ff, embd}));
    if (c.qkv_bias) {
      APR_RETURN_IF_ERROR(Require(model, p + "attn_q.bias", {q_dim}));
      APR_RETURN_IF_ERROR(Require(model, p + "attn_k.bias", {kv_dim}));
      APR_RETURN_IF_ERROR(Require(model, p + "attn_v.bias", {kv_dim}));
    }
  }
  const std::string extra = trueno::Concat("blk.", c.n_layers, ".attn_norm.weight");
  if (model.FindTensor(extra) != nullptr) {
    return absl::InvalidArgumentError(trueno::Concat(
        model.path, ": tensor '", extra, "' exists but ", c.arch_name, ".block_count is ",
        c.n_layers, "; expected exactly ", c.n_layers, " layers"));
  }
  return c;
}

void ModelConfigToMetadata(const ModelConfig& c, Metadata& md) {
  const std::string a =
      !c.arch_name.empty() ? c.arch_name : (c.arch == Architecture::kQwen2 ? "qwen2" : "llama");
  md.Set("general.architecture", MetaValue::String(a));
  if (!c.name.empty()) md.Set("general.name", MetaValue::String(c.name));
  md.Set(Key(a, "context_length"), MetaValue::U32(c.n_ctx_train));
  md.Set(Key(a, "embedding_length"), MetaValue::U32(c.n_embd));
  md.Set(Key(a, "block_count"), MetaValue::U32(c.n_layers));
  md.Set(Key(a, "feed_forward_length"), MetaValue::U32(c.n_ff));
  md.Set(Key(a, "attention.head_count"), MetaValue::U32(c.n_head));
  md.Set(Key(a, "attention.head_count_kv"), MetaValue::U32(c.n_head_kv));
  if (c.n_head == 0 || c.head_dim != c.n_embd / c.n_head) {
    md.Set(Key(a, "attention.key_length"), MetaValue::U32(c.head_dim));
    md.Set(Key(a, "attention.value_length"), MetaValue::U32(c.head_dim));
  }
  md.Set(Key(a, "rope.dimension_count"), MetaValue::U32(c.head_dim));
  md.Set(Key(a, "rope.freq_base"), MetaValue::F32(c.rope_theta));
  md.Set(Key(a, "attention.layer_norm_rms_epsilon"), MetaValue::F32(c.rms_eps));
  if (c.rope_scaling != RopeScaling::kNone) {
    md.Set(Key(a, "rope.scaling.type"),
           MetaValue::String(c.rope_scaling == RopeScaling::kLinear ? "linear" : "yarn"));
    md.Set(Key(a, "rope.scaling.factor"), MetaValue::F32(c.rope_scale_factor));
    if (c.rope_orig_ctx != 0) {
      md.Set(Key(a, "rope.scaling.original_context_length"), MetaValue::U32(c.rope_orig_ctx));
    }
    if (c.rope_scaling == RopeScaling::kYarn) {
      md.Set(Key(a, "rope.scaling.attn_factor"), MetaValue::F32(c.rope_attn_factor));
      md.Set(Key(a, "rope.scaling.yarn_beta_fast"), MetaValue::F32(c.rope_yarn_beta_fast));
      md.Set(Key(a, "rope.scaling.yarn_beta_slow"), MetaValue::F32(c.rope_yarn_beta_slow));
    }
  }
  if (c.n_vocab != 0) md.Set(Key(a, "vocab_size"), MetaValue::U32(c.n_vocab));
}

}  // namespace aprender
