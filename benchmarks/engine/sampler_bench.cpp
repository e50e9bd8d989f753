// CPU time of Sampler::Sample on a Qwen2-sized vocabulary (151936 logits). The logits are
// seeded normal noise (sd 3) with a few strong tokens on top, roughly the shape of a real
// next-token distribution. Run with --benchmark_counters_tabular=true.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "realizar/sampler.h"

namespace {

constexpr size_t kVocab = 151936;

std::vector<float> MakeLogits() {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> noise(0.0f, 3.0f);
  std::vector<float> l(kVocab);
  for (float& v : l) v = noise(rng);
  for (int i = 0; i < 8; ++i) l[(static_cast<size_t>(i) * 9973) % kVocab] = 14.0f + i;
  return l;
}

void Run(benchmark::State& state, const realizar::SamplerParams& p) {
  const std::vector<float> logits = MakeLogits();
  const std::vector<int32_t> history = {5, 17, 9973, 4, 4, 151935};
  realizar::Sampler s(p);
  int64_t sum = 0;
  for (auto _ : state) {
    sum += s.Sample(logits, history);
  }
  benchmark::DoNotOptimize(sum);
}

void BM_Greedy(benchmark::State& state) {
  realizar::SamplerParams p;
  p.temperature = 0.0f;
  Run(state, p);
}

void BM_Temperature(benchmark::State& state) {  // T only, no filters
  realizar::SamplerParams p;
  p.temperature = 0.8f;
  Run(state, p);
}

void BM_TopP(benchmark::State& state) {  // T + top-p (the OpenAI-style request)
  realizar::SamplerParams p;
  p.temperature = 0.8f;
  p.top_p = 0.95f;
  Run(state, p);
}

void BM_CliDefaults(benchmark::State& state) {  // apr run defaults: top-k 40, top-p .95, min-p .05
  realizar::SamplerParams p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.repetition_penalty = 1.1f;
  Run(state, p);
}

void BM_MinP(benchmark::State& state) {
  realizar::SamplerParams p;
  p.temperature = 0.8f;
  p.min_p = 0.05f;
  Run(state, p);
}

}  // namespace

BENCHMARK(BM_Greedy)->Unit(benchmark::kMicrosecond)->MeasureProcessCPUTime();
BENCHMARK(BM_Temperature)->Unit(benchmark::kMicrosecond)->MeasureProcessCPUTime();
BENCHMARK(BM_TopP)->Unit(benchmark::kMicrosecond)->MeasureProcessCPUTime();
BENCHMARK(BM_CliDefaults)->Unit(benchmark::kMicrosecond)->MeasureProcessCPUTime();
BENCHMARK(BM_MinP)->Unit(benchmark::kMicrosecond)->MeasureProcessCPUTime();
BENCHMARK_MAIN();
