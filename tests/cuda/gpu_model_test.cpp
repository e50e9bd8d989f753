// The GPU graph (ModelOptions::Backend::kGpu) on synthesized llama / qwen2 models, for every
// weight type the CUDA matmul supports, against (a) the float64 reference forward of
// tests/engine and (b) the CPU graph.
//
// (a) max|Δlogit| ≤ 1e-2·max|logit_ref| at every position of the prompt and of 32 greedy steps,
//     and the same 32 greedy tokens as the reference. The GPU dequantizes the stored weights
//     exactly like the reference and keeps activations in float32 for batches of ≤ 8 rows; larger
//     batches (the 9-token prompt) multiply f16-rounded operands (relative rounding 2^-11 per
//     operand), so its error is ~1e-3 of the logit scale: 1e-2 leaves a wide margin. Q4_K and
//     Q6_K decode with 8-bit activations (trueno::cuda::MatMulQuantizesActivations: ~0.5 %
//     relative per product, as on the CPU), so they are held to the CPU's 3e-2 and their
//     steps are teacher-forced: where the GPU's argmax differs from the reference token, the
//     reference must rate the two within that bound (a near tie), and the reference token is fed.
// (b) GPU vs CPU: the CPU multiplies quantized weights with 8-bit quantized activations and is
//     itself held to 3e-2 relative L2 of the reference for those types (tests/engine/model_test),
//     so the bound is 3e-2·max|logit| there and 5e-3 for float weights (f16 GEMM operands on the
//     GPU side for the prompt). Where the GPU quantizes activations too (Q4_K, Q6_K decode), the
//     two independent quantization errors add: each side is within 3e-2 of the float64
//     reference (test (a), model_test), so the two are within 6e-2 of each other. Free-running
//     greedy tokens must be identical for float weights.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "../engine/reference_forward.h"
#include "../engine/synth_model.h"
#include "gpu_test_util.h"
#include "realizar/model.h"
#include "trueno/cuda.h"

namespace {

using aprender::Architecture;
using realizar::Model;
using realizar::ModelOptions;
using trueno::DType;

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

bool FloatWeights(DType type) {
  return type == DType::kF32 || type == DType::kF16 || type == DType::kBF16;
}

std::unique_ptr<Model> Make(const apr_test::SynthSpec& spec, ModelOptions::Backend backend,
                            int max_sequences = 1) {
  auto synth = apr_test::MakeSynthModel(spec);
  ModelOptions o;
  o.backend = backend;
  o.max_context = 128;
  o.max_sequences = max_sequences;
  auto m = Model::Create(std::move(synth.file), synth.config, o);
  REQUIRE(m.ok());
  return std::move(*m);
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, std::fabs(double(x)));
  return m;
}

void CheckLogits(const std::vector<float>& gpu, const std::vector<float>& cpu, double tol) {
  REQUIRE(gpu.size() == cpu.size());
  double err = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    REQUIRE(std::isfinite(gpu[i]));
    err = std::max(err, std::fabs(double(gpu[i]) - double(cpu[i])));
  }
  const double bound = tol * MaxAbs(cpu);
  INFO("max|Δ| " << err << " bound " << bound);
  CHECK(err <= bound);
}

int32_t Argmax(const std::vector<float>& v, size_t offset, size_t n) {
  return static_cast<int32_t>(std::max_element(v.begin() + offset, v.begin() + offset + n) -
                              (v.begin() + offset));
}

const std::vector<int32_t> kPrompt = {5, 17, 3, 88, 42, 42, 9, 60, 1};

std::vector<DType> GpuTypes() {
  std::vector<DType> types;
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K,
                  DType::kQ5_K, DType::kQ6_K}) {
    if (trueno::cuda::MatMulSupports(t)) types.push_back(t);
  }
  return types;
}

}  // namespace

