// QuantizeRow properties: quantize -> dequantize error bounds per type and input distribution,
// exact zeros, determinism, and the auxiliary sums some blocks carry.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "trueno/half.h"
#include "trueno/quant_blocks.h"
#include "trueno/quantize.h"

namespace {

using trueno::DType;

// Bounds on RMS(dequant(quant(x)) - x) / RMS(x), per type: `typical` holds for the normal,
// small-normal, uniform and all-positive rows below, `outliers` for normal rows with 1% of values
// scaled by 50. The same table is in docs/quantization.md; measured values are about 1/1.2 of
// these.
struct ErrorBound {
  DType type;
  double typical;
  double outliers;
};
constexpr ErrorBound kBounds[] = {
    {DType::kF32, 0.0, 0.0},       {DType::kF16, 3.0e-4, 3.0e-4}, {DType::kBF16, 2.2e-3, 2.2e-3},
    {DType::kQ8_0, 0.0066, 0.015}, {DType::kQ8_1, 0.0066, 0.015}, {DType::kQ8_K, 0.0085, 0.038},
    {DType::kQ6_K, 0.0215, 0.038}, {DType::kQ5_0, 0.052, 0.080},  {DType::kQ5_1, 0.046, 0.070},
    {DType::kQ5_K, 0.044, 0.062},  {DType::kQ4_0, 0.105, 0.105},  {DType::kQ4_1, 0.095, 0.135},
    {DType::kQ4_K, 0.086, 0.090},  {DType::kQ3_K, 0.185, 0.185},  {DType::kQ2_K, 0.35, 0.35},
};

enum class Dist { kNormal, kSmall, kUniform, kOutliers, kPositive };
const char* DistName(Dist d) {
  switch (d) {
    case Dist::kNormal:
      return "normal(0,0.08)";
    case Dist::kSmall:
      return "normal(0,0.01)";
    case Dist::kUniform:
      return "uniform(-1,1)";
    case Dist::kOutliers:
      return "normal(0,1) with 1% x50 outliers";
    case Dist::kPositive:
      return "uniform(0.5,1.5)";
  }
  return "?";
}

std::vector<float> MakeRow(Dist d, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::uniform_real_distribution<float> coin(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) {
    switch (d) {
      case Dist::kNormal:
        v = 0.08f * normal(rng);
        break;
      case Dist::kSmall:
        v = 0.01f * normal(rng);
        break;
      case Dist::kUniform:
        v = uni(rng);
        break;
      case Dist::kOutliers:
        v = normal(rng) * (coin(rng) < 0.01f ? 50.0f : 1.0f);
        break;
      case Dist::kPositive:
        v = 1.0f + 0.5f * uni(rng);
        break;
    }
  }
  return x;
}

std::vector<float> RoundTrip(DType t, const std::vector<float>& x) {
  const auto& tr = trueno::Traits(t);
  std::vector<uint8_t> q(x.size() / tr.block_elems * tr.block_bytes);
  REQUIRE(trueno::QuantizeRow(t, x.data(), q.data(), x.size()).ok());
  std::vector<float> y(x.size());
  REQUIRE(trueno::DequantizeRow(t, q.data(), y.data(), x.size()).ok());
  return y;
}

double RelRms(const std::vector<float>& x, const std::vector<float>& y) {
  double e = 0, s = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    s += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(e / s);
}

std::vector<uint8_t> Quantize(DType t, const std::vector<float>& x) {
  const auto& tr = trueno::Traits(t);
  std::vector<uint8_t> q(x.size() / tr.block_elems * tr.block_bytes, 0xAB);
  REQUIRE(trueno::QuantizeRow(t, x.data(), q.data(), x.size()).ok());
  return q;
}

}  // namespace

TEST_CASE("Quantize then dequantize stays within the per-type RMS error bound") {
  constexpr size_t kN = 8192;
  const uint32_t seed = 1234567;
  INFO("seed " << seed);
  for (const auto& b : kBounds) {
    for (Dist d : {Dist::kNormal, Dist::kSmall, Dist::kUniform, Dist::kOutliers, Dist::kPositive}) {
      const auto x = MakeRow(d, kN, seed + static_cast<uint32_t>(d));
      const double err = RelRms(x, RoundTrip(b.type, x));
      INFO("type " << std::string(trueno::DTypeName(b.type)) << " distribution " << DistName(d)
                   << " relative RMS error " << err);
      CHECK(err <= (d == Dist::kOutliers ? b.outliers : b.typical));
    }
  }
}

TEST_CASE("Zero rows quantize to exact zeros and constant rows stay close") {
  for (const auto& b : kBounds) {
    INFO("type " << std::string(trueno::DTypeName(b.type)));
    const std::vector<float> zeros(512, 0.0f);
    for (float v : RoundTrip(b.type, zeros)) REQUIRE(v == 0.0f);
    for (float c : {0.37f, -1.25f}) {
      const std::vector<float> x(512, c);
      const auto y = RoundTrip(b.type, x);
      // A constant is representable by every format up to its fp16 scale (or bf16) rounding.
      CHECK(RelRms(x, y) <= std::max(b.typical, 4.0e-3));
    }
  }
}

