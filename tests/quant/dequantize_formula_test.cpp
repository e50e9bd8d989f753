// DequantizeRow against the block formulas evaluated independently in float64.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "block_reference.h"
#include "trueno/half.h"
#include "trueno/quantize.h"

namespace {

using trueno::DType;

struct BlockCase {
  DType type;
  std::function<std::vector<double>(const uint8_t*)> reference;
  // Byte offsets of the fp16 scale fields that must hold sane values (not NaN/Inf).
  std::vector<int> fp16_fields;
  int f32_field = -1;  // Q8_K's float scale
};

std::vector<BlockCase> Cases() {
  using namespace quant_test;
  return {
      {DType::kQ4_0, RefQ4_0, {0}},      {DType::kQ4_1, RefQ4_1, {0, 2}},
      {DType::kQ5_0, RefQ5_0, {0}},      {DType::kQ5_1, RefQ5_1, {0, 2}},
      {DType::kQ8_0, RefQ8_0, {0}},      {DType::kQ8_1, RefQ8_1, {0, 2}},
      {DType::kQ2_K, RefQ2_K, {80, 82}}, {DType::kQ3_K, RefQ3_K, {108}},
      {DType::kQ4_K, RefQ4_K, {0, 2}},   {DType::kQ5_K, RefQ5_K, {0, 2}},
      {DType::kQ6_K, RefQ6_K, {208}},    {DType::kQ8_K, RefQ8_K, {}, 0},
  };
}

}  // namespace

TEST_CASE("Every block type dequantizes to its block formula computed in float64") {
  const uint32_t seed = 20240601;
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> scale_dist(-0.05f, 0.05f);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  for (const auto& c : Cases()) {
    const auto& tr = trueno::Traits(c.type);
    INFO("type " << std::string(tr.name));
    constexpr int kBlocks = 64;
    std::vector<uint8_t> raw(static_cast<size_t>(kBlocks) * tr.block_bytes);
    for (auto& b : raw) b = static_cast<uint8_t>(byte_dist(rng));
    for (int blk = 0; blk < kBlocks; ++blk) {
      uint8_t* base = raw.data() + static_cast<size_t>(blk) * tr.block_bytes;
      for (int off : c.fp16_fields) {
        // Includes exact zero and subnormal scales now and then.
        const float v = blk == 0 ? 0.0f : (blk == 1 ? 3.0e-6f : scale_dist(rng));
        const uint16_t h = trueno::Fp32ToFp16(v);
        std::memcpy(base + off, &h, 2);
      }
      if (c.f32_field >= 0) {
        const float v = scale_dist(rng);
        std::memcpy(base + c.f32_field, &v, 4);
      }
    }
    const size_t n = static_cast<size_t>(kBlocks) * tr.block_elems;
    std::vector<float> got(n);
    REQUIRE(trueno::DequantizeRow(c.type, raw.data(), got.data(), n).ok());
    for (int blk = 0; blk < kBlocks; ++blk) {
      const auto want = c.reference(raw.data() + static_cast<size_t>(blk) * tr.block_bytes);
      REQUIRE(want.size() == tr.block_elems);
      double mag = 0;
      for (double w : want) mag = std::max(mag, std::fabs(w));
      for (size_t j = 0; j < want.size(); ++j) {
        const double g = got[static_cast<size_t>(blk) * tr.block_elems + j];
        if (std::fabs(g - want[j]) > 1e-6 * mag) {
          FAIL("block " << blk << " element " << j << ": got " << g << " want " << want[j]);
        }
      }
    }
  }
}

TEST_CASE("Hand-built Q4_0 block decodes to d*(q-8) with the documented nibble order") {
  uint8_t b[18] = {};
  const uint16_t d = trueno::Fp32ToFp16(0.5f);
  std::memcpy(b, &d, 2);
  b[2] = 0x9F;   // element 0: q=15 -> 3.5, element 16: q=9 -> 0.5
  b[17] = 0x02;  // element 15: q=2 -> -3, element 31: q=0 -> -4
  float y[32];
  REQUIRE(trueno::DequantizeRow(DType::kQ4_0, b, y, 32).ok());
  CHECK(y[0] == 3.5f);
  CHECK(y[16] == 0.5f);
  CHECK(y[15] == -3.0f);
  CHECK(y[31] == -4.0f);
  CHECK(y[1] == -4.0f);
}

