// ModelConfig from metadata and from whole files. Expected numbers come from the assets'
// READMEs and from hand-built metadata, never from the code under test.
#include <catch2/catch.hpp>

#include "aprender/gguf.h"
#include "aprender/model_config.h"
#include "test_assets.h"

using aprender::Architecture;
using aprender::Metadata;
using aprender::MetaValue;
using aprender::ModelConfig;
using aprender::ModelFile;
using aprender::RopeScaling;
using aprender::RopeType;
using aprender::Tensor;

namespace {

Metadata Qwen2Metadata() {
  Metadata md;
  md.Set("general.architecture", MetaValue::String("qwen2"));
  md.Set("general.name", MetaValue::String("tiny-qwen"));
  md.Set("qwen2.block_count", MetaValue::U32(2));
  md.Set("qwen2.context_length", MetaValue::U32(4096));
  md.Set("qwen2.embedding_length", MetaValue::U32(64));
  md.Set("qwen2.feed_forward_length", MetaValue::U32(96));
  md.Set("qwen2.attention.head_count", MetaValue::U32(4));
  md.Set("qwen2.attention.head_count_kv", MetaValue::U32(2));
  md.Set("qwen2.attention.layer_norm_rms_epsilon", MetaValue::F32(1e-6f));
  md.Set("qwen2.rope.freq_base", MetaValue::F32(1000000.0f));
  md.Set("tokenizer.ggml.tokens", MetaValue::StringArray({"a", "b", "c", "d", "e"}));
  return md;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// A model whose tensors have the given shapes; data is a shared zero buffer of the right size.
struct ShapeModel {
  ModelFile model;
  std::vector<uint8_t> zeros = std::vector<uint8_t>(1 << 20);
  void Add(const std::string& name, std::vector<uint64_t> dims) {
    uint64_t n = 1;
    for (auto d : dims) n *= d;
    model.tensors.push_back(
        Tensor{name, trueno::DType::kF32, std::move(dims), {zeros.data(), n * 4}});
  }
};

// Shapes for Qwen2Metadata(): embd 64, heads 4×16, kv 2×16 = 32, ff 96, vocab 5.
ShapeModel Qwen2Model(bool with_output) {
  ShapeModel m;
  m.model.path = "qwen.gguf";
  m.model.metadata = Qwen2Metadata();
  m.Add("token_embd.weight", {64, 5});
  m.Add("output_norm.weight", {64});
  if (with_output) m.Add("output.weight", {64, 5});
  for (int i = 0; i < 2; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    m.Add(p + "attn_norm.weight", {64});
    m.Add(p + "attn_q.weight", {64, 64});
    m.Add(p + "attn_k.weight", {64, 32});
    m.Add(p + "attn_v.weight", {64, 32});
    m.Add(p + "attn_q.bias", {64});
    m.Add(p + "attn_k.bias", {32});
    m.Add(p + "attn_v.bias", {32});
    m.Add(p + "attn_output.weight", {64, 64});
    m.Add(p + "ffn_norm.weight", {64});
    m.Add(p + "ffn_gate.weight", {64, 96});
    m.Add(p + "ffn_up.weight", {64, 96});
    m.Add(p + "ffn_down.weight", {96, 64});
  }
  return m;
}

}  // namespace

TEST_CASE("ModelConfig reads qwen2 hyperparameters from hand-built metadata") {
  auto c = aprender::ModelConfigFromMetadata(Qwen2Metadata());
  REQUIRE(c.ok());
  CHECK(c->arch == Architecture::kQwen2);
  CHECK(c->arch_name == "qwen2");
  CHECK(c->name == "tiny-qwen");
  CHECK(c->n_layers == 2);
  CHECK(c->n_embd == 64);
  CHECK(c->n_ff == 96);
  CHECK(c->n_head == 4);
  CHECK(c->n_head_kv == 2);
  CHECK(c->head_dim == 16);
  CHECK(c->n_vocab == 5);
  CHECK(c->n_ctx_train == 4096);
  CHECK(c->rms_eps == 1e-6f);
  CHECK(c->rope_theta == 1000000.0f);
  CHECK(c->rope_type == RopeType::kNeox);
  CHECK(c->rope_scaling == RopeScaling::kNone);
  CHECK(c->qkv_bias);
}

TEST_CASE("ModelConfig defaults head_count_kv to head_count and honours key_length") {
  Metadata md = Qwen2Metadata();
  md.Set("general.architecture", MetaValue::String("llama"));
  Metadata llama;
  for (const auto& [k, v] : md.entries()) {
    std::string key = k;
    if (key.rfind("qwen2.", 0) == 0) key = "llama." + key.substr(6);
    if (key != "llama.attention.head_count_kv") llama.Set(key, v);
  }
  llama.Set("llama.attention.key_length", MetaValue::U32(32));
  auto c = aprender::ModelConfigFromMetadata(llama);
  REQUIRE(c.ok());
  CHECK(c->arch == Architecture::kLlama);
  CHECK(c->rope_type == RopeType::kNormal);
  CHECK(c->n_head_kv == 4);
  CHECK(c->head_dim == 32);
  CHECK(!c->qkv_bias);
}

TEST_CASE("ModelConfig reads rope scaling keys") {
  Metadata md = Qwen2Metadata();
  md.Set("qwen2.rope.scaling.type", MetaValue::String("yarn"));
  md.Set("qwen2.rope.scaling.factor", MetaValue::F32(4.0f));
  md.Set("qwen2.rope.scaling.original_context_length", MetaValue::U32(32768));
  auto c = aprender::ModelConfigFromMetadata(md);
  REQUIRE(c.ok());
  CHECK(c->rope_scaling == RopeScaling::kYarn);
  CHECK(c->rope_scale_factor == 4.0f);
  CHECK(c->rope_orig_ctx == 32768);
  md.Set("qwen2.rope.scaling.type", MetaValue::String("linear"));
  CHECK(aprender::ModelConfigFromMetadata(md)->rope_scaling == RopeScaling::kLinear);
  md.Set("qwen2.rope.scaling.type", MetaValue::String("wobbly"));
  auto bad = aprender::ModelConfigFromMetadata(md);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(bad.status()).find("qwen2.rope.scaling.type") != std::string::npos);
}

