// Q2_K / Q3_K MatVec and MatMul on every compiled Highway target against a float64 dot product
// of the dequantized weights (trueno::DequantizeRow, an independent element-wise decoder) with
// the unquantized activations, and against the kernels' scalar reference.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/matvec_lowk.h"
#include "hwy/targets.h"
#include "trueno/half.h"
#include "trueno/kernels.h"
#include "trueno/quant_blocks.h"
#include "trueno/quantize.h"

namespace {

using trueno::DType;

constexpr uint32_t kSeed = 20261126;

void PutHalf(uint8_t* p, float v) {
  const uint16_t h = trueno::Fp32ToFp16(v);
  std::memcpy(p, &h, 2);
}

// Random Q2_K / Q3_K rows: every quant, high-bit and scale byte uniformly random, block scales
// d (and dmin) finite and of a realistic size.
std::vector<uint8_t> RandomLowKWeights(std::mt19937& rng, DType type, int rows, int cols) {
  const auto& tr = trueno::Traits(type);
  std::vector<uint8_t> w(static_cast<size_t>(cols) / tr.block_elems * tr.block_bytes * rows);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.002f, 0.03f);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  for (size_t i = 0; i < w.size() / tr.block_bytes; ++i) {
    uint8_t* blk = w.data() + i * tr.block_bytes;
    if (type == DType::kQ2_K) {
      PutHalf(blk + offsetof(trueno::BlockQ2_K, d), scale(rng));
      PutHalf(blk + offsetof(trueno::BlockQ2_K, dmin), scale(rng));
    } else {
      PutHalf(blk + offsetof(trueno::BlockQ3_K, d), scale(rng) / 4);
    }
  }
  return w;
}

