// DequantizeRowFast (Highway kernels) against the scalar reference DequantizeRow, bit for bit, on
// every SIMD target compiled in and supported by this CPU.
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "hwy/targets.h"
#include "trueno/half.h"
#include "trueno/quantize.h"

namespace {

using trueno::DType;

// Random blocks whose fp16 scale fields (at the given byte offsets) hold finite values.
std::vector<uint8_t> RandomBlocks(DType t, size_t blocks, const std::vector<int>& fp16_fields,
                                  std::mt19937& rng) {
  const auto& tr = trueno::Traits(t);
  std::vector<uint8_t> raw(blocks * tr.block_bytes);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.1f, 0.1f);
  for (auto& b : raw) b = static_cast<uint8_t>(byte(rng));
  for (size_t i = 0; i < blocks; ++i) {
    for (int off : fp16_fields) {
      const uint16_t h = trueno::Fp32ToFp16(scale(rng));
      std::memcpy(raw.data() + i * tr.block_bytes + off, &h, 2);
    }
  }
  return raw;
}

void CheckSameBits(const std::vector<float>& got, const std::vector<float>& want) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i])) {
      if (!std::isnan(got[i])) FAIL("element " << i << ": expected NaN, got " << got[i]);
    } else if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(want[i])) {
      FAIL("element " << i << ": got " << got[i] << " want " << want[i]);
    }
  }
}

}  // namespace

TEST_CASE("SIMD dequantize is bit-identical to the scalar reference on every target") {
  const uint32_t seed = 77;
  INFO("seed " << seed);
  struct Case {
    DType type;
    std::vector<int> fp16_fields;
  };
  const Case cases[] = {{DType::kQ8_0, {0}},    {DType::kQ4_0, {0}},   {DType::kQ4_K, {0, 2}},
                        {DType::kQ5_K, {0, 2}}, {DType::kQ6_K, {208}}, {DType::kQ2_K, {80, 82}}};
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    INFO("target " << hwy::TargetName(target));
    std::mt19937 rng(seed);
    for (const auto& c : cases) {
      INFO("type " << std::string(trueno::DTypeName(c.type)));
      const size_t blocks = 37;
      const auto raw = RandomBlocks(c.type, blocks, c.fp16_fields, rng);
      const size_t n = blocks * trueno::Traits(c.type).block_elems;
      std::vector<float> want(n), got(n, -1.0f);
      REQUIRE(trueno::DequantizeRow(c.type, raw.data(), want.data(), n).ok());
      REQUIRE(trueno::DequantizeRowFast(c.type, raw.data(), got.data(), n).ok());
      CheckSameBits(got, want);
    }
    // f16 and bf16: every bit pattern, plus an odd length for the tail loop.
    std::vector<uint8_t> all(65536 * 2 + 2);
    for (uint32_t h = 0; h < 65536; ++h) {
      const uint16_t v = static_cast<uint16_t>(h);
      std::memcpy(all.data() + 2 * h, &v, 2);
    }
    for (DType t : {DType::kF16, DType::kBF16}) {
      INFO("type " << std::string(trueno::DTypeName(t)));
      const size_t n = 65536 + 1;
      std::vector<float> want(n), got(n);
      REQUIRE(trueno::DequantizeRow(t, all.data(), want.data(), n).ok());
      REQUIRE(trueno::DequantizeRowFast(t, all.data(), got.data(), n).ok());
      CheckSameBits(got, want);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST_CASE("DequantizeRowFast reports the same errors as DequantizeRow") {
  std::vector<uint8_t> raw(512, 0);
  std::vector<float> out(256);
  CHECK(trueno::DequantizeRowFast(DType::kQ4_K, raw.data(), out.data(), 100).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(trueno::DequantizeRowFast(static_cast<DType>(99), raw.data(), out.data(), 32).code() ==
        absl::StatusCode::kUnimplemented);
}