TEST_CASE("Hand-built Q8_K block decodes to d*q with a float32 scale") {
  std::vector<uint8_t> b(292, 0);
  const float d = 0.25f;
  std::memcpy(b.data(), &d, 4);
  b[4] = static_cast<uint8_t>(int8_t{-128});
  b[4 + 255] = 127;
  std::vector<float> y(256);
  REQUIRE(trueno::DequantizeRow(DType::kQ8_K, b.data(), y.data(), 256).ok());
  CHECK(y[0] == -32.0f);
  CHECK(y[255] == 31.75f);
  CHECK(y[1] == 0.0f);
}

TEST_CASE("Plain element types dequantize by value conversion") {
  SECTION("f32 is copied") {
    const float in[3] = {1.5f, -0.0f, 3e38f};
    float out[3];
    REQUIRE(trueno::DequantizeRow(DType::kF32, reinterpret_cast<const uint8_t*>(in), out, 3).ok());
    CHECK(std::memcmp(in, out, sizeof(in)) == 0);
  }
  SECTION("f16 and bf16 bit patterns") {
    const uint16_t f16[4] = {0x3C00, 0xC000, 0x0001, 0x7BFF};  // 1, -2, 2^-24, 65504
    float out[4];
    REQUIRE(trueno::DequantizeRow(DType::kF16, reinterpret_cast<const uint8_t*>(f16), out, 4).ok());
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == -2.0f);
    CHECK(out[2] == std::ldexp(1.0f, -24));
    CHECK(out[3] == 65504.0f);
    const uint16_t bf16[2] = {0x3F80, 0xC120};  // 1, -10
    REQUIRE(
        trueno::DequantizeRow(DType::kBF16, reinterpret_cast<const uint8_t*>(bf16), out, 2).ok());
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == -10.0f);
  }
  SECTION("f64 and integers") {
    const double f64[2] = {0.125, -7.0};
    float out[3];
    REQUIRE(trueno::DequantizeRow(DType::kF64, reinterpret_cast<const uint8_t*>(f64), out, 2).ok());
    CHECK(out[0] == 0.125f);
    CHECK(out[1] == -7.0f);
    const int8_t i8[3] = {-128, 0, 127};
    REQUIRE(trueno::DequantizeRow(DType::kI8, reinterpret_cast<const uint8_t*>(i8), out, 3).ok());
    CHECK(out[0] == -128.0f);
    CHECK(out[2] == 127.0f);
    const int16_t i16[2] = {-32768, 1234};
    REQUIRE(trueno::DequantizeRow(DType::kI16, reinterpret_cast<const uint8_t*>(i16), out, 2).ok());
    CHECK(out[0] == -32768.0f);
    CHECK(out[1] == 1234.0f);
    const int32_t i32[2] = {-100000, 16777216};
    REQUIRE(trueno::DequantizeRow(DType::kI32, reinterpret_cast<const uint8_t*>(i32), out, 2).ok());
    CHECK(out[0] == -100000.0f);
    CHECK(out[1] == 16777216.0f);
  }
}

TEST_CASE("DequantizeRow rejects partial blocks and unknown types") {
  std::vector<uint8_t> raw(1024, 0);
  std::vector<float> out(256);
  auto s = trueno::DequantizeRow(DType::kQ4_K, raw.data(), out.data(), 100);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  s = trueno::DequantizeRow(static_cast<DType>(99), raw.data(), out.data(), 32);
  CHECK(s.code() == absl::StatusCode::kUnimplemented);
  CHECK(trueno::DequantizeRow(DType::kQ4_0, nullptr, nullptr, 0).ok());
}