TEST_CASE(
    "GPU logits stay within 1e-2 of the float64 reference and greedy decoding picks the "
    "reference's 32 tokens, every weight type") {
  APR_REQUIRE_GPU();
  for (Architecture arch : {Architecture::kLlama, Architecture::kQwen2}) {
    for (DType type : GpuTypes()) {
      const auto spec = Spec(arch, type, 40 + static_cast<uint32_t>(type));
      INFO("arch " << (arch == Architecture::kQwen2 ? "qwen2" : "llama") << " type "
                   << trueno::DTypeName(type) << " seed " << spec.seed);
      auto synth = apr_test::MakeSynthModel(spec);
      auto ref = apr_test::LoadRefModel(synth.file, synth.config);
      REQUIRE(ref.ok());
      auto gpu = Make(spec, ModelOptions::Backend::kGpu);
      REQUIRE(gpu->on_gpu());
      const int V = gpu->n_vocab();
      const std::vector<int32_t> want_tokens = apr_test::ReferenceGreedy(*ref, kPrompt, 32);
      std::vector<int32_t> seq = kPrompt;
      seq.insert(seq.end(), want_tokens.begin(), want_tokens.end());
      const auto want = apr_test::ReferenceForward(*ref, seq);
      const bool q8 = trueno::cuda::MatMulQuantizesActivations(type, 1);
      const double tol = q8 ? 3e-2 : 1e-2;
      auto check = [&](const float* got, size_t pos) {
        double err = 0, scale = 0;
        for (int i = 0; i < V; ++i) {
          REQUIRE(std::isfinite(got[i]));
          err = std::max(err, std::fabs(got[i] - want[pos][i]));
          scale = std::max(scale, std::fabs(want[pos][i]));
        }
        INFO("position " << pos << " max|Δ| " << err << " max|ref| " << scale);
        CHECK(err <= tol * scale);
        return scale;
      };
      std::vector<float> lg(kPrompt.size() * V, std::nanf(""));
      REQUIRE(gpu->Forward(kPrompt, 0, 0, lg.data(), true).ok());
      for (size_t t = 0; t < kPrompt.size(); ++t) check(lg.data() + t * V, t);
      std::vector<float> last(lg.end() - V, lg.end());
      double scale = MaxAbs(last);
      for (int step = 0; step < 32; ++step) {
        const int32_t tok = Argmax(last, 0, V);
        const int pos = static_cast<int>(kPrompt.size()) + step;
        const std::vector<double>& ref_row = want[static_cast<size_t>(pos) - 1];
        INFO("step " << step << " gpu token " << tok << " reference token " << want_tokens[step]);
        if (q8) {
          CHECK(ref_row[want_tokens[step]] - ref_row[tok] <= tol * scale);
        } else {
          REQUIRE(tok == want_tokens[step]);
        }
        std::fill(last.begin(), last.end(), std::nanf(""));
        REQUIRE(gpu->Forward({&want_tokens[step], 1}, 0, pos, last.data()).ok());
        scale = check(last.data(), static_cast<size_t>(pos));
      }
    }
  }
}

TEST_CASE(
    "GPU logits match the CPU graph within the per-type bound; float weights decode the "
    "same 32 greedy tokens") {
  APR_REQUIRE_GPU();
  for (Architecture arch : {Architecture::kLlama, Architecture::kQwen2}) {
    for (DType type : GpuTypes()) {
      const auto spec = Spec(arch, type, 7);
      INFO("arch " << (arch == Architecture::kQwen2 ? "qwen2" : "llama") << " type "
                   << trueno::DTypeName(type));
      auto cpu = Make(spec, ModelOptions::Backend::kCpu);
      auto gpu = Make(spec, ModelOptions::Backend::kGpu);
      REQUIRE(gpu->on_gpu());
      REQUIRE_FALSE(cpu->on_gpu());
      const double tol = FloatWeights(type)                                  ? 5e-3
                         : trueno::cuda::MatMulQuantizesActivations(type, 1) ? 6e-2
                                                                             : 3e-2;
      const int V = cpu->n_vocab();
      std::vector<float> lc(kPrompt.size() * V), lg(kPrompt.size() * V, std::nanf(""));
      REQUIRE(cpu->Forward(kPrompt, 0, 0, lc.data(), true).ok());
      REQUIRE(gpu->Forward(kPrompt, 0, 0, lg.data(), true).ok());
      CheckLogits(lg, lc, tol);
      std::vector<float> last_c(lc.end() - V, lc.end()), last_g(lg.end() - V, lg.end());
      int32_t tc = Argmax(last_c, 0, V), tg = Argmax(last_g, 0, V);
      int pos = static_cast<int>(kPrompt.size());
      for (int step = 0; step < 32; ++step, ++pos) {
        INFO("step " << step << " cpu token " << tc << " (" << last_c[tc] << " vs " << last_c[tg]
                     << ") gpu token " << tg);
        if (FloatWeights(type)) {
          REQUIRE(tc == tg);
        } else {
          tg = tc;  // teacher-forced: near-ties may differ within the CPU's own error
        }
        REQUIRE(cpu->Forward({&tc, 1}, 0, pos, last_c.data()).ok());
        std::fill(last_g.begin(), last_g.end(), std::nanf(""));
        REQUIRE(gpu->Forward({&tg, 1}, 0, pos, last_g.data()).ok());
        CheckLogits(last_g, last_c, tol);
        tc = Argmax(last_c, 0, V);
        tg = Argmax(last_g, 0, V);
      }
    }
  }
}

