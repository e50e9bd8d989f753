// Scalar references for the Q2_K / Q3_K dot products, written from the block formulas element
// by element (no SIMD layout tricks): x = d * (sc & 15) * q - dmin * (sc >> 4) for Q2_K, and
// x = d * sc * (q - 4 * !hbit) for Q3_K.
#include "cpu/matvec_lowk.h"
#include "quant/k_scales.h"
#include "trueno/half.h"

namespace trueno::cpu {

double DotQ2_KRef(const BlockQ2_K* w, const BlockQ8_K* a, int nb) {
  double total = 0.0;
  for (int b = 0; b < nb; ++b) {
    int64_t scaled = 0, mins = 0;
    for (int i = 0; i < kQKK; ++i) {
      const int h = i / 128, g = (i % 128) / 32, l = i % 32;
      const int q = (w[b].qs[32 * h + l] >> (2 * g)) & 3;
      const uint8_t sc = w[b].scales[i / 16];
      scaled += static_cast<int64_t>(sc & 0xF) * q * a[b].qs[i];
      mins += static_cast<int64_t>(sc >> 4) * a[b].qs[i];
    }
    total += static_cast<double>(a[b].d) *
             (static_cast<double>(Fp16ToFp32(w[b].d)) * static_cast<double>(scaled) -
              static_cast<double>(Fp16ToFp32(w[b].dmin)) * static_cast<double>(mins));
  }
  return total;
}

double DotQ3_KRef(const BlockQ3_K* w, const BlockQ8_K* a, int nb) {
  double total = 0.0;
  for (int b = 0; b < nb; ++b) {
    int64_t sum = 0;
    for (int i = 0; i < kQKK; ++i) {
      const int h = i / 128, g = (i % 128) / 32, l = i % 32;
      const int low = (w[b].qs[32 * h + l] >> (2 * g)) & 3;
      const int high_set = (w[b].hmask[l] >> (4 * h + g)) & 1;
      const int q = low - (high_set ? 0 : 4);
      sum += static_cast<int64_t>(quant::UnpackScaleQ3K(i / 16, w[b].scales)) * q * a[b].qs[i];
    }
    total += static_cast<double>(a[b].d) * static_cast<double>(Fp16ToFp32(w[b].d)) *
             static_cast<double>(sum);
  }
  return total;
}

}  // namespace trueno::cpu
