// Hugging Face directories: mapping to GGUF names/keys, the llama Q/K RoPE permutation, checks
// against config.json, the real frankentiny model vs its GGUF twin, and write -> read round trips.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "aprender/hf_dir.h"
#include "aprender/model_config.h"
#include "aprender/model_file.h"
#include "aprender/safetensors.h"
#include "mini_gguf.h"
#include "test_assets.h"

using aprender::ModelFile;
using aprender::Tensor;
using trueno::DType;

namespace {

// A tiny HF checkpoint: every tensor's element (row r, col c) = 1000 * tensor_no + 10 * r + c,
// so any row reordering is visible.
struct SyntheticHf {
  std::vector<std::pair<std::string, std::vector<uint64_t>>> shapes;  // HF (row-major) shapes
  std::vector<std::vector<float>> values;

  void Add(const std::string& name, std::vector<uint64_t> shape) {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    const uint64_t cols = shape.size() == 2 ? shape[1] : 1;
    std::vector<float> v(n);
    for (uint64_t i = 0; i < n; ++i) {
      v[i] = static_cast<float>(1000 * shapes.size() + 10 * (i / cols) + i % cols);
    }
    shapes.emplace_back(name, std::move(shape));
    values.push_back(std::move(v));
  }

  void Write(const std::string& dir, const std::string& config) const {
    ModelFile m;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor t;
      t.name = shapes[i].first;
      t.dims.assign(shapes[i].second.rbegin(), shapes[i].second.rend());
      t.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values[i].data()),
                                        values[i].size() * 4);
      m.tensors.push_back(t);
    }
    REQUIRE(aprender::WriteSafetensors(m, dir + "/model.safetensors").ok());
    std::ofstream(dir + "/config.json") << config;
  }
};

// llama: hidden 8, 2 heads of 4, 1 KV head, FFN 6, vocab 5, one layer.
SyntheticHf TinyLlama(bool with_lm_head = true) {
  SyntheticHf s;
  s.Add("model.embed_tokens.weight", {5, 8});
  s.Add("model.norm.weight", {8});
  if (with_lm_head) s.Add("lm_head.weight", {5, 8});
  s.Add("model.layers.0.input_layernorm.weight", {8});
  s.Add("model.layers.0.self_attn.q_proj.weight", {8, 8});
  s.Add("model.layers.0.self_attn.k_proj.weight", {4, 8});
  s.Add("model.layers.0.self_attn.v_proj.weight", {4, 8});
  s.Add("model.layers.0.self_attn.o_proj.weight", {8, 8});
  s.Add("model.layers.0.post_attention_layernorm.weight", {8});
  s.Add("model.layers.0.mlp.gate_proj.weight", {6, 8});
  s.Add("model.layers.0.mlp.up_proj.weight", {6, 8});
  s.Add("model.layers.0.mlp.down_proj.weight", {8, 6});
  return s;
}

const char* kTinyLlamaConfig = R"({"architectures":["LlamaForCausalLM"],"model_type":"llama",
  "hidden_size":8,"intermediate_size":6,"num_hidden_layers":1,"num_attention_heads":2,
  "num_key_value_heads":1,"max_position_embeddings":64,"rms_norm_eps":1e-5,"rope_theta":500000.0,
  "tie_word_embeddings":false,"vocab_size":5,"bos_token_id":1,"eos_token_id":2})";

std::vector<float> Floats(const Tensor& t) {
  std::vector<float> v(t.data.size() / 4);
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

// First element of each row of a GGML {cols, rows} F32 tensor.
std::vector<float> RowHeads(const Tensor& t) {
  std::vector<float> v = Floats(t), out;
  for (uint64_t r = 0; r < t.dims[1]; ++r) out.push_back(v[r * t.dims[0]]);
  return out;
}

}  // namespace

