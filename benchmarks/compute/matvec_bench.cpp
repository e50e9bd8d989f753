// MatVec throughput per weight type at qwen2.5-0.5b shapes, reported as GB/s of weight bytes
// read (decode is bound by streaming the weights once per token).
//   matvec_bench --benchmark_filter='q4_K'   (threads are the last argument)
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "trueno/dtype.h"
#include "trueno/half.h"
#include "trueno/kernels.h"
#include "trueno/quant_blocks.h"

namespace {

using trueno::DType;

// Random quant bits with finite block scales (values are irrelevant to speed; NaN/denormal
// floats are not, so float types get normal values).
std::vector<uint8_t> MakeWeights(DType type, int rows, int cols) {
  const auto& tr = trueno::Traits(type);
  const size_t bytes = static_cast<size_t>(rows) * cols / tr.block_elems * tr.block_bytes;
  std::vector<uint8_t> w(bytes);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  if (type == DType::kF32) {
    for (size_t i = 0; i < bytes; i += 4) {
      const float v = normal(rng);
      std::memcpy(&w[i], &v, 4);
    }
    return w;
  }
  if (type == DType::kF16 || type == DType::kBF16) {
    for (size_t i = 0; i < bytes; i += 2) {
      const float v = normal(rng);
      const uint16_t h = type == DType::kF16 ? trueno::Fp32ToFp16(v) : trueno::Fp32ToBf16(v);
      std::memcpy(&w[i], &h, 2);
    }
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const uint16_t d = trueno::Fp32ToFp16(0.01f);
  for (size_t off = 0; off < bytes; off += tr.block_bytes) {
    switch (type) {
      case DType::kQ4_K:
      case DType::kQ5_K:
        std::memcpy(&w[off], &d, 2);
        std::memcpy(&w[off + 2], &d, 2);
        break;
      case DType::kQ6_K:
        std::memcpy(&w[off + offsetof(trueno::BlockQ6_K, d)], &d, 2);
        break;
      default:
        std::memcpy(&w[off], &d, 2);
        break;
    }
  }
  return w;
}

void BM_MatVec(benchmark::State& state, DType type) {
  const int rows = static_cast<int>(state.range(0));
  const int cols = static_cast<int>(state.range(1));
  if (cols % static_cast<int>(trueno::Traits(type).block_elems) != 0) {
    // qwen2.5-0.5b's 896 columns are not a multiple of 256: GGUF files store those tensors in
    // a legacy type (llama.cpp falls back from q4_K/q5_K/q6_K to q5_0/q5_1/q8_0).
    state.SkipWithError("cols is not a multiple of the block size");
    return;
  }
  trueno::SetNumThreads(static_cast<int>(state.range(2)));
  const auto w = MakeWeights(type, rows, cols);
  std::vector<float> x(cols), y(rows);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  for (auto _ : state) {
    if (!trueno::MatVec(type, w.data(), rows, cols, x.data(), y.data()).ok()) {
      state.SkipWithError("MatVec failed");
      break;
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(w.size()));
  state.SetLabel(trueno::ActiveSimdTarget());
  trueno::SetNumThreads(0);
}

void Shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"rows", "cols", "threads"});
  for (int threads : {1, 2}) {
    b->Args({896, 896, threads});
    b->Args({4864, 896, threads});
    b->Args({896, 4864, threads});
  }
  b->UseRealTime();
}

#define APR_MATVEC_BENCH(name, type) BENCHMARK_CAPTURE(BM_MatVec, name, type)->Apply(Shapes)

APR_MATVEC_BENCH(f32, DType::kF32);
APR_MATVEC_BENCH(f16, DType::kF16);
APR_MATVEC_BENCH(bf16, DType::kBF16);
APR_MATVEC_BENCH(q8_0, DType::kQ8_0);
APR_MATVEC_BENCH(q4_0, DType::kQ4_0);
APR_MATVEC_BENCH(q4_1, DType::kQ4_1);
APR_MATVEC_BENCH(q5_0, DType::kQ5_0);
APR_MATVEC_BENCH(q5_1, DType::kQ5_1);
APR_MATVEC_BENCH(q4_K, DType::kQ4_K);
APR_MATVEC_BENCH(q5_K, DType::kQ5_K);
APR_MATVEC_BENCH(q6_K, DType::kQ6_K);

