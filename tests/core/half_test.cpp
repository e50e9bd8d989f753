#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "trueno/half.h"

namespace {
// Independent reference: decode binary16 with the textbook formula in double precision.
double Fp16Reference(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + mant, exp - 25);
}
}  // namespace

TEST_CASE("Fp16ToFp32 matches the binary16 formula for all 65536 codes") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const double ref = Fp16Reference(static_cast<uint16_t>(h));
    const float got = trueno::Fp16ToFp32(static_cast<uint16_t>(h));
    if (std::isnan(ref)) {
      REQUIRE(std::isnan(got));
    } else {
      REQUIRE(static_cast<double>(got) == ref);
    }
  }
}

TEST_CASE("Fp32ToFp16 rounds to the nearest representable half (ties to even)") {
  // Every finite half round-trips exactly.
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = trueno::Fp16ToFp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    REQUIRE(trueno::Fp32ToFp16(f) == h);
  }
  // Midpoint between 1.0 (0x3C00) and the next half 1+2^-10 (0x3C01) ties to even: 0x3C00.
  REQUIRE(trueno::Fp32ToFp16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);
  // Slightly above the midpoint rounds up.
  REQUIRE(trueno::Fp32ToFp16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)) == 0x3C01);
  REQUIRE(trueno::Fp32ToFp16(1e6f) == 0x7C00);          // overflow to +inf
  REQUIRE(trueno::Fp32ToFp16(-1e-10f) == 0x8000);       // underflow to -0
  REQUIRE(trueno::Fp32ToFp16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
}

TEST_CASE("BF16 conversion keeps the top 16 bits with round-to-nearest-even") {
  REQUIRE(trueno::Bf16ToFp32(0x3F80) == 1.0f);
  REQUIRE(trueno::Fp32ToBf16(1.0f) == 0x3F80);
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1+2^-7: ties to even (1.0).
  REQUIRE(trueno::Fp32ToBf16(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);
  REQUIRE(trueno::Fp32ToBf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3F82);
  REQUIRE(std::isnan(trueno::Bf16ToFp32(trueno::Fp32ToBf16(NAN))));
}