TEST_CASE("ModelConfig rejects unknown architectures and missing or invalid keys by name") {
  Metadata md = Qwen2Metadata();
  md.Set("general.architecture", MetaValue::String("gpt2"));
  auto a = aprender::ModelConfigFromMetadata(md);
  CHECK(a.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(a.status()) == "unsupported architecture 'gpt2' (supported: llama, qwen2)");

  Metadata none;
  CHECK(Message(aprender::ModelConfigFromMetadata(none).status()).find("general.architecture") !=
        std::string::npos);

  Metadata missing = Qwen2Metadata();
  missing.Erase("qwen2.embedding_length");
  auto b = aprender::ModelConfigFromMetadata(missing);
  CHECK(b.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(b.status()).find("qwen2.embedding_length") != std::string::npos);

  Metadata zero = Qwen2Metadata();
  zero.Set("qwen2.attention.head_count", MetaValue::U32(0));
  CHECK(Message(aprender::ModelConfigFromMetadata(zero).status()).find("head_count") !=
        std::string::npos);

  Metadata typed = Qwen2Metadata();
  typed.Set("qwen2.block_count", MetaValue::String("2"));
  CHECK(Message(aprender::ModelConfigFromMetadata(typed).status()).find("qwen2.block_count") !=
        std::string::npos);

  Metadata gqa = Qwen2Metadata();
  gqa.Set("qwen2.attention.head_count_kv", MetaValue::U32(3));
  CHECK(!aprender::ModelConfigFromMetadata(gqa).ok());

  Metadata eps = Qwen2Metadata();
  eps.Set("qwen2.attention.layer_norm_rms_epsilon", MetaValue::F32(-1.0f));
  CHECK(!aprender::ModelConfigFromMetadata(eps).ok());
}

TEST_CASE("ModelConfigToMetadata writes keys that read back to the same config") {
  ModelConfig c;
  c.arch = Architecture::kQwen2;
  c.arch_name = "qwen2";
  c.name = "round";
  c.n_layers = 3;
  c.n_embd = 128;
  c.n_ff = 320;
  c.n_head = 8;
  c.n_head_kv = 2;
  c.head_dim = 32;  // not n_embd / n_head: key_length must be written
  c.n_vocab = 1000;
  c.n_ctx_train = 2048;
  c.rms_eps = 1e-6f;
  c.rope_theta = 500000.0f;
  c.rope_type = RopeType::kNeox;
  c.rope_scaling = RopeScaling::kLinear;
  c.rope_scale_factor = 2.0f;
  c.rope_orig_ctx = 1024;
  c.qkv_bias = true;
  Metadata md;
  aprender::ModelConfigToMetadata(c, md);
  CHECK(*md.Find("qwen2.attention.key_length")->AsUint() == 32);
  CHECK(*md.Find("qwen2.vocab_size")->AsUint() == 1000);
  auto back = aprender::ModelConfigFromMetadata(md);
  REQUIRE(back.ok());
  CHECK(back->arch == c.arch);
  CHECK(back->name == c.name);
  CHECK(back->n_layers == c.n_layers);
  CHECK(back->n_embd == c.n_embd);
  CHECK(back->n_ff == c.n_ff);
  CHECK(back->n_head == c.n_head);
  CHECK(back->n_head_kv == c.n_head_kv);
  CHECK(back->head_dim == c.head_dim);
  CHECK(back->n_vocab == c.n_vocab);
  CHECK(back->n_ctx_train == c.n_ctx_train);
  CHECK(back->rms_eps == c.rms_eps);
  CHECK(back->rope_theta == c.rope_theta);
  CHECK(back->rope_scaling == c.rope_scaling);
  CHECK(back->rope_scale_factor == c.rope_scale_factor);
  CHECK(back->rope_orig_ctx == c.rope_orig_ctx);
}

