// Model::Forward against the float64 reference forward pass on tiny synthesized llama and qwen2
// models, for float and quantized weights; batch prefill vs token-by-token decode; rewinding;
// interleaved sequences; error paths.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "aprender/gguf.h"

#include "realizar/model.h"
#include "reference_forward.h"
#include "synth_model.h"

namespace {

using aprender::Architecture;
using trueno::DType;

struct Diff {
  double max_abs = 0.0;  // max |engine - reference|
  double rel_l2 = 0.0;   // ||engine - reference|| / ||reference||
};

Diff Compare(const float* got, const std::vector<double>& want) {
  Diff d;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double e = got[i] - want[i];
    d.max_abs = std::max(d.max_abs, std::fabs(e));
    num += e * e;
    den += want[i] * want[i];
  }
  d.rel_l2 = std::sqrt(num / den);
  return d;
}

apr_test::SynthSpec Spec(Architecture arch, DType type, uint32_t seed) {
  apr_test::SynthSpec s;
  s.arch = arch;
  s.wtype = type;
  s.seed = seed;
  if (trueno::Traits(type).block_elems == 256) {  // K types need rows of 256-multiples
    s.n_embd = 256;
    s.n_ff = 512;
  }
  return s;
}

// Stated tolerance on the relative L2 error of the logits: float weights leave only float32
// rounding; quantized weights add 8-bit activation quantization (the reference uses the same
// dequantized weights but exact activations), which grows with weight precision loss.
double Tolerance(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      return 1e-5;
    default:
      return 3e-2;
  }
}

const std::vector<int32_t> kPrompt = {5, 17, 3, 88, 42, 42, 9, 60, 1};

}  // namespace

