// Scale searches used by the quantizers: for a group of values and per-value importance weights,
// find the scale (and offset) whose integer grid minimises the weighted squared error.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace trueno::quant {

// Round to nearest, ties to even, saturating at +-2^22; NaN maps to 0 so hostile inputs never
// reach an undefined float->int conversion. Adding 1.5*2^23 puts the rounded integer in the low
// mantissa bits (the FPU's round-to-nearest-even does the rounding) without a libm call.
inline int NearestInt(float v) {
  constexpr float kLimit = 4194303.0f;
  if (!(v == v)) return 0;
  v = v > kLimit ? kLimit : (v < -kLimit ? -kLimit : v);
  const float biased = v + 12582912.0f;
  uint32_t bits;
  std::memcpy(&bits, &biased, 4);
  return static_cast<int>(bits & 0x007FFFFFu) - 0x00400000;
}

inline int FloorInt(float v) {
  constexpr float kLimit = 4194303.0f;
  if (!(v == v)) return 0;
  v = v > kLimit ? kLimit : (v < -kLimit ? -kLimit : v);
  const int i = static_cast<int>(v);  // truncates toward zero
  return static_cast<float>(i) > v ? i - 1 : i;
}

// Symmetric grid: x[i] ~ scale * level[i], level in [-nmax, nmax - 1]. Tries the candidate
// inverse scales -(nmax + 0.1k)/v, k = -fan..fan, where v is the value of largest magnitude,
// refits the least-squares scale for each set of
// levels, keeps the best, then improves it by coordinate descent on single levels. Returns the
// scale (0 for an all-zero group, with every level 0). n <= 256.
float SearchSymmetricScale(int n, int nmax, const float* x, const float* w, int* levels, int fan);

// Affine grid: x[i] ~ scale * level[i] - min, level in [0, nmax], min >= 0 (the offset is the
// group minimum clamped to <= 0, as the K formats store a non-negative min). Candidate inverse
// scales are (nmax + rmin + rdelta*k) / (max - min_x) for k = 0..nstep; for each, the levels are
// rounded and (scale, offset) refitted by weighted least squares; the best is then polished by
// alternating rounding and refitting. Writes the stored (non-negative) min; returns the scale.
float SearchAffineScale(int n, int nmax, const float* x, const float* w, int* levels, float* min,
                        float rmin, float rdelta, int nstep);

}  // namespace trueno::quant
