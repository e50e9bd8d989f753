#include "cpu/act_quant.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

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

namespace {
size_t RoundUp(size_t n, size_t m) { return (n + m - 1) / m * m; }
}  // namespace

size_t ActQ8_0PackBytes(int nb) {
  const size_t n = static_cast<size_t>(nb);
  return 64 + RoundUp(n * kQK, 64) + 64 * (n / 2) + sizeof(float) * RoundUp(n, 16);
}

ActQ8_0Pack PackActQ8_0(const ActQ8_0* a, int nb, uint8_t* buf) {
  const size_t n = static_cast<size_t>(nb);
  uint8_t* base = buf + (64 - reinterpret_cast<uintptr_t>(buf) % 64) % 64;
  auto* qs = reinterpret_cast<int8_t*>(base);
  auto* bias = reinterpret_cast<int32_t*>(base + RoundUp(n * kQK, 64));
  auto* d = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(bias) + 64 * (n / 2));
  for (size_t b = 0; b < n; ++b) {
    std::memcpy(qs + kQK * b, a[b].qs, kQK);
    d[b] = a[b].d;
  }
  for (size_t b = 0; b < n / 2 * 2; ++b) {  // whole pairs only (an odd last block has none)
    for (int l = 0; l < 8; ++l) bias[8 * b + l] = -2 * a[b].sum;
  }
  for (size_t b = n; b < RoundUp(n, 16); ++b) d[b] = 0.0f;
  return {qs, bias, d};
}

}  // namespace trueno::cpu
