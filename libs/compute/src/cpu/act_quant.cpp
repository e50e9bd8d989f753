#include "cpu/act_quant.h"

#include <algorithm>
#include <cmath>

namespace trueno::cpu {
namespace {

// Quantizes n values with one scale; returns the scale and writes the quants.
float QuantizeSymmetric(const float* x, int n, int8_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = d > 0.0f ? 1.0f / d : 0.0f;
  // Round to nearest even via the 1.5 * 2^23 trick: identical to nearbyint in the default
  // rounding mode for |v| < 2^22 (here |v| <= 127 + rounding error), but vectorisable instead
  // of a libm call per element.
  constexpr float kMagic = 12582912.0f;
  for (int i = 0; i < n; ++i) {
    const float v = (x[i] * id + kMagic) - kMagic;
    q[i] = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
  }
  return d;
}

}  // namespace

void QuantizeActQ8_0(const float* x, int n, ActQ8_0* out) {
  for (int b = 0; b < n / kQK; ++b) {
    ActQ8_0& blk = out[b];
    blk.d = QuantizeSymmetric(x + b * kQK, kQK, blk.qs);
    int32_t sum = 0;
    for (int i = 0; i < kQK; ++i) sum += blk.qs[i];
    blk.sum = sum;
  }
}

void QuantizeActQ8_K(const float* x, int n, BlockQ8_K* out) {
  for (int b = 0; b < n / kQKK; ++b) {
    BlockQ8_K& blk = out[b];
    blk.d = QuantizeSymmetric(x + b * kQKK, kQKK, blk.qs);
    for (int s = 0; s < kQKK / 16; ++s) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += blk.qs[s * 16 + i];
      blk.bsums[s] = static_cast<int16_t>(sum);
    }
  }
}

}  // namespace trueno::cpu