TEST_CASE("ModelConfigFromFile checks tensor shapes and detects tied embeddings") {
  ShapeModel untied = Qwen2Model(true);
  auto c = aprender::ModelConfigFromFile(untied.model);
  REQUIRE(c.ok());
  CHECK(!c->tied_embeddings);
  CHECK(c->qkv_bias);
  ShapeModel tied = Qwen2Model(false);
  auto t = aprender::ModelConfigFromFile(tied.model);
  REQUIRE(t.ok());
  CHECK(t->tied_embeddings);
}

TEST_CASE("ModelConfigFromFile names the missing or misshapen tensor and the expected shape") {
  ShapeModel m = Qwen2Model(true);
  m.model.tensors[m.model.tensors.size() - 1].dims = {64, 96};  // blk.1.ffn_down transposed
  auto a = aprender::ModelConfigFromFile(m.model);
  CHECK(a.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(a.status()).find("blk.1.ffn_down.weight") != std::string::npos);
  CHECK(Message(a.status()).find("expected [96, 64]") != std::string::npos);

  ShapeModel no_bias = Qwen2Model(true);
  std::erase_if(no_bias.model.tensors,
                [](const Tensor& t) { return t.name == "blk.0.attn_k.bias"; });
  auto b = aprender::ModelConfigFromFile(no_bias.model);
  CHECK(Message(b.status()).find("blk.0.attn_k.bias") != std::string::npos);

  ShapeModel vocab = Qwen2Model(true);
  vocab.model.tensors[0].dims = {64, 6};
  auto v = aprender::ModelConfigFromFile(vocab.model);
  CHECK(Message(v.status()).find("token_embd.weight") != std::string::npos);

  ShapeModel extra = Qwen2Model(true);
  extra.Add("blk.2.attn_norm.weight", {64});
  CHECK(!aprender::ModelConfigFromFile(extra.model).ok());
}

TEST_CASE("ModelConfig of the llama.cpp interop file matches its README") {
  APR_REQUIRE_ASSET("gguf-interop/tiny-Q4_0.gguf");
  auto m = aprender::ReadGguf((apr_test::SharedAssets() / "gguf-interop/tiny-Q4_0.gguf").string());
  REQUIRE(m.ok());
  auto c = aprender::ModelConfigFromFile(*m);
  REQUIRE(c.ok());
  CHECK(c->arch == Architecture::kLlama);
  CHECK(c->n_layers == 2);
  CHECK(c->n_embd == 256);
  CHECK(c->n_head == 4);
  CHECK(c->n_head_kv == 2);
  CHECK(c->head_dim == 64);
  CHECK(c->n_ff == 512);
  CHECK(c->n_vocab == 263);
  CHECK(c->rope_theta == 10000.0f);
  CHECK(c->rms_eps == 1e-5f);
  CHECK(c->rope_type == RopeType::kNormal);
  CHECK(!c->tied_embeddings);
}

TEST_CASE("ModelConfig of frankentiny matches its README") {
  APR_REQUIRE_ASSET("models/frankentiny/frankentiny-f32.gguf");
  auto m = aprender::ReadGguf(
      (apr_test::SharedAssets() / "models/frankentiny/frankentiny-f32.gguf").string());
  REQUIRE(m.ok());
  auto c = aprender::ModelConfigFromFile(*m);
  REQUIRE(c.ok());
  CHECK(c->arch == Architecture::kLlama);
  CHECK(c->name == "frankentiny");
  CHECK(c->n_embd == 256);
  CHECK(c->n_layers == 4);
  CHECK(c->n_head == 8);
  CHECK(c->n_head_kv == 4);
  CHECK(c->head_dim == 32);
  CHECK(c->n_ff == 640);
  CHECK(c->rms_eps == 1e-5f);
  CHECK(c->rope_theta == 10000.0f);
  CHECK(c->n_ctx_train == 512);
  CHECK(c->n_vocab == 512);
  CHECK(!c->tied_embeddings);  // "untied output head"
  CHECK(!c->qkv_bias);
  // About 3.0 M parameters (README).
  uint64_t params = 0;
  for (const auto& t : m->tensors) params += t.elements();
  CHECK(params > 2'900'000);
  CHECK(params < 3'100'000);
}

