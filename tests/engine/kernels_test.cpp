// Every CPU kernel, for every compiled Highway target, against its scalar reference
// (libs/compute/src/cpu/*_ref.cpp) on seeded random data.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/kernels_ref.h"
#include "hwy/highway.h"
#include "hwy/targets.h"
#include "trueno/half.h"
#include "trueno/kernels.h"
#include "trueno/quant_blocks.h"

namespace {

using trueno::DType;

constexpr uint32_t kSeed = 20261125;

// Runs `fn` once per Highway target compiled into trueno and supported by this CPU.
template <class Fn>
void ForEachTarget(Fn&& fn) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  REQUIRE(!targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    const std::string name = hwy::TargetName(target);
    INFO("Highway target " << name);
    CHECK(std::string(trueno::ActiveSimdTarget()) == name);
    fn();
  }
  hwy::SetSupportedTargetsForTest(0);
}

std::vector<float> RandomFloats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

void PutHalf(uint8_t* p, float v) {
  const uint16_t h = trueno::Fp16ToFp32(trueno::Fp32ToFp16(v)) == v ? trueno::Fp32ToFp16(v)
                                                                    : trueno::Fp32ToFp16(v);
  std::memcpy(p, &h, 2);
}

// Random weight bytes of `type`: quant bits uniformly random, block scales set to finite
// values of a realistic size, so every bit pattern of the quants is exercised.
std::vector<uint8_t> RandomWeights(std::mt19937& rng, DType type, int rows, int cols) {
  const auto& tr = trueno::Traits(type);
  const size_t row_bytes = static_cast<size_t>(cols) / tr.block_elems * tr.block_bytes;
  std::vector<uint8_t> w(row_bytes * rows);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.002f, 0.03f);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const size_t n_blocks = w.size() / tr.block_bytes;
  for (size_t i = 0; i < n_blocks; ++i) {
    uint8_t* blk = w.data() + i * tr.block_bytes;
    switch (type) {
      case DType::kF32:
        for (uint32_t j = 0; j < tr.block_bytes; j += 4) {
          const float v = normal(rng);
          std::memcpy(blk + j, &v, 4);
        }
        break;
      case DType::kF16:
        PutHalf(blk, normal(rng));
        break;
      case DType::kBF16: {
        const uint16_t h = trueno::Fp32ToBf16(normal(rng));
        std::memcpy(blk, &h, 2);
        break;
      }
      case DType::kQ8_0:
      case DType::kQ4_0:
      case DType::kQ5_0:
        PutHalf(blk, scale(rng));
        break;
      case DType::kQ4_1:
      case DType::kQ5_1:
        PutHalf(blk, scale(rng));
        PutHalf(blk + 2, -8 * scale(rng));
        break;
      case DType::kQ4_K:
      case DType::kQ5_K:
        PutHalf(blk + offsetof(trueno::BlockQ4_K, d), scale(rng) / 8);
        PutHalf(blk + offsetof(trueno::BlockQ4_K, dmin), scale(rng) / 8);
        break;
      case DType::kQ6_K:
        PutHalf(blk + offsetof(trueno::BlockQ6_K, d), scale(rng) / 16);
        break;
      default:
        break;
    }
  }
  return w;
}

const DType kMatTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                           DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                           DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

}  // namespace