TEST_CASE("GPU ForwardBatch of N sequences equals N single-sequence GPU runs") {
  APR_REQUIRE_GPU();
  for (DType type : {DType::kF32, DType::kQ4_K}) {
    if (!trueno::cuda::MatMulSupports(type)) continue;
    const auto spec = Spec(Architecture::kQwen2, type, 3);
    INFO("type " << trueno::DTypeName(type));
    auto batched = Make(spec, ModelOptions::Backend::kGpu, 4);
    auto single = Make(spec, ModelOptions::Backend::kGpu, 1);
    const int V = batched->n_vocab();
    // Four sequences with different prompt lengths (so different positions in one batch).
    const std::vector<std::vector<int32_t>> prompts = {
        {1, 2, 3}, {50, 60, 70, 80, 90, 11, 12}, {7}, {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 4}};
    std::vector<int32_t> next;
    std::vector<int> seqs, positions;
    std::vector<float> logits(V);
    for (int s = 0; s < 4; ++s) {
      REQUIRE(batched->Forward(prompts[s], s, 0, logits.data()).ok());
      next.push_back(Argmax(logits, 0, V));
      seqs.push_back(s);
      positions.push_back(static_cast<int>(prompts[s].size()));
    }
    std::vector<float> batch_logits(4 * V, std::nanf(""));
    REQUIRE(batched->ForwardBatch(next, seqs, positions, batch_logits.data()).ok());
    for (int s = 0; s < 4; ++s) {
      // The same sequence alone: its prompt, then one decode step.
      std::vector<float> want(V);
      single->kv_cache().FreeSequence(0);
      REQUIRE(single->Forward(prompts[s], 0, 0, want.data()).ok());
      REQUIRE(
          single->Forward({&next[s], 1}, 0, static_cast<int>(prompts[s].size()), want.data()).ok());
      std::vector<float> got(batch_logits.begin() + s * V, batch_logits.begin() + (s + 1) * V);
      INFO("sequence " << s);
      // Same device, same weights, same prompt kernels; the step differs only in the batch
      // shape (matvec over 4 rows vs 1, attention split per row count): float32 rounding.
      CheckLogits(got, want, 1e-4);
    }
  }
}