TEST_CASE("Quantization is deterministic and block-local") {
  const auto x = MakeRow(Dist::kOutliers, 4096, 99);
  for (const auto& b : kBounds) {
    INFO("type " << std::string(trueno::DTypeName(b.type)));
    const auto q1 = Quantize(b.type, x);
    const auto q2 = Quantize(b.type, x);
    CHECK(q1 == q2);
    // Quantizing the second half alone gives the second half of the bytes.
    const std::vector<float> tail(x.begin() + 2048, x.end());
    const auto qt = Quantize(b.type, tail);
    CHECK(std::equal(qt.begin(), qt.end(), q1.begin() + static_cast<long>(q1.size() / 2)));
  }
}

TEST_CASE("Q8_K bsums are the sums of each group of 16 quants") {
  const auto x = MakeRow(Dist::kOutliers, 1024, 7);
  const auto q = Quantize(DType::kQ8_K, x);
  REQUIRE(q.size() == 4 * sizeof(trueno::BlockQ8_K));
  for (size_t blk = 0; blk < 4; ++blk) {
    const uint8_t* base = q.data() + blk * 292;
    for (int g = 0; g < 16; ++g) {
      int want = 0;
      for (int l = 0; l < 16; ++l) want += static_cast<int8_t>(base[4 + 16 * g + l]);
      int16_t got;
      std::memcpy(&got, base + 260 + 2 * g, 2);
      CHECK(got == want);
    }
    // Every quant is within [-127, 127] and the largest magnitude hits 127.
    int amax = 0;
    for (int j = 0; j < 256; ++j)
      amax = std::max(amax, std::abs(static_cast<int>(static_cast<int8_t>(base[4 + j]))));
    CHECK(amax == 127);
  }
}

TEST_CASE("Q8_1 stores s = d * sum(q)") {
  const auto x = MakeRow(Dist::kNormal, 256, 11);
  const auto q = Quantize(DType::kQ8_1, x);
  for (size_t blk = 0; blk < 8; ++blk) {
    const uint8_t* base = q.data() + blk * 36;
    uint16_t dh, sh;
    std::memcpy(&dh, base, 2);
    std::memcpy(&sh, base + 2, 2);
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += static_cast<int8_t>(base[4 + j]);
    const double want = static_cast<double>(sum) * trueno::Fp16ToFp32(dh);
    CHECK(std::fabs(trueno::Fp16ToFp32(sh) - want) <= 1e-3 * std::fabs(want) + 1e-6);
  }
}

TEST_CASE("K-quant scale search beats the plain min/max grid") {
  // Reference: per 32-element sub-block, the textbook affine grid scale=(max-min)/15 with exact
  // float64 scales (no scale quantization), evaluated in float64. The searched Q4_K encoding, even
  // with its 6-bit scales, must have lower total squared error on normal data.
  const auto x = MakeRow(Dist::kNormal, 8192, 5);
  const auto y = RoundTrip(DType::kQ4_K, x);
  double err_search = 0, err_plain = 0;
  for (size_t s = 0; s < x.size(); s += 32) {
    double lo = x[s], hi = x[s];
    for (size_t i = s; i < s + 32; ++i) {
      lo = std::min<double>(lo, x[i]);
      hi = std::max<double>(hi, x[i]);
    }
    const double scale = (hi - lo) / 15.0;
    for (size_t i = s; i < s + 32; ++i) {
      const double q = std::round((x[i] - lo) / scale);
      err_plain += std::pow(q * scale + lo - x[i], 2);
      err_search += std::pow(static_cast<double>(y[i]) - x[i], 2);
    }
  }
  INFO("searched " << err_search << " plain " << err_plain);
  CHECK(err_search < err_plain);
}

TEST_CASE("QuantizeRow reports unsupported types and partial blocks") {
  std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> out(2048);
  CHECK(trueno::QuantizeRow(DType::kI8, x.data(), out.data(), 256).code() ==
        absl::StatusCode::kUnimplemented);
  CHECK(!trueno::CanQuantize(DType::kF64));
  CHECK(trueno::CanQuantize(DType::kQ4_K));
  CHECK(trueno::QuantizeRow(DType::kQ6_K, x.data(), out.data(), 255).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Non-finite inputs do not crash the quantizers") {
  std::vector<float> x(256, 0.5f);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[100] = std::numeric_limits<float>::infinity();
  x[200] = -std::numeric_limits<float>::infinity();
  for (const auto& b : kBounds) {
    const auto& tr = trueno::Traits(b.type);
    std::vector<uint8_t> q(256 / tr.block_elems * tr.block_bytes);
    CHECK(trueno::QuantizeRow(b.type, x.data(), q.data(), 256).ok());
  }
}