TEST_CASE("HF llama directory maps config keys and tensor names to GGUF") {
  apr_test::ScratchDir dir;
  TinyLlama().Write(dir.path().string(), kTinyLlamaConfig);
  auto m = aprender::ReadHfDir(dir.path().string());
  REQUIRE(m.ok());
  const auto& md = m->metadata;
  CHECK(md.GetStringOr("general.architecture") == "llama");
  CHECK(*md.GetUint("llama.block_count") == 1);
  CHECK(*md.GetUint("llama.embedding_length") == 8);
  CHECK(*md.GetUint("llama.feed_forward_length") == 6);
  CHECK(*md.GetUint("llama.attention.head_count") == 2);
  CHECK(*md.GetUint("llama.attention.head_count_kv") == 1);
  CHECK(*md.GetUint("llama.rope.dimension_count") == 4);
  CHECK(*md.GetUint("llama.context_length") == 64);
  CHECK(*md.GetUint("llama.vocab_size") == 5);
  CHECK(*md.GetDouble("llama.rope.freq_base") == 500000.0);
  CHECK(*md.GetDouble("llama.attention.layer_norm_rms_epsilon") == Approx(1e-5));
  CHECK(md.Find("llama.rope.scaling.type") == nullptr);
  CHECK(*md.GetUint("tokenizer.ggml.bos_token_id") == 1);
  CHECK(*md.GetUint("tokenizer.ggml.eos_token_id") == 2);
  std::vector<std::string> names;
  for (const Tensor& t : m->tensors) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{
                     "token_embd.weight", "output_norm.weight", "output.weight",
                     "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                     "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_norm.weight",
                     "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"});
  CHECK(m->FindTensor("blk.0.ffn_down.weight")->dims == std::vector<uint64_t>{6, 8});
  CHECK(m->FindTensor("token_embd.weight")->dims == std::vector<uint64_t>{8, 5});
}

TEST_CASE("llama Q and K rows are permuted from rotate-half to interleaved RoPE order") {
  apr_test::ScratchDir dir;
  TinyLlama().Write(dir.path().string(), kTinyLlamaConfig);
  auto m = aprender::ReadHfDir(dir.path().string());
  REQUIRE(m.ok());
  // Q (tensor #4): 2 heads of dim 4. Per head, GGUF row 2i+j comes from HF row j*2+i, so the
  // HF rows appear in the order 0,2,1,3 | 4,6,5,7 (hand-derived from llama.cpp's permute).
  const std::vector<float> q_expect = {4000, 4020, 4010, 4030, 4040, 4060, 4050, 4070};
  CHECK(RowHeads(*m->FindTensor("blk.0.attn_q.weight")) == q_expect);
  // K (tensor #5) uses the single KV head: one head of dim 4.
  const std::vector<float> k_expect = {5000, 5020, 5010, 5030};
  CHECK(RowHeads(*m->FindTensor("blk.0.attn_k.weight")) == k_expect);
  // V and O are untouched.
  const std::vector<float> v_expect = {6000, 6010, 6020, 6030};
  CHECK(RowHeads(*m->FindTensor("blk.0.attn_v.weight")) == v_expect);
  // Within a row, columns keep their order.
  const auto q = Floats(*m->FindTensor("blk.0.attn_q.weight"));
  CHECK(q[8 * 1 + 7] == 4027.0f);
}

TEST_CASE("HF directory errors name the missing or mis-shaped tensor") {
  {
    apr_test::ScratchDir dir;
    SyntheticHf s = TinyLlama();
    s.shapes.pop_back();
    s.values.pop_back();
    s.Write(dir.path().string(), kTinyLlamaConfig);
    auto m = aprender::ReadHfDir(dir.path().string());
    CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(m.status().message()).find("model.layers.0.mlp.down_proj.weight") !=
          std::string::npos);
  }
  {
    apr_test::ScratchDir dir;
    SyntheticHf s = TinyLlama();
    s.shapes[4].second = {8, 7};  // q_proj with 7 columns
    s.values[4].resize(56);
    s.Write(dir.path().string(), kTinyLlamaConfig);
    auto m = aprender::ReadHfDir(dir.path().string());
    CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(m.status().message()).find("model.layers.0.self_attn.q_proj.weight") !=
          std::string::npos);
  }
  {
    apr_test::ScratchDir dir;
    TinyLlama().Write(dir.path().string(), R"({"model_type":"gpt_neox","hidden_size":8})");
    CHECK(aprender::ReadHfDir(dir.path().string()).status().code() ==
          absl::StatusCode::kUnimplemented);
  }
}