TEST_CASE("MatMul matches the scalar reference for every type and Highway target", "[kernels]") {
  INFO("seed " << kSeed);
  for (int threads : {1, 2}) {
    trueno::SetNumThreads(threads);
    for (DType type : kMatTypes) {
      std::mt19937 rng(kSeed + static_cast<uint32_t>(type));
      const int rows = 37;
      const int cols = trueno::Traits(type).quantized ? 512 : 515;  // float rows test the tail
      const auto w = RandomWeights(rng, type, rows, cols);
      for (int n_tokens : {1, 5}) {
        const auto X = RandomFloats(rng, static_cast<size_t>(n_tokens) * cols);
        std::vector<float> want(static_cast<size_t>(n_tokens) * rows);
        REQUIRE(trueno::ref::MatMulRef(type, w.data(), rows, cols, X.data(), n_tokens, want.data())
                    .ok());
        // Scale of the sum for the tolerance: sum |w * x| per output.
        const size_t row_bytes = w.size() / rows;
        ForEachTarget([&] {
          std::vector<float> got(want.size(), -1.0f);
          REQUIRE(trueno::MatMul(type, w.data(), rows, cols, X.data(), n_tokens, got.data()).ok());
          for (int t = 0; t < n_tokens; ++t) {
            for (int r = 0; r < rows; ++r) {
              double mass = 0.0;
              for (int c = 0; c < cols; ++c) {
                mass += std::fabs(trueno::ref::WeightElement(type, w.data() + r * row_bytes, c) *
                                  X[static_cast<size_t>(t) * cols + c]);
              }
              const size_t i = static_cast<size_t>(t) * rows + r;
              INFO(trueno::DTypeName(type)
                   << " threads " << threads << " token " << t << " row " << r);
              // float32 accumulation of exact integer block sums: a few ulp of the L1 mass.
              REQUIRE(std::fabs(got[i] - want[i]) <= 2e-5 * mass + 1e-6);
            }
          }
          if (n_tokens == 1) {  // MatVec is MatMul with one token
            std::vector<float> y(rows);
            REQUIRE(trueno::MatVec(type, w.data(), rows, cols, X.data(), y.data()).ok());
            for (int r = 0; r < rows; ++r) REQUIRE(y[r] == got[r]);
          }
        });
      }
    }
  }
  trueno::SetNumThreads(0);
}

TEST_CASE("Quantized MatVec reference is within the activation quantization bound of float64",
          "[kernels]") {
  // |sum w (a_q - x)| <= sum |w| * d_block / 2 with d_block = max|x| / 127 over the x block.
  INFO("seed " << kSeed);
  for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                     DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    std::mt19937 rng(kSeed + 100 + static_cast<uint32_t>(type));
    const int rows = 9, cols = 512;
    const int act_block = static_cast<int>(trueno::Traits(type).block_elems);
    const auto w = RandomWeights(rng, type, rows, cols);
    const auto x = RandomFloats(rng, cols);
    std::vector<float> y(rows);
    REQUIRE(trueno::MatVec(type, w.data(), rows, cols, x.data(), y.data()).ok());
    const size_t row_bytes = w.size() / rows;
    for (int r = 0; r < rows; ++r) {
      double exact = 0.0, bound = 1e-5;
      for (int c = 0; c < cols; ++c) {
        const double wv = trueno::ref::WeightElement(type, w.data() + r * row_bytes, c);
        exact += wv * x[c];
        double amax = 0.0;
        const int b0 = c / act_block * act_block;
        for (int k = b0; k < b0 + act_block; ++k) amax = std::max(amax, std::fabs(double(x[k])));
        bound += std::fabs(wv) * amax / 127.0 / 2.0 * 1.0001;
      }
      INFO(trueno::DTypeName(type) << " row " << r);
      REQUIRE(std::fabs(y[r] - exact) <= bound);
    }
  }
}