TEST_CASE("GPU ForwardSegments: prompt chunks and decode tokens in one step equal single runs") {
  APR_REQUIRE_GPU();
  using Segment = Model::Segment;
  // The reference replays each sequence alone: its first prompt in one Forward, exactly as the
  // mixed model prefilled it (a 9-token prompt takes the 9+-row kernels, whose rounding differs
  // from single rows by more than this test's bound; their accuracy is checked against the
  // float64 reference elsewhere), then one token at a time (single-row kernels, f32 or
  // 8-bit activations). The mixed steps have 12 rows: f32 weights then multiply f16-rounded
  // operands (cuBLAS; ~1e-3 of the logit scale, bound 5e-3 as for the CPU comparison above),
  // K types run integer tensor-core sums over the same 8-bit activations (1e-3, as in the
  // 9-64-row test below).
  for (DType type : {DType::kF32, DType::kQ4_K}) {
    if (!trueno::cuda::MatMulSupports(type)) continue;
    INFO("type " << trueno::DTypeName(type));
    const double tol = type == DType::kF32 ? 5e-3 : 1e-3;
    const auto spec = Spec(Architecture::kQwen2, type, 5);
    auto mixed = Make(spec, ModelOptions::Backend::kGpu, 8);
    auto single = Make(spec, ModelOptions::Backend::kGpu, 1);
    const int V = mixed->n_vocab();
    std::vector<size_t> prefilled(64, 1);
    auto replay_seq = [&](const std::vector<int32_t>& hist, size_t first) {
      std::vector<float> out(V);
      single->kv_cache().FreeSequence(0);
      REQUIRE(single->Forward({hist.data(), first}, 0, 0, out.data()).ok());
      for (size_t i = first; i < hist.size(); ++i) {
        REQUIRE(single->Forward({&hist[i], 1}, 0, static_cast<int>(i), out.data()).ok());
      }
      return out;
    };
    std::vector<std::vector<int32_t>> hist(64);
    auto replay = [&](int seq) { return replay_seq(hist[seq], prefilled[seq]); };
    auto row = [&](const std::vector<float>& all, int r) {
      return std::vector<float>(all.begin() + static_cast<size_t>(r) * V,
                                all.begin() + static_cast<size_t>(r + 1) * V);
    };
    auto tokens = [](int n, int32_t base) {
      std::vector<int32_t> t(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) t[i] = static_cast<int32_t>((base + 7 * i) % 60 + 1);
      return t;
    };
    std::vector<float> logits(V);
    hist[3] = tokens(5, 3);
    hist[7] = tokens(9, 17);
    prefilled[3] = hist[3].size();
    prefilled[7] = hist[7].size();
    REQUIRE(mixed->Forward(hist[3], 3, 0, logits.data()).ok());
    REQUIRE(mixed->Forward(hist[7], 7, 0, logits.data()).ok());

    // Step 1, the scheduler's layout: chunks of several tokens first (tiled prefill attention),
    // then single rows (decode attention); the logits rows 5, 10, 11 are gathered for the head.
    const auto p11 = tokens(6, 29), c7 = tokens(4, 41), p42 = tokens(1, 5), d3 = tokens(1, 9);
    const std::vector<Segment> step1 = {
        {11, 0, p11, true}, {7, 9, c7, false}, {42, 0, p42, true}, {3, 5, d3, true}};
    // Into the model's page-locked logits buffer, as the scheduler does.
    float* pinned = mixed->LogitsBuffer(3);
    std::fill_n(pinned, 3 * static_cast<size_t>(V), std::nanf(""));
    REQUIRE(mixed->ForwardSegments(step1, pinned).ok());
    std::vector<float> got(pinned, pinned + 3 * static_cast<size_t>(V));
    hist[11] = p11;
    hist[7].insert(hist[7].end(), c7.begin(), c7.end());
    hist[42] = p42;
    hist[3].push_back(d3[0]);
    {
      INFO("step 1, sequence 11");
      CheckLogits(row(got, 0), replay(11), tol);
    }
    {
      INFO("step 1, sequence 42");
      CheckLogits(row(got, 1), replay(42), tol);
    }
    {
      INFO("step 1, sequence 3");
      CheckLogits(row(got, 2), replay(3), tol);
    }

    // Step 2, another layout: a single row before a chunk (every row through the decode
    // attention), attending to step 1's K/V, 7's logit-less chunk included.
    const auto d3b = tokens(1, 13), c11 = tokens(3, 51), d7 = tokens(1, 23);
    const std::vector<Segment> step2 = {{3, 6, d3b, true}, {11, 6, c11, true}, {7, 13, d7, true}};
    got.assign(3 * static_cast<size_t>(V), std::nanf(""));
    REQUIRE(mixed->ForwardSegments(step2, got.data()).ok());
    hist[3].push_back(d3b[0]);
    hist[11].insert(hist[11].end(), c11.begin(), c11.end());
    hist[7].push_back(d7[0]);
    const int order[] = {3, 11, 7};
    for (int r = 0; r < 3; ++r) {
      INFO("step 2, sequence " << order[r]);
      CheckLogits(row(got, r), replay(order[r]), tol);
    }
  }
}

