#include <tbb/global_control.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "aprender/model_config.h"
#include "aprender/synth.h"
#include "test_assets.h"
#include "trueno/half.h"

using aprender::SynthSpec;

namespace {

uint64_t PlanParams(const std::vector<aprender::SynthTensor>& plan) {
  uint64_t n = 0;
  for (const auto& t : plan) {
    uint64_t e = 1;
    for (auto d : t.dims) e *= d;
    n += e;
  }
  return n;
}

std::vector<float> AsFloats(const aprender::Tensor& t) {
  std::vector<float> out(t.elements());
  for (size_t i = 0; i < out.size(); ++i) {
    if (t.type == trueno::DType::kF32) {
      std::memcpy(&out[i], t.data.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.data.data() + 2 * i, 2);
      out[i] = t.type == trueno::DType::kF16 ? trueno::Fp16ToFp32(h) : trueno::Bf16ToFp32(h);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("Preset tensor plans have the published parameter counts") {
  // Parameter counts as published for the real checkpoints (model cards / HF safetensors
  // metadata); they follow from config.json alone, so the plan must reproduce them exactly.
  const std::map<std::string, uint64_t> published = {
      {"qwen2.5-0.5b", 494032768ULL},  {"qwen2.5-1.5b", 1543714304ULL},
      {"qwen2.5-3b", 3085938688ULL},   {"qwen2.5-7b", 7615616512ULL},
      {"qwen2.5-14b", 14770033664ULL}, {"qwen2.5-32b", 32763876352ULL},
      {"llama-3.2-1b", 1235814400ULL}, {"llama-2-7b", 6738415616ULL},
  };
  for (const auto& [name, params] : published) {
    INFO("preset " << name);
    auto spec = aprender::SynthPreset(name);
    REQUIRE(spec.ok());
    auto plan = aprender::SynthTensorPlan(*spec);
    REQUIRE(plan.ok());
    CHECK(PlanParams(*plan) == params);
  }
}

TEST_CASE("Tensor plan names and GGML shapes follow the config") {
  auto spec = aprender::SynthPreset("qwen2.5-7b");
  REQUIRE(spec.ok());
  auto plan = aprender::SynthTensorPlan(*spec);
  REQUIRE(plan.ok());
  std::map<std::string, std::vector<uint64_t>> shapes;
  for (const auto& t : *plan) shapes[t.name] = t.dims;
  // 1 embedding + 28 layers x (2 norms + 7 matrices + 3 biases) + output_norm + output.
  CHECK(plan->size() == 1 + 28 * 12 + 2);
  CHECK(shapes["token_embd.weight"] == std::vector<uint64_t>{3584, 152064});
  CHECK(shapes["output.weight"] == std::vector<uint64_t>{3584, 152064});
  CHECK(shapes["blk.0.attn_q.weight"] == std::vector<uint64_t>{3584, 3584});
  CHECK(shapes["blk.27.attn_k.weight"] == std::vector<uint64_t>{3584, 512});  // 4 kv heads x 128
  CHECK(shapes["blk.27.attn_k.bias"] == std::vector<uint64_t>{512});
  CHECK(shapes["blk.3.ffn_down.weight"] == std::vector<uint64_t>{18944, 3584});
  CHECK(shapes["blk.3.ffn_gate.weight"] == std::vector<uint64_t>{3584, 18944});
  CHECK(shapes["output_norm.weight"] == std::vector<uint64_t>{3584});

  auto llama = aprender::SynthTensorPlan(*aprender::SynthPreset("llama-3.2-1b"));
  REQUIRE(llama.ok());
  std::set<std::string> names;
  for (const auto& t : *llama) names.insert(t.name);
  CHECK(names.count("output.weight") == 0);      // tied embeddings
  CHECK(names.count("blk.0.attn_q.bias") == 0);  // llama has no qkv bias
  CHECK(names.count("blk.15.ffn_up.weight") == 1);
}

TEST_CASE("Unknown presets and inconsistent specs are rejected with a reason") {
  auto bad = aprender::SynthPreset("gpt-5");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("tiny-llama") != std::string::npos);
  SynthSpec spec = *aprender::SynthPreset("tiny-llama");
  spec.heads = 3;  // 64 % 3 != 0
  CHECK_FALSE(aprender::ValidateSynthSpec(spec).ok());
  spec = *aprender::SynthPreset("tiny-llama");
  spec.kv_heads = 3;
  CHECK_FALSE(aprender::ValidateSynthSpec(spec).ok());
  spec = *aprender::SynthPreset("tiny-llama");
  spec.arch = "gpt2";
  CHECK_FALSE(aprender::SynthesizeModel(spec, trueno::DType::kF32).ok());
  spec = *aprender::SynthPreset("tiny-llama");
  CHECK_FALSE(aprender::SynthesizeModel(spec, trueno::DType::kQ4_0).ok());
}

TEST_CASE("Synthesized weights are N(0, std) and norms are one") {
  SynthSpec spec = *aprender::SynthPreset("tiny-qwen2");
  spec.seed = 1234;
  spec.std = 0.05f;
  INFO("seed " << spec.seed);
  auto model = aprender::SynthesizeModel(spec, trueno::DType::kF32);
  REQUIRE(model.ok());
  double sum = 0, sum2 = 0, n = 0, sum4 = 0;
  for (const auto& t : model->tensors) {
    const auto v = AsFloats(t);
    if (t.name.find("norm") != std::string::npos) {
      for (float x : v) REQUIRE(x == 1.0f);
      continue;
    }
    for (float x : v) {
      sum += x;
      sum2 += double(x) * x;
      sum4 += double(x) * x * x * x;
      n += 1;
    }
  }
  const double mean = sum / n;
  const double var = sum2 / n - mean * mean;
  const double sd = std::sqrt(var);
  // Sampling error: sd(mean) = std/sqrt(n); sd(sample var) = std^2 sqrt(2/n). Allow 5 sigma.
  CHECK(std::fabs(mean) < 5 * spec.std / std::sqrt(n));
  CHECK(std::fabs(var - spec.std * spec.std) < 5 * spec.std * spec.std * std::sqrt(2.0 / n));
  // Kurtosis of a normal is 3 (a uniform generator would give 1.8).
  CHECK(std::fabs(sum4 / n / (var * var) - 3.0) < 0.1);
  CHECK(sd > 0);
}

TEST_CASE("Synthesis is deterministic per seed and independent of the thread count") {
  SynthSpec spec = *aprender::SynthPreset("tiny-llama");
  spec.seed = 7;
  auto many = aprender::SynthesizeModel(spec, trueno::DType::kF16);
  REQUIRE(many.ok());
  absl::StatusOr<aprender::ModelFile> one;
  {
    tbb::global_control single(tbb::global_control::max_allowed_parallelism, 1);
    one = aprender::SynthesizeModel(spec, trueno::DType::kF16);
  }
  REQUIRE(one.ok());
  spec.seed = 8;
  auto other = aprender::SynthesizeModel(spec, trueno::DType::kF16);
  REQUIRE(other.ok());
  REQUIRE(many->tensors.size() == one->tensors.size());
  bool any_diff = false;
  for (size_t i = 0; i < many->tensors.size(); ++i) {
    const auto& a = many->tensors[i];
    const auto& b = one->tensors[i];
    CHECK(a.name == b.name);
    REQUIRE(a.data.size() == b.data.size());
    CHECK(std::memcmp(a.data.data(), b.data.data(), a.data.size()) == 0);
    const auto& c = other->tensors[i];
    if (std::memcmp(a.data.data(), c.data.data(), a.data.size()) != 0) any_diff = true;
  }
  CHECK(any_diff);
}

TEST_CASE("F16 and BF16 synthesis round the same values as F32 synthesis") {
  SynthSpec spec = *aprender::SynthPreset("tiny-llama");
  spec.seed = 99;
  auto f32 = aprender::SynthesizeModel(spec, trueno::DType::kF32);
  auto f16 = aprender::SynthesizeModel(spec, trueno::DType::kF16);
  auto bf16 = aprender::SynthesizeModel(spec, trueno::DType::kBF16);
  REQUIRE((f32.ok() && f16.ok() && bf16.ok()));
  for (size_t i = 0; i < f32->tensors.size(); ++i) {
    const auto& t = f32->tensors[i];
    if (t.dims.size() != 2) {
      CHECK(f16->tensors[i].type == trueno::DType::kF32);  // norms stay F32
      continue;
    }
    REQUIRE(f16->tensors[i].type == trueno::DType::kF16);
    REQUIRE(bf16->tensors[i].type == trueno::DType::kBF16);
    const auto v = AsFloats(t);
    for (size_t j = 0; j < v.size(); ++j) {
      uint16_t h, b;
      std::memcpy(&h, f16->tensors[i].data.data() + 2 * j, 2);
      std::memcpy(&b, bf16->tensors[i].data.data() + 2 * j, 2);
      REQUIRE(h == trueno::Fp32ToFp16(v[j]));
      REQUIRE(b == trueno::Fp32ToBf16(v[j]));
    }
  }
}

TEST_CASE("Built-in tokenizer is byte-level BPE sized to the vocab") {
  for (uint32_t vocab : {259u, 300u, 5000u}) {
    INFO("vocab " << vocab);
    aprender::Metadata md;
    REQUIRE(aprender::AddDefaultTokenizer(vocab, md).ok());
    CHECK(*md.GetString("tokenizer.ggml.model") == "gpt2");
    const auto* tokens = md.Find("tokenizer.ggml.tokens")->AsArray();
    const auto* types = md.Find("tokenizer.ggml.token_type")->AsArray();
    const auto* merges = md.Find("tokenizer.ggml.merges")->AsArray();
    REQUIRE(tokens->items.size() == vocab);
    REQUIRE(types->items.size() == vocab);
    // GPT-2 byte-to-unicode: printable bytes map to themselves, space -> U+0120, '\n' -> U+010A,
    // byte 0 -> U+0100.
    CHECK(*tokens->items['A'].AsString() == "A");
    CHECK(*tokens->items[' '].AsString() == "\xC4\xA0");
    CHECK(*tokens->items['\n'].AsString() == "\xC4\x8A");
    CHECK(*tokens->items[0].AsString() == "\xC4\x80");
    std::set<std::string> vocab_set;
    for (const auto& t : tokens->items) vocab_set.insert(*t.AsString());
    CHECK(vocab_set.size() == vocab);  // no duplicates
    for (const char* c : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"})
      CHECK(vocab_set.count(c) == 1);
    for (const auto& m : merges->items) {
      const std::string s = *m.AsString();
      const auto sp = s.find(' ');
      REQUIRE(sp != std::string::npos);
      CHECK(vocab_set.count(s.substr(0, sp)) == 1);
      CHECK(vocab_set.count(s.substr(sp + 1)) == 1);
      CHECK(vocab_set.count(s.substr(0, sp) + s.substr(sp + 1)) == 1);
    }
    if (vocab >= 5000) CHECK(vocab_set.count("\xC4\xA0the") == 1);  // " the" is learned
    const auto eos = *md.GetUint("tokenizer.ggml.eos_token_id");
    CHECK(*tokens->items[eos].AsString() == "<|im_end|>");
  }
  aprender::Metadata md;
  CHECK_FALSE(aprender::AddDefaultTokenizer(258, md).ok());
}

TEST_CASE("An imported tokenizer smaller than the vocab is padded so the model loads") {
  APR_REQUIRE_ASSET("tokenizers/qwen2/tokenizer.json");
  SynthSpec spec = *aprender::SynthPreset("tiny-qwen2");
  spec.vocab = 151936;  // Qwen2.5's embedding rows; its tokenizer.json lists 151,669 tokens
  spec.tokenizer_json = (apr_test::SharedAssets() / "tokenizers/qwen2/tokenizer.json").string();
  auto model = aprender::SynthesizeModel(spec, trueno::DType::kF16);
  REQUIRE(model.ok());
  const auto* tokens = model->metadata.Find("tokenizer.ggml.tokens")->AsArray();
  const auto* types = model->metadata.Find("tokenizer.ggml.token_type")->AsArray();
  REQUIRE(tokens->items.size() == spec.vocab);
  REQUIRE(types->items.size() == spec.vocab);
  CHECK(*tokens->items[151643].AsString() == "<|endoftext|>");  // the tokenizer's own ids kept
  CHECK(*tokens->items[151935].AsString() == "[PAD151935]");
  auto config = aprender::ModelConfigFromFile(*model);
  REQUIRE(config.ok());
  CHECK(config->n_vocab == spec.vocab);
  // A vocabulary smaller than the tokenizer is an error naming both sizes.
  spec.vocab = 1000;
  auto small = aprender::SynthesizeModel(spec, trueno::DType::kF16);
  REQUIRE_FALSE(small.ok());
  INFO(small.status().message());
  const std::string msg(small.status().message());
  CHECK(msg.find(std::to_string(151669)) != std::string::npos);  // the tokenizer's token count
  CHECK(msg.find("--vocab") != std::string::npos);
}