TEST_CASE("The committed fuzz seed models are valid GGUF models with a config") {
  const std::string dir = std::string(APR_SOURCE_DIR) + "/tests/fuzz/gguf/corpus/";
  for (const char* f : {"llama-f32.gguf", "qwen2-f16-tied-v2.gguf"}) {
    INFO(f);
    auto m = aprender::ReadGguf(dir + f);
    REQUIRE(m.ok());
    auto c = aprender::ModelConfigFromFile(*m);
    REQUIRE(c.ok());
    CHECK(c->n_embd == 8);
  }
  auto q = aprender::ReadGguf(dir + "qwen2-f16-tied-v2.gguf");
  REQUIRE(q.ok());
  CHECK(q->version == 2);
  CHECK(aprender::ModelConfigFromFile(*q)->tied_embeddings);
  for (const char* f : {"metadata-all-types-a64.gguf", "quant-types.gguf"}) {
    INFO(f);
    CHECK(aprender::ReadGguf(dir + f).ok());
  }
}

TEST_CASE("ModelConfig reads the real llama hyperparameters in llama.cpp's vocab files") {
  APR_REQUIRE_ASSET("vocab/ggml-vocab-deepseek-coder.gguf");
  const auto vocab = apr_test::SharedAssets() / "vocab";
  auto spm = aprender::ReadGguf((vocab / "ggml-vocab-llama-spm.gguf").string());
  REQUIRE(spm.ok());
  auto a = aprender::ModelConfigFromMetadata(spm->metadata);
  REQUIRE(a.ok());
  CHECK(a->n_layers == 32);
  CHECK(a->n_embd == 4096);
  CHECK(a->n_ff == 11008);
  CHECK(a->n_head == 32);
  CHECK(a->n_head_kv == 32);
  CHECK(a->head_dim == 128);
  CHECK(a->n_vocab == 32000);
  CHECK(a->n_ctx_train == 4096);
  CHECK(a->rope_theta == 10000.0f);  // no freq_base key: llama default
  CHECK(a->rope_scaling == RopeScaling::kNone);
  // No tensors in a vocab file: the file check names the first missing tensor and its shape.
  auto f = aprender::ModelConfigFromFile(*spm);
  CHECK(Message(f.status()).find("'token_embd.weight' is missing (expected shape [4096, 32000])") !=
        std::string::npos);

  auto ds = aprender::ReadGguf((vocab / "ggml-vocab-deepseek-coder.gguf").string());
  REQUIRE(ds.ok());
  auto b = aprender::ModelConfigFromMetadata(ds->metadata);
  REQUIRE(b.ok());
  CHECK(b->n_ctx_train == 16384);
  CHECK(b->rope_theta == 100000.0f);
  CHECK(b->rms_eps == 1e-6f);
  CHECK(b->rope_scaling == RopeScaling::kLinear);
  CHECK(b->rope_scale_factor == 4.0f);
}

TEST_CASE("ModelConfig rejects the other architectures in llama.cpp's vocab files") {
  APR_REQUIRE_ASSET("vocab/ggml-vocab-falcon.gguf");
  const auto vocab = apr_test::SharedAssets() / "vocab";
  const std::pair<const char*, const char*> cases[] = {{"ggml-vocab-falcon.gguf", "falcon"},
                                                       {"ggml-vocab-gpt-2.gguf", "gpt2"},
                                                       {"ggml-vocab-bert-bge.gguf", "bert"},
                                                       {"ggml-vocab-phi-3.gguf", "phi3"},
                                                       {"ggml-vocab-starcoder.gguf", "starcoder2"}};
  for (const auto& [file, arch] : cases) {
    INFO(file);
    auto m = aprender::ReadGguf((vocab / file).string());
    REQUIRE(m.ok());
    auto c = aprender::ModelConfigFromMetadata(m->metadata);
    CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(Message(c.status()) ==
          std::string("unsupported architecture '") + arch + "' (supported: llama, qwen2)");
  }
}
