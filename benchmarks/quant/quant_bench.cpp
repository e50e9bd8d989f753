// Scalar reference quantize/dequantize throughput per type.
//   Dequantize/<type>: scalar reference; bytes = float32 output written (GB/s of f32).
//   DequantizeFast/<type>: DequantizeRowFast (Highway kernels for the hot types).
//   Quantize/<type>:   bytes = float32 input read.
// Rows of 4096 elements (a typical hidden size), 256 rows per iteration (1M elements).
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "trueno/quantize.h"

namespace {

using trueno::DType;

constexpr size_t kRow = 4096;
constexpr size_t kRows = 256;

std::vector<float> RandomWeights() {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> x(kRow * kRows);
  for (auto& v : x) v = dist(rng);
  return x;
}

size_t RowBytes(DType t) {
  const auto& tr = trueno::Traits(t);
  return kRow / tr.block_elems * tr.block_bytes;
}

void BM_Dequantize(benchmark::State& state, DType t, bool fast) {
  const auto x = RandomWeights();
  std::vector<uint8_t> q(RowBytes(t) * kRows);
  for (size_t r = 0; r < kRows; ++r) {
    if (!trueno::QuantizeRow(t, x.data() + r * kRow, q.data() + r * RowBytes(t), kRow).ok()) {
      state.SkipWithError("quantize failed");
      return;
    }
  }
  std::vector<float> y(kRow);
  for (auto _ : state) {
    for (size_t r = 0; r < kRows; ++r) {
      auto s = fast ? trueno::DequantizeRowFast(t, q.data() + r * RowBytes(t), y.data(), kRow)
                    : trueno::DequantizeRow(t, q.data() + r * RowBytes(t), y.data(), kRow);
      benchmark::DoNotOptimize(s);
      benchmark::DoNotOptimize(y.data());
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRow * kRows * sizeof(float)));
}

void BM_Quantize(benchmark::State& state, DType t) {
  const auto x = RandomWeights();
  std::vector<uint8_t> q(RowBytes(t));
  for (auto _ : state) {
    for (size_t r = 0; r < kRows; ++r) {
      auto s = trueno::QuantizeRow(t, x.data() + r * kRow, q.data(), kRow);
      benchmark::DoNotOptimize(s);
      benchmark::DoNotOptimize(q.data());
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRow * kRows * sizeof(float)));
}

}  // namespace

int main(int argc, char** argv) {
  const DType kTypes[] = {DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                          DType::kQ5_1, DType::kQ8_0, DType::kQ8_1, DType::kQ2_K, DType::kQ3_K,
                          DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_K};
  for (DType t : kTypes) {
    const std::string name(trueno::DTypeName(t));
    benchmark::RegisterBenchmark(("Dequantize/" + name).c_str(), BM_Dequantize, t, false)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("DequantizeFast/" + name).c_str(), BM_Dequantize, t, true)
        ->Unit(benchmark::kMicrosecond);
  }
  for (DType t : kTypes) {
    const std::string name(trueno::DTypeName(t));
    benchmark::RegisterBenchmark(("Quantize/" + name).c_str(), BM_Quantize, t)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