std::vector<float> RandomFloats(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

template <class Fn>
void ForEachTarget(Fn&& fn) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  REQUIRE(!targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    INFO("Highway target " << hwy::TargetName(target));
    fn();
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace

TEST_CASE("Q2_K and Q3_K MatMul are within the Q8_K activation rounding bound of float64",
          "[kernels][lowk]") {
  // Activations are rounded to q = round(x / d_b), d_b = max|x| over the 256-element block / 127,
  // so each product w * x moves by at most |w| * d_b / 2. Bound per output:
  //   sum_c |w_c| * d_b(c) / 2   (+ 2e-5 of the L1 mass for float32 accumulation, + 1e-6).
  INFO("seed " << kSeed);
  for (DType type : {DType::kQ2_K, DType::kQ3_K}) {
    REQUIRE(trueno::MatVecSupports(type));
    for (int cols : {256, 768}) {
      std::mt19937 rng(kSeed + static_cast<uint32_t>(type) * 7 + static_cast<uint32_t>(cols));
      const int rows = 37;  // odd: the thread partition has a ragged tail
      const auto w = RandomLowKWeights(rng, type, rows, cols);
      const size_t row_bytes = w.size() / rows;
      std::vector<double> deq(static_cast<size_t>(rows) * cols);
      for (int r = 0; r < rows; ++r) {
        std::vector<float> f(cols);
        REQUIRE(trueno::DequantizeRow(type, w.data() + r * row_bytes, f.data(), cols).ok());
        std::copy(f.begin(), f.end(), deq.begin() + static_cast<size_t>(r) * cols);
      }
      for (int n_tokens : {1, 3, 5}) {
        const auto X = RandomFloats(rng, static_cast<size_t>(n_tokens) * cols);
        std::vector<double> exact(static_cast<size_t>(n_tokens) * rows);
        std::vector<double> bound(exact.size());
        for (int t = 0; t < n_tokens; ++t) {
          const float* x = X.data() + static_cast<size_t>(t) * cols;
          for (int r = 0; r < rows; ++r) {
            double sum = 0.0, err = 1e-6, mass = 0.0;
            for (int c = 0; c < cols; ++c) {
              const double wv = deq[static_cast<size_t>(r) * cols + c];
              sum += wv * x[c];
              double amax = 0.0;
              for (int k = c / 256 * 256; k < c / 256 * 256 + 256; ++k)
                amax = std::max(amax, std::fabs(static_cast<double>(x[k])));
              err += std::fabs(wv) * amax / 127.0 / 2.0 * 1.0001;
              mass += std::fabs(wv * x[c]);
            }
            exact[static_cast<size_t>(t) * rows + r] = sum;
            bound[static_cast<size_t>(t) * rows + r] = err + 2e-5 * mass;
          }
        }
        for (int threads : {1, 2}) {
          trueno::SetNumThreads(threads);
          ForEachTarget([&] {
            std::vector<float> got(exact.size(), -1.0f);
            REQUIRE(
                trueno::MatMul(type, w.data(), rows, cols, X.data(), n_tokens, got.data()).ok());
            for (size_t i = 0; i < got.size(); ++i) {
              INFO(trueno::DTypeName(type) << " cols " << cols << " tokens " << n_tokens
                                           << " threads " << threads << " output " << i);
              REQUIRE(std::fabs(got[i] - exact[i]) <= bound[i]);
            }
            if (n_tokens == 1) {
              std::vector<float> y(rows);
              REQUIRE(trueno::MatVec(type, w.data(), rows, cols, X.data(), y.data()).ok());
              for (int r = 0; r < rows; ++r) REQUIRE(y[r] == got[r]);
            }
          });
        }
        trueno::SetNumThreads(0);
      }
    }
  }
}

TEST_CASE("Q2_K and Q3_K SIMD dot products equal the scalar reference up to float summation",
          "[kernels][lowk]") {
  INFO("seed " << kSeed);
  for (DType type : {DType::kQ2_K, DType::kQ3_K}) {
    std::mt19937 rng(kSeed + 1000 + static_cast<uint32_t>(type));
    const int rows = 5, cols = 1024;
    const auto w = RandomLowKWeights(rng, type, rows, cols);
    const size_t row_bytes = w.size() / rows;
    const auto x = RandomFloats(rng, cols);
    std::vector<trueno::BlockQ8_K> act(cols / 256);
    // Quantize the activations as the kernel does (symmetric, d = max|x| / 127) by hand.
    for (int b = 0; b < cols / 256; ++b) {
      float amax = 0.0f;
      for (int i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(x[256 * b + i]));
      act[b].d = amax / 127.0f;
      for (int i = 0; i < 256; ++i)
        act[b].qs[i] = static_cast<int8_t>(std::lround(x[256 * b + i] / act[b].d));
      for (int s = 0; s < 16; ++s) {
        int sum = 0;
        for (int i = 0; i < 16; ++i) sum += act[b].qs[16 * s + i];
        act[b].bsums[s] = static_cast<int16_t>(sum);
      }
    }
    ForEachTarget([&] {
      std::vector<float> y(rows);
      trueno::cpu::MatMulRowsLowK(type, w.data(), row_bytes, 0, rows, cols,
                                  reinterpret_cast<const uint8_t*>(act.data()),
                                  act.size() * sizeof(trueno::BlockQ8_K), 1, y.data(), rows);
      for (int r = 0; r < rows; ++r) {
        const uint8_t* row = w.data() + r * row_bytes;
        const double want =
            type == DType::kQ2_K
                ? trueno::cpu::DotQ2_KRef(reinterpret_cast<const trueno::BlockQ2_K*>(row),
                                          act.data(), cols / 256)
                : trueno::cpu::DotQ3_KRef(reinterpret_cast<const trueno::BlockQ3_K*>(row),
                                          act.data(), cols / 256);
        INFO(trueno::DTypeName(type) << " row " << r);
        REQUIRE(std::fabs(y[r] - want) <= 1e-5 * (std::fabs(want) + 1.0));
      }
    });
  }
}

TEST_CASE("Q2_K dot of a hand-built block equals the hand-computed value", "[kernels][lowk]") {
  // One super-block: d = 0.5, dmin = 0.25, every sub-block scale byte 0x21 (sc = 1, m = 2), every
  // quant 3 (qs bytes 0xFF). Each weight is 0.5 * 1 * 3 - 0.25 * 2 = 1.0; with x = 1 everywhere
  // (quantized exactly: d_a = 1/127, q = 127) the dot is 256.
  trueno::BlockQ2_K blk{};
  std::memset(blk.scales, 0x21, sizeof(blk.scales));
  std::memset(blk.qs, 0xFF, sizeof(blk.qs));
  blk.d = trueno::Fp32ToFp16(0.5f);
  blk.dmin = trueno::Fp32ToFp16(0.25f);
  std::vector<float> x(256, 1.0f);
  float y = 0.0f;
  ForEachTarget([&] {
    REQUIRE(
        trueno::MatVec(DType::kQ2_K, reinterpret_cast<const uint8_t*>(&blk), 1, 256, x.data(), &y)
            .ok());
    REQUIRE(y == Approx(256.0).epsilon(1e-6));
  });
  // Q3_K: scale bytes all 0 give sc = -32; hmask all set and quants 1 give q = 1: each weight is
  // d * -32 * 1 with d = 1/64, i.e. -0.5; dot with x = 1 is -128.
  trueno::BlockQ3_K b3{};
  std::memset(b3.hmask, 0xFF, sizeof(b3.hmask));
  std::memset(b3.qs, 0x55, sizeof(b3.qs));
  b3.d = trueno::Fp32ToFp16(1.0f / 64);
  ForEachTarget([&] {
    REQUIRE(
        trueno::MatVec(DType::kQ3_K, reinterpret_cast<const uint8_t*>(&b3), 1, 256, x.data(), &y)
            .ok());
    REQUIRE(y == Approx(-128.0).epsilon(1e-6));
  });
}