TEST_CASE("MatMul rejects unsupported types and misaligned shapes", "[kernels]") {
  std::vector<uint8_t> w(1024);
  std::vector<float> x(256), y(4);
  CHECK(trueno::MatVec(DType::kQ2_K, w.data(), 1, 256, x.data(), y.data()).code() ==
        absl::StatusCode::kUnimplemented);
  CHECK(trueno::MatVec(DType::kQ4_K, w.data(), 1, 100, x.data(), y.data()).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(trueno::MatVec(DType::kF32, w.data(), 0, 4, x.data(), y.data()).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Element-wise kernels match their scalar references on every Highway target",
          "[kernels]") {
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed);
  const int n = 203;  // not a multiple of any vector width
  const auto a = RandomFloats(rng, n, 2.0f);
  const auto b = RandomFloats(rng, n, 2.0f);
  const auto wt = RandomFloats(rng, n);
  auto close = [](const std::vector<float>& got, const std::vector<float>& want, double rel) {
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("index " << i);
      REQUIRE(std::fabs(got[i] - want[i]) <= rel * (std::fabs(want[i]) + 1e-2));
    }
  };
  ForEachTarget([&] {
    std::vector<float> got(n), want(n);
    trueno::RmsNorm(a.data(), wt.data(), n, 1e-5f, got.data());
    trueno::ref::RmsNormRef(a.data(), wt.data(), n, 1e-5f, want.data());
    close(got, want, 1e-5);

    trueno::SiluMul(a.data(), b.data(), got.data(), n);
    trueno::ref::SiluMulRef(a.data(), b.data(), want.data(), n);
    close(got, want, 1e-5);

    trueno::Add(a.data(), b.data(), got.data(), n);
    trueno::ref::AddRef(a.data(), b.data(), want.data(), n);
    close(got, want, 0.0);

    got = a;
    want = a;
    trueno::Softmax(got.data(), n);
    trueno::ref::SoftmaxRef(want.data(), n);
    close(got, want, 1e-5);

    got = b;
    want = b;
    trueno::Axpy(0.37f, a.data(), got.data(), n);
    trueno::ref::AxpyRef(0.37f, a.data(), want.data(), n);
    close(got, want, 1e-5);

    double mass = 0.0;
    for (int i = 0; i < n; ++i) mass += std::fabs(a[i] * b[i]);
    REQUIRE(std::fabs(trueno::Dot(a.data(), b.data(), n) -
                      trueno::ref::DotRef(a.data(), b.data(), n)) <= 1e-6 * mass);

    for (auto mode : {trueno::RopeMode::kNormal, trueno::RopeMode::kNeox}) {
      for (float freq_scale : {1.0f, 0.25f}) {
        trueno::RopeParams p;
        p.mode = mode;
        p.theta = 10000.0f;
        p.freq_scale = freq_scale;
        const int heads = 3, head_dim = 64;
        auto x = RandomFloats(rng, heads * head_dim);
        std::vector<float> g = x, w2 = x;
        trueno::Rope(g.data(), heads, head_dim, 123, p);
        trueno::ref::RopeRef(w2.data(), heads, head_dim, 123, p);
        for (size_t i = 0; i < g.size(); ++i) REQUIRE(std::fabs(g[i] - w2[i]) <= 1e-5);
      }
    }
  });
}

TEST_CASE("RoPE rotates adjacent pairs (normal) or halves (NeoX) by pos * theta^(-2i/d)",
          "[kernels]") {
  // Hand-computed: head_dim 4, pos 1, theta 100: angles 1 and 0.1 rad.
  trueno::RopeParams p;
  p.theta = 100.0f;
  std::vector<float> x = {1, 0, 1, 0};
  trueno::Rope(x.data(), 1, 4, 1, p);
  CHECK(x[0] == Approx(std::cos(1.0)).margin(1e-6));
  CHECK(x[1] == Approx(std::sin(1.0)).margin(1e-6));
  CHECK(x[2] == Approx(std::cos(0.1)).margin(1e-6));
  CHECK(x[3] == Approx(std::sin(0.1)).margin(1e-6));
  p.mode = trueno::RopeMode::kNeox;
  std::vector<float> y = {1, 1, 0, 0};
  trueno::Rope(y.data(), 1, 4, 1, p);
  CHECK(y[0] == Approx(std::cos(1.0)).margin(1e-6));
  CHECK(y[2] == Approx(std::sin(1.0)).margin(1e-6));
  CHECK(y[1] == Approx(std::cos(0.1)).margin(1e-6));
  CHECK(y[3] == Approx(std::sin(0.1)).margin(1e-6));
}

TEST_CASE("SetNumThreads changes the arena size and 0 restores the default", "[kernels]") {
  trueno::SetNumThreads(3);
  CHECK(trueno::NumThreads() == 3);
  trueno::SetNumThreads(0);
  CHECK(trueno::NumThreads() >= 1);
}