TEST_CASE("qwen2 directory keeps Q/K row order with biases mapped and yarn rope scaling read") {
  SyntheticHf s = TinyLlama(/*with_lm_head=*/false);
  s.Add("model.layers.0.self_attn.q_proj.bias", {8});
  s.Add("model.layers.0.self_attn.k_proj.bias", {4});
  s.Add("model.layers.0.self_attn.v_proj.bias", {4});
  apr_test::ScratchDir dir;
  s.Write(dir.path().string(), R"({"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2",
    "hidden_size":8,"intermediate_size":6,"num_hidden_layers":1,"num_attention_heads":2,
    "num_key_value_heads":1,"max_position_embeddings":64,"rms_norm_eps":1e-6,
    "rope_theta":1000000.0,"tie_word_embeddings":true,"vocab_size":5,
    "rope_scaling":{"type":"yarn","factor":4.0,"original_max_position_embeddings":32}})");
  auto m = aprender::ReadHfDir(dir.path().string());
  REQUIRE(m.ok());
  const auto& md = m->metadata;
  CHECK(md.GetStringOr("general.architecture") == "qwen2");
  CHECK(*md.GetUint("qwen2.block_count") == 1);
  CHECK(md.GetStringOr("qwen2.rope.scaling.type") == "yarn");
  CHECK(*md.GetDouble("qwen2.rope.scaling.factor") == 4.0);
  CHECK(*md.GetUint("qwen2.rope.scaling.original_context_length") == 32);
  CHECK(m->FindTensor("output.weight") == nullptr);  // tied
  const std::vector<float> q_expect = {3000, 3010, 3020, 3030, 3040, 3050, 3060, 3070};
  CHECK(RowHeads(*m->FindTensor("blk.0.attn_q.weight")) == q_expect);
  REQUIRE(m->FindTensor("blk.0.attn_k.bias") != nullptr);
  CHECK(m->FindTensor("blk.0.attn_k.bias")->dims == std::vector<uint64_t>{4});
  CHECK(Floats(*m->FindTensor("blk.0.attn_q.bias"))[5] == 11050.0f);
}

TEST_CASE(
    "frankentiny HF directory equals its GGUF twin in config and tokenizer and tensor bytes") {
  APR_REQUIRE_ASSET("models/frankentiny/hf/model.safetensors");
  APR_REQUIRE_ASSET("models/frankentiny/frankentiny-f32.gguf");
  const auto root = apr_test::SharedAssets() / "models/frankentiny";
  auto m = aprender::ReadHfDir((root / "hf").string());
  REQUIRE(m.ok());
  const apr_test::MiniGguf g = apr_test::ReadMiniGguf((root / "frankentiny-f32.gguf").string());
  const auto& md = m->metadata;

  for (const auto& [key, v] : g.kv) {
    if (key == "general.name") continue;  // llama.cpp names the model after its directory
    INFO(key);
    const aprender::MetaValue* mine = md.Find(key);
    REQUIRE(mine != nullptr);
    switch (v.type) {
      case 4:
        CHECK(mine->AsUint() == v.u);
        break;
      case 6:
        CHECK(static_cast<float>(*mine->AsDouble()) == static_cast<float>(v.f));
        break;
      case 7:
        CHECK(mine->AsBool() == (v.u != 0));
        break;
      case 8:
        CHECK(*mine->AsString() == v.s);
        break;
      case 9: {
        const aprender::MetaArray* a = mine->AsArray();
        REQUIRE(a != nullptr);
        REQUIRE(a->items.size() == v.items.size());
        for (size_t i = 0; i < v.items.size(); ++i) {
          if (v.elem_type == 8) {
            REQUIRE(*a->items[i].AsString() == v.items[i].s);
          } else {
            REQUIRE(a->items[i].AsInt() == v.items[i].i);
          }
        }
        break;
      }
      default:
        FAIL("unexpected type in the reference GGUF");
    }
  }

  REQUIRE(m->tensors.size() == g.tensors.size());
  for (size_t i = 0; i < g.tensors.size(); ++i) {
    const auto& ref = g.tensors[i];
    INFO(ref.name);
    const Tensor& t = m->tensors[i];
    CHECK(t.name == ref.name);
    CHECK(t.dims == ref.dims);
    REQUIRE(ref.type == 0);
    REQUIRE(t.type == DType::kF32);
    REQUIRE(g.data_start + ref.offset + t.data.size() <= g.bytes.size());
    CHECK(std::memcmp(t.data.data(), g.bytes.data() + g.data_start + ref.offset, t.data.size()) ==
          0);
  }
}