TEST_CASE("a graph captured before a larger batch grew the kernel scratch is captured again") {
  APR_REQUIRE_GPU();
  // Single steps capture the 1-row graph; an 8-row step then runs eagerly and grows the scratch
  // buffers (8-bit activations, attention partials), freeing the ones the 1-row graph holds.
  // The next single steps must not replay the stale graph: their logits must equal those of a
  // model that only ever ran single steps. (The apr serve GPU crash of 2026-12-04.)
  const auto spec = Spec(Architecture::kQwen2, DType::kQ4_K, 11);
  auto mixed = Make(spec, ModelOptions::Backend::kGpu, 8);
  auto single = Make(spec, ModelOptions::Backend::kGpu, 1);
  const int V = mixed->n_vocab();
  const std::vector<int32_t> prompt = {4, 8, 15, 16, 23, 42};
  std::vector<float> got(V), want(V);
  REQUIRE(mixed->Forward(prompt, 0, 0, got.data()).ok());
  REQUIRE(single->Forward(prompt, 0, 0, want.data()).ok());
  int pos = static_cast<int>(prompt.size());
  auto step_both = [&](int32_t tok) {
    REQUIRE(mixed->Forward({&tok, 1}, 0, pos, got.data()).ok());
    REQUIRE(single->Forward({&tok, 1}, 0, pos, want.data()).ok());
    ++pos;
    CheckLogits(got, want, 1e-4);
  };
  for (int i = 0; i < 3; ++i) step_both(static_cast<int32_t>(10 + i));
  // Seven more sequences, then one 8-row step over all of them (sequence 0 included).
  std::vector<int32_t> toks = {20};
  std::vector<int> seqs = {0}, positions = {pos};
  for (int s = 1; s < 8; ++s) {
    std::vector<int32_t> p = {static_cast<int32_t>(s), 3, 5};
    REQUIRE(mixed->Forward(p, s, 0, got.data()).ok());
    toks.push_back(static_cast<int32_t>(30 + s));
    seqs.push_back(s);
    positions.push_back(3);
  }
  std::vector<float> batch(8 * static_cast<size_t>(V));
  REQUIRE(mixed->ForwardBatch(toks, seqs, positions, batch.data()).ok());
  REQUIRE(single->Forward({&toks[0], 1}, 0, pos, want.data()).ok());
  ++pos;
  CheckLogits(std::vector<float>(batch.begin(), batch.begin() + V), want, 1e-4);
  for (int i = 0; i < 4; ++i) step_both(static_cast<int32_t>(40 + i));
}

TEST_CASE("kAuto falls back to the CPU with a reason; --gpu-layers 0 stays on the CPU") {
  const auto spec = Spec(Architecture::kLlama, DType::kF32, 1);
  auto synth = apr_test::MakeSynthModel(spec);
  ModelOptions o;
  o.backend = ModelOptions::Backend::kAuto;
  o.gpu_layers = 0;
  auto m = Model::Create(std::move(synth.file), synth.config, o);
  REQUIRE(m.ok());
  CHECK_FALSE((*m)->on_gpu());
  CHECK((*m)->backend_description() == "cpu (GPU not used: --gpu-layers 0)");
  if (trueno::cuda::Compiled() && trueno::cuda::DeviceCount() > 0) return;
  // No GPU: kAuto runs on the CPU and says why; kGpu fails naming the flag.
  auto synth2 = apr_test::MakeSynthModel(spec);
  o.gpu_layers = -1;
  auto m2 = Model::Create(std::move(synth2.file), synth2.config, o);
  REQUIRE(m2.ok());
  CHECK_FALSE((*m2)->on_gpu());
  CHECK((*m2)->backend_description().find("cpu (GPU not used: ") == 0);
  auto synth3 = apr_test::MakeSynthModel(spec);
  o.backend = ModelOptions::Backend::kGpu;
  auto m3 = Model::Create(std::move(synth3.file), synth3.config, o);
  REQUIRE_FALSE(m3.ok());
  CHECK(std::string(m3.status().message()).find("leave out --gpu") != std::string::npos);
}