TEST_CASE("Model::Forward matches the float64 reference for llama and qwen2, every weight type",
          "[model]") {
  for (Architecture arch : {Architecture::kLlama, Architecture::kQwen2}) {
    for (DType type :
         {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1,
          DType::kQ5_0, DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
      const uint32_t seed = 100 + static_cast<uint32_t>(type);
      auto synth = apr_test::MakeSynthModel(Spec(arch, type, seed));
      INFO(synth.file.path << " seed " << seed);
      auto ref = apr_test::LoadRefModel(synth.file, synth.config);
      REQUIRE(ref.ok());
      auto model = realizar::Model::Create(synth.file, synth.config);
      REQUIRE(model.ok());
      const int V = (*model)->n_vocab();
      std::vector<float> logits(kPrompt.size() * V);
      REQUIRE((*model)->Forward(kPrompt, 0, 0, logits.data(), /*all_logits=*/true).ok());
      const auto want = apr_test::ReferenceForward(*ref, kPrompt);
      for (size_t t = 0; t < kPrompt.size(); ++t) {
        const Diff d = Compare(logits.data() + t * V, want[t]);
        INFO("position " << t << " max_abs " << d.max_abs << " rel_l2 " << d.rel_l2);
        CHECK(d.rel_l2 <= Tolerance(type));
      }
    }
  }
}

TEST_CASE("An F16 KV cache stays within 2e-3 relative L2 of the float64 reference", "[model]") {
  // binary16 keeps 11 significant bits (relative rounding error <= 2^-11 = 4.9e-4 per cached
  // element); through softmax and the value sum that bounds the logit error at a few 1e-4 of
  // their norm for these tiny models; 2e-3 leaves margin while catching a wrong layout.
  for (Architecture arch : {Architecture::kLlama, Architecture::kQwen2}) {
    for (DType type : {DType::kF32, DType::kQ8_0}) {
      const uint32_t seed = 300 + static_cast<uint32_t>(type);
      auto synth = apr_test::MakeSynthModel(Spec(arch, type, seed));
      INFO(synth.file.path << " seed " << seed);
      auto ref = apr_test::LoadRefModel(synth.file, synth.config);
      REQUIRE(ref.ok());
      realizar::ModelOptions opt;
      opt.kv_type = DType::kF16;
      auto model = realizar::Model::Create(synth.file, synth.config, opt);
      REQUIRE(model.ok());
      REQUIRE((*model)->kv_cache().kv_type() == DType::kF16);
      const int V = (*model)->n_vocab();
      // Prefill most of the prompt, then decode the rest one token at a time (both paths read
      // the f16 cache).
      const size_t split = kPrompt.size() - 3;
      std::vector<float> logits(kPrompt.size() * V);
      REQUIRE((*model)
                  ->Forward(std::span(kPrompt).first(split), 0, 0, logits.data(),
                            /*all_logits=*/true)
                  .ok());
      for (size_t t = split; t < kPrompt.size(); ++t) {
        REQUIRE((*model)
                    ->Forward(std::span(kPrompt).subspan(t, 1), 0, static_cast<int>(t),
                              logits.data() + t * V)
                    .ok());
      }
      const auto want = apr_test::ReferenceForward(*ref, kPrompt);
      const double tol = type == DType::kF32 ? 2e-3 : Tolerance(type) + 2e-3;
      for (size_t t = 0; t < kPrompt.size(); ++t) {
        const Diff d = Compare(logits.data() + t * V, want[t]);
        INFO("position " << t << " max_abs " << d.max_abs << " rel_l2 " << d.rel_l2);
        CHECK(d.rel_l2 <= tol);
      }
    }
  }
}

TEST_CASE("Tied embeddings use token_embd as the head", "[model]") {
  auto spec = Spec(Architecture::kQwen2, DType::kQ8_0, 7);
  spec.tied = true;
  auto synth = apr_test::MakeSynthModel(spec);
  auto ref = apr_test::LoadRefModel(synth.file, synth.config);
  REQUIRE(ref.ok());
  auto model = realizar::Model::Create(synth.file, synth.config);
  REQUIRE(model.ok());
  std::vector<float> logits((*model)->n_vocab());
  REQUIRE((*model)->Forward(kPrompt, 0, 0, logits.data()).ok());
  const Diff d = Compare(logits.data(), apr_test::ReferenceForward(*ref, kPrompt).back());
  INFO("rel_l2 " << d.rel_l2);
  CHECK(d.rel_l2 <= Tolerance(DType::kQ8_0));
}

TEST_CASE("A GGUF file's weights read through the mapping or copied give the same logits",
          "[model]") {
  // The default copies the CPU's matrices out of the mapping (and drops the mapped pages); both
  // must compute on identical bytes, tied head included, against the float64 reference.
  auto spec = Spec(Architecture::kQwen2, DType::kQ4_K, 9);
  spec.tied = true;
  auto synth = apr_test::MakeSynthModel(spec);
  auto ref = apr_test::LoadRefModel(synth.file, synth.config);
  REQUIRE(ref.ok());
  const auto path = std::filesystem::temp_directory_path() /
                    ("apr_model_mmap_" + std::to_string(::getpid()) + ".gguf");
  REQUIRE(aprender::WriteGguf(synth.file, path.string()).ok());
  std::vector<std::vector<float>> logits;
  for (bool mapped : {true, false}) {
    auto file = aprender::ReadGguf(path.string());
    REQUIRE(file.ok());
    REQUIRE(!file->mapped.empty());
    realizar::ModelOptions o;
    o.mmap_weights = mapped;
    auto model = realizar::Model::Create(std::move(*file), synth.config, o);
    REQUIRE(model.ok());
    logits.emplace_back((*model)->n_vocab());
    REQUIRE((*model)->Forward(kPrompt, 0, 0, logits.back().data()).ok());
  }
  std::filesystem::remove(path);
  CHECK(logits[0] == logits[1]);
  const Diff d = Compare(logits[1].data(), apr_test::ReferenceForward(*ref, kPrompt).back());
  INFO("rel_l2 " << d.rel_l2);
  CHECK(d.rel_l2 <= Tolerance(DType::kQ4_K));
}

TEST_CASE("Prefill as one batch equals token-by-token decode", "[model]") {
  for (DType type : {DType::kF32, DType::kQ4_K, DType::kQ6_K}) {
    auto synth = apr_test::MakeSynthModel(Spec(Architecture::kQwen2, type, 11));
    INFO(synth.file.path);
    auto model = realizar::Model::Create(synth.file, synth.config);
    REQUIRE(model.ok());
    const int V = (*model)->n_vocab();
    std::vector<float> batch(kPrompt.size() * V), step(V);
    REQUIRE((*model)->Forward(kPrompt, 0, 0, batch.data(), true).ok());
    for (size_t t = 0; t < kPrompt.size(); ++t) {
      const int32_t tok[1] = {kPrompt[t]};
      REQUIRE((*model)->Forward(tok, 1, static_cast<int>(t), step.data()).ok());
      // Each (row, token) dot product is computed by the same code in the same order, so the
      // two schedules agree to the last bit; allow 1e-6 for safety.
      for (int i = 0; i < V; ++i) REQUIRE(std::fabs(step[i] - batch[t * V + i]) <= 1e-6);
    }
  }
}

TEST_CASE("Forward can rewind a sequence and sequences do not disturb each other", "[model]") {
  auto synth = apr_test::MakeSynthModel(Spec(Architecture::kLlama, DType::kF32, 3));
  realizar::ModelOptions opt;
  opt.max_context = 64;
  opt.kv_block_size = 4;  // the 9-token prompt spans three blocks
  opt.max_sequences = 3;
  auto model = realizar::Model::Create(synth.file, synth.config, opt);
  REQUIRE(model.ok());
  auto& m = **model;
  const int V = m.n_vocab();
  std::vector<float> a(V), b(V), c(V);
  REQUIRE(m.Forward(kPrompt, 0, 0, a.data()).ok());
  // Another sequence with different tokens in between.
  const std::vector<int32_t> other = {7, 7, 7, 7, 7, 7};
  REQUIRE(m.Forward(other, 1, 0, c.data()).ok());
  // Rewind sequence 0 to position 4 and replay the rest: same logits.
  std::span<const int32_t> tail(kPrompt.data() + 4, kPrompt.size() - 4);
  REQUIRE(m.Forward(tail, 0, 4, b.data()).ok());
  for (int i = 0; i < V; ++i) REQUIRE(a[i] == b[i]);
  CHECK(m.kv_cache().Length(0) == static_cast<int>(kPrompt.size()));
  CHECK(m.kv_cache().BlockTable(0).size() == 3);
}

TEST_CASE("Forward rejects bad token ids, skipped positions and a full context", "[model]") {
  auto synth = apr_test::MakeSynthModel(Spec(Architecture::kLlama, DType::kF32, 5));
  realizar::ModelOptions opt;
  opt.max_context = 8;
  auto model = realizar::Model::Create(synth.file, synth.config, opt);
  REQUIRE(model.ok());
  std::vector<float> logits((*model)->n_vocab());
  const std::vector<int32_t> bad = {1, 96};
  CHECK((*model)->Forward(bad, 0, 0, logits.data()).code() == absl::StatusCode::kInvalidArgument);
  const std::vector<int32_t> two = {1, 2};
  CHECK((*model)->Forward(two, 0, 3, logits.data()).code() == absl::StatusCode::kInvalidArgument);
  CHECK((*model)->Forward(kPrompt, 0, 0, logits.data()).code() ==
        absl::StatusCode::kResourceExhausted);
}

TEST_CASE("Model::Create names a missing or misshapen tensor", "[model]") {
  auto synth = apr_test::MakeSynthModel(Spec(Architecture::kLlama, DType::kF32, 5));
  auto broken = synth.file;
  for (auto& t : broken.tensors) {
    if (t.name == "blk.1.ffn_up.weight") t.name = "blk.1.ffn_up.weight.renamed";
  }
  auto m = realizar::Model::Create(broken, synth.config);
  REQUIRE(!m.ok());
  CHECK(std::string(m.status().message()).find("blk.1.ffn_up.weight") != std::string::npos);
  auto cfg = synth.config;
  cfg.n_ff = 100;
  m = realizar::Model::Create(synth.file, cfg);
  REQUIRE(!m.ok());
  CHECK(std::string(m.status().message()).find("ffn_gate") != std::string::npos);
}