TEST_CASE("HF directory write then read round trips config and tokenizer and weights") {
  APR_REQUIRE_ASSET("models/frankentiny/hf/model.safetensors");
  const auto src = apr_test::SharedAssets() / "models/frankentiny/hf";
  auto m = aprender::ReadHfDir(src.string());
  REQUIRE(m.ok());
  apr_test::ScratchDir dir;
  const std::string out = (dir.path() / "copy").string();
  REQUIRE(aprender::WriteHfDir(*m, out).ok());
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.json",
                        "tokenizer_config.json", "model.safetensors"}) {
    CHECK(std::filesystem::exists(std::filesystem::path(out) / f));
  }
  auto back = aprender::ReadHfDir(out);
  REQUIRE(back.ok());
  for (const auto& [key, value] : m->metadata.entries()) {
    if (key == "general.name") continue;
    INFO(key);
    const aprender::MetaValue* v = back->metadata.Find(key);
    REQUIRE(v != nullptr);
    CHECK(*v == value);
  }
  REQUIRE(back->tensors.size() == m->tensors.size());
  for (size_t i = 0; i < m->tensors.size(); ++i) {
    INFO(m->tensors[i].name);
    CHECK(back->tensors[i].name == m->tensors[i].name);
    CHECK(back->tensors[i].dims == m->tensors[i].dims);
    REQUIRE(back->tensors[i].data.size() == m->tensors[i].data.size());
    CHECK(std::memcmp(back->tensors[i].data.data(), m->tensors[i].data.data(),
                      m->tensors[i].data.size()) == 0);
  }
  // The written checkpoint holds HF's layout again: same bytes as the original, tensor by tensor.
  auto orig = aprender::ReadSafetensors((src / "model.safetensors").string());
  auto mine = aprender::ReadSafetensors(out + "/model.safetensors");
  REQUIRE(orig.ok());
  REQUIRE(mine.ok());
  REQUIRE(mine->tensors.size() == orig->tensors.size());
  for (const Tensor& t : orig->tensors) {
    INFO(t.name);
    const Tensor* o = mine->FindTensor(t.name);
    REQUIRE(o != nullptr);
    CHECK(o->dims == t.dims);
    CHECK(std::memcmp(o->data.data(), t.data.data(), t.data.size()) == 0);
  }
}

TEST_CASE("WriteHfDir rejects quantized tensors naming the tensor and apr convert") {
  apr_test::ScratchDir dir;
  TinyLlama().Write(dir.path().string(), kTinyLlamaConfig);
  auto m = aprender::ReadHfDir(dir.path().string());
  REQUIRE(m.ok());
  std::vector<uint8_t> q(18 * 2, 0);
  for (Tensor& t : m->tensors) {
    if (t.name == "blk.0.ffn_up.weight") {
      t.type = DType::kQ8_0;
      t.dims = {32, 2};
      q.resize(34 * 2);
      t.data = q;
    }
  }
  const absl::Status s = aprender::WriteHfDir(*m, (dir.path() / "out").string());
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("blk.0.ffn_up.weight") != std::string::npos);
  CHECK(std::string(s.message()).find("apr convert") != std::string::npos);
}