TEST_CASE("partial offload (--gpu-layers N < layers) matches the CPU graph") {
  APR_REQUIRE_GPU();
  // The first layers and the embedding run on the CPU, the last N and the head on the GPU; the
  // bounds are those of the whole-GPU comparison above (the GPU part computes what it computes
  // there, from the CPU's hidden states).
  for (DType type : {DType::kF32, DType::kQ4_K}) {
    for (int gpu_layers : {1, 3, 4, 99}) {
      INFO("type " << trueno::DTypeName(type) << " gpu_layers " << gpu_layers);
      auto spec = Spec(Architecture::kQwen2, type, 31);
      spec.n_layers = 4;
      auto make = [&](ModelOptions::Backend backend, int layers) {
        auto synth = apr_test::MakeSynthModel(spec);
        ModelOptions o;
        o.backend = backend;
        o.gpu_layers = layers;
        o.max_context = 64;
        o.max_sequences = 3;
        auto m = Model::Create(std::move(synth.file), synth.config, o);
        REQUIRE(m.ok());
        return std::move(*m);
      };
      auto cpu = make(ModelOptions::Backend::kCpu, -1);
      auto part = make(ModelOptions::Backend::kGpu, gpu_layers);
      REQUIRE(part->on_gpu());
      const std::string desc = part->backend_description();
      INFO(desc);
      CHECK((desc.find("partial offload: layers ") != std::string::npos) == (gpu_layers < 4));
      if (gpu_layers == 1)
        CHECK(desc.find("layers 3-3 and the head on the GPU") != std::string::npos);
      const double tol = FloatWeights(type) ? 5e-3 : 6e-2;
      const int V = cpu->n_vocab();
      std::vector<float> lc(kPrompt.size() * V), lg(kPrompt.size() * V, std::nanf(""));
      REQUIRE(cpu->Forward(kPrompt, 0, 0, lc.data(), true).ok());
      REQUIRE(part->Forward(kPrompt, 0, 0, lg.data(), true).ok());
      CheckLogits(lg, lc, tol);
      std::vector<float> last(lc.end() - V, lc.end()), got(V);
      int32_t tok = Argmax(last, 0, V);
      int pos = static_cast<int>(kPrompt.size());
      for (int step = 0; step < 8; ++step, ++pos) {  // decode, teacher-forced by the CPU
        INFO("step " << step);
        REQUIRE(cpu->Forward({&tok, 1}, 0, pos, last.data()).ok());
        std::fill(got.begin(), got.end(), std::nanf(""));
        REQUIRE(part->Forward({&tok, 1}, 0, pos, got.data()).ok());
        CheckLogits(got, last, tol);
        tok = Argmax(last, 0, V);
      }
      // A batch step over three sequences at different positions.
      std::vector<int32_t> toks = {tok};
      std::vector<int> seqs = {0}, positions = {pos};
      for (int s = 1; s < 3; ++s) {
        const std::vector<int32_t> p = {static_cast<int32_t>(s + 2), 5, 7, 11};
        std::vector<float> tmp(V);
        REQUIRE(cpu->Forward(p, s, 0, tmp.data()).ok());
        REQUIRE(part->Forward(p, s, 0, tmp.data()).ok());
        toks.push_back(static_cast<int32_t>(20 + s));
        seqs.push_back(s);
        positions.push_back(4);
      }
      std::vector<float> bc(3 * static_cast<size_t>(V)), bg(bc.size(), std::nanf(""));
      REQUIRE(cpu->ForwardBatch(toks, seqs, positions, bc.data()).ok());
      REQUIRE(part->ForwardBatch(toks, seqs, positions, bg.data()).ok());
      CheckLogits(bg, bc, tol);
    }
  }
}

TEST_CASE("decode steps replayed from CUDA graphs equal eagerly launched steps") {
  APR_REQUIRE_GPU();
  const auto spec = Spec(Architecture::kQwen2, DType::kQ8_0, 5);
  auto graphs = Make(spec, ModelOptions::Backend::kGpu);
  setenv("APR_CUDA_GRAPHS", "0", 1);
  auto eager = Make(spec, ModelOptions::Backend::kGpu);
  unsetenv("APR_CUDA_GRAPHS");
  const int V = graphs->n_vocab();
  std::vector<float> a(V), b(V);
  REQUIRE(graphs->Forward(kPrompt, 0, 0, a.data()).ok());
  REQUIRE(eager->Forward(kPrompt, 0, 0, b.data()).ok());
  int32_t tok = Argmax(b, 0, V);
  for (int step = 0; step < 40; ++step) {  // past the first KV block boundaries
    const int pos = static_cast<int>(kPrompt.size()) + step;
    std::fill(a.begin(), a.end(), std::nanf(""));
    REQUIRE(graphs->Forward({&tok, 1}, 0, pos, a.data()).ok());
    REQUIRE(eager->Forward({&tok, 1}, 0, pos, b.data()).ok());
    INFO("step " << step);
    // Only the attention chunking differs (sized for the whole context in the graph).
    CheckLogits(a, b, 1e-5);
    tok = Argmax(b, 0, V);
  }
}