// The tied output head of qwen2.5-0.5b q4_k_m (Q8_0 fallback, 151936 x 896, 145 MB): the single
// largest matvec of a decode step, and too big for any cache.
BENCHMARK_CAPTURE(BM_MatVec, head_q8_0, DType::kQ8_0)
    ->ArgNames({"rows", "cols", "threads"})
    ->Args({151936, 896, 1})
    ->Args({151936, 896, 2})
    ->UseRealTime();

// A decode batch (or prefill tile): MatMul of `tokens` activation rows, one thread. The weight
// matrix is read once for all tokens; the figure to compare is CPU time per token.
void BM_MatMulTokens(benchmark::State& state, DType type) {
  const int rows = 4864, cols = 896, tokens = static_cast<int>(state.range(0));
  trueno::SetNumThreads(1);
  const auto w = MakeWeights(type, rows, cols);
  std::vector<float> x(static_cast<size_t>(cols) * tokens), y(static_cast<size_t>(rows) * tokens);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  for (auto _ : state) {
    if (!trueno::MatMul(type, w.data(), rows, cols, x.data(), tokens, y.data()).ok()) {
      state.SkipWithError("MatMul failed");
      break;
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * tokens);
  trueno::SetNumThreads(0);
}
BENCHMARK_CAPTURE(BM_MatMulTokens, q5_0, DType::kQ5_0)->ArgName("tokens")->Arg(1)->Arg(8);
BENCHMARK_CAPTURE(BM_MatMulTokens, q8_0, DType::kQ8_0)->ArgName("tokens")->Arg(1)->Arg(8);

// Greedy sampling's argmax over a Qwen-sized vocabulary.
void BM_ArgMax(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  for (auto _ : state) benchmark::DoNotOptimize(trueno::ArgMax(x.data(), n));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n) * 4);
  state.SetLabel(trueno::ActiveSimdTarget());
}
BENCHMARK(BM_ArgMax)->Arg(151936);

// One decode step's attention for one query head of qwen2.5-0.5b (head_dim 64, 2 KV heads) over
// `ctx` cached positions in blocks of 16, f32 or f16 cache. A step runs 14 heads x 24 layers.
void BM_AttendHead(benchmark::State& state, DType kv_type) {
  const int ctx = static_cast<int>(state.range(0));
  const int hd = 64, kv_dim = 128, bs = 16;
  const int n_blocks = (ctx + bs - 1) / bs;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> kf(static_cast<size_t>(n_blocks) * bs * kv_dim), vf(kf.size());
  for (auto& x : kf) x = dist(rng);
  for (auto& x : vf) x = dist(rng);
  std::vector<uint16_t> kh(kf.size()), vh(kf.size());
  trueno::Fp32ToFp16Row(kf.data(), kh.data(), static_cast<int>(kf.size()));
  trueno::Fp32ToFp16Row(vf.data(), vh.data(), static_cast<int>(vf.size()));
  std::vector<int> table(n_blocks);
  for (int b = 0; b < n_blocks; ++b) table[b] = (b * 7) % n_blocks;  // scrambled when coprime
  std::vector<float> q(hd), scores(ctx), out(hd);
  for (auto& x : q) x = dist(rng);
  const bool f16 = kv_type == DType::kF16;
  const void* kb = f16 ? static_cast<const void*>(kh.data()) : kf.data();
  const void* vb = f16 ? static_cast<const void*>(vh.data()) : vf.data();
  for (auto _ : state) {
    trueno::AttendHead(q.data(), hd, kv_type, kb, vb, table.data(), bs, kv_dim, ctx, 0.125f,
                       scores.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * ctx);
}
BENCHMARK_CAPTURE(BM_AttendHead, f32, DType::kF32)->ArgName("ctx")->Arg(128)->Arg(600);
BENCHMARK_CAPTURE(BM_AttendHead, f16, DType::kF16)->ArgName("ctx")->Arg(128)->Arg(600);

}  // namespace

BENCHMARK_MAIN();