TEST_CASE("frankentiny HF directory and ReadGguf of its GGUF twin agree value for value") {
  APR_REQUIRE_ASSET("models/frankentiny/hf/model.safetensors");
  APR_REQUIRE_ASSET("models/frankentiny/frankentiny-f32.gguf");
  const auto root = apr_test::SharedAssets() / "models/frankentiny";
  auto hf = aprender::ReadHfDir((root / "hf").string());
  auto gguf = aprender::LoadModelFile((root / "frankentiny-f32.gguf").string());
  REQUIRE(hf.ok());
  REQUIRE(gguf.ok());
  for (const auto& [key, value] : gguf->metadata.entries()) {
    if (key == "general.name") continue;
    INFO(key);
    const aprender::MetaValue* mine = hf->metadata.Find(key);
    REQUIRE(mine != nullptr);
    CHECK(mine->type() == value.type());  // same GGUF value types, not just equal numbers
    CHECK(*mine == value);
  }
  REQUIRE(hf->tensors.size() == gguf->tensors.size());
  for (size_t i = 0; i < gguf->tensors.size(); ++i) {
    const Tensor& ref = gguf->tensors[i];
    INFO(ref.name);
    CHECK(hf->tensors[i].name == ref.name);
    CHECK(hf->tensors[i].dims == ref.dims);
    CHECK(hf->tensors[i].type == ref.type);
    REQUIRE(hf->tensors[i].data.size() == ref.data.size());
    CHECK(std::memcmp(hf->tensors[i].data.data(), ref.data.data(), ref.data.size()) == 0);
  }
}

TEST_CASE("imported HF directories pass ModelConfigFromFile with the config.json hyperparameters") {
  {
    apr_test::ScratchDir dir;
    TinyLlama().Write(dir.path().string(), kTinyLlamaConfig);
    auto m = aprender::ReadHfDir(dir.path().string());
    REQUIRE(m.ok());
    auto cfg = aprender::ModelConfigFromFile(*m);
    INFO(cfg.status().ToString());
    REQUIRE(cfg.ok());
    CHECK(cfg->arch == aprender::Architecture::kLlama);
    CHECK(cfg->n_layers == 1);
    CHECK(cfg->n_embd == 8);
    CHECK(cfg->n_head == 2);
    CHECK(cfg->n_head_kv == 1);
    CHECK(cfg->head_dim == 4);
    CHECK(cfg->n_vocab == 5);
    CHECK(cfg->rope_theta == 500000.0f);
    CHECK_FALSE(cfg->tied_embeddings);
  }
  {
    SyntheticHf s = TinyLlama(/*with_lm_head=*/false);
    s.Add("model.layers.0.self_attn.q_proj.bias", {8});
    s.Add("model.layers.0.self_attn.k_proj.bias", {4});
    s.Add("model.layers.0.self_attn.v_proj.bias", {4});
    apr_test::ScratchDir dir;
    s.Write(dir.path().string(), R"({"model_type":"qwen2","hidden_size":8,"intermediate_size":6,
      "num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,
      "max_position_embeddings":64,"rms_norm_eps":1e-6,"rope_theta":1000000.0,
      "tie_word_embeddings":true,"vocab_size":5})");
    auto m = aprender::ReadHfDir(dir.path().string());
    REQUIRE(m.ok());
    auto cfg = aprender::ModelConfigFromFile(*m);
    INFO(cfg.status().ToString());
    REQUIRE(cfg.ok());
    CHECK(cfg->arch == aprender::Architecture::kQwen2);
    CHECK(cfg->tied_embeddings);
    CHECK(cfg->qkv_bias);
  }
}