TEST_CASE("GPU batches of 9-64 rows (int8 tensor cores, graphs) equal single-sequence runs") {
  APR_REQUIRE_GPU();
  // Decode steps of 9..64 rows multiply the K-type weights on tensor cores (integer sums over
  // the same 8-bit activations as the single-row dp4a kernels), and such steps replay CUDA
  // graphs when every product takes that path. Against single-sequence runs the integer sums are
  // exact; what differs is float32 summation order, and through it, rarely, the rounding of an
  // activation at a tie in a later layer (one q off by 1 moves a product by ~1/127 of one term):
  // 1e-3 of the logit scale.
  trueno::cuda::SetMatMulInt8MaxTokens(64);  // the kernel's whole range (default: 16 rows)
  for (DType type : {DType::kQ4_K, DType::kQ6_K}) {
    if (!trueno::cuda::MatMulQuantizesActivations(type, 20)) continue;
    INFO("type " << trueno::DTypeName(type));
    const auto spec = Spec(Architecture::kQwen2, type, 21);
    constexpr int kSeqs = 40;
    auto batched = Make(spec, ModelOptions::Backend::kGpu, kSeqs);
    setenv("APR_CUDA_GRAPHS", "0", 1);
    auto eager = Make(spec, ModelOptions::Backend::kGpu, kSeqs);
    unsetenv("APR_CUDA_GRAPHS");
    auto single = Make(spec, ModelOptions::Backend::kGpu, 1);
    const int V = batched->n_vocab();
    std::vector<std::vector<int32_t>> hist(kSeqs);
    std::vector<float> logits(V);
    for (int s = 0; s < kSeqs; ++s) {
      hist[s] = {static_cast<int32_t>(s + 1), 7, static_cast<int32_t>(3 * s % 50 + 2)};
      hist[s].resize(3 + s % 5, 9);  // different lengths: different positions in one batch
      REQUIRE(batched->Forward(hist[s], s, 0, logits.data()).ok());
      REQUIRE(eager->Forward(hist[s], s, 0, logits.data()).ok());
      hist[s].push_back(Argmax(logits, 0, V));
    }
    // Steps of 20, 20 (a graph replay), 40 and 9 rows.
    for (int rows : {20, 20, 40, 9}) {
      INFO("rows " << rows);
      std::vector<int32_t> toks;
      std::vector<int> seqs, positions;
      for (int s = 0; s < rows; ++s) {
        toks.push_back(hist[s].back());
        seqs.push_back(s);
        positions.push_back(static_cast<int>(hist[s].size()) - 1);
      }
      std::vector<float> got(static_cast<size_t>(rows) * V, std::nanf(""));
      std::vector<float> ref(got.size(), std::nanf(""));
      REQUIRE(batched->ForwardBatch(toks, seqs, positions, got.data()).ok());
      REQUIRE(eager->ForwardBatch(toks, seqs, positions, ref.data()).ok());
      for (int s = 0; s < rows; s += 7) {  // a sample of the rows against single runs
        INFO("sequence " << s);
        std::vector<float> want(V);
        single->kv_cache().FreeSequence(0);
        REQUIRE(single->Forward(hist[s], 0, 0, want.data()).ok());
        const std::vector<float> row(got.begin() + static_cast<size_t>(s) * V,
                                     got.begin() + static_cast<size_t>(s + 1) * V);
        CheckLogits(row, want, 1e-3);
      }
      // Graph replay vs eager launches of the same step: attention chunking only (and through
      // it, as above, a rare activation rounding tie).
      CheckLogits(got, ref, 1e-4);
      for (int s = 0; s < rows; ++s) {
        hist[s].push_back(Argmax(got, static_cast<size_t>(s) * V, V));
      }
    }
  }
  trueno::cuda::SetMatMulInt8MaxTokens(16);
}
