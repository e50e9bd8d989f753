// K-quant quantizers. Each super-block is quantized in three steps:
//  1. per sub-block, a scale (and min) search that minimises the weighted squared error
//     (k_search.h), with the importance weights the published reference quantizers use when no
//     importance matrix is given;
//  2. the sub-block scales/mins are themselves quantized against one fp16 super-block scale;
//  3. the levels are re-rounded against the scales actually stored, so the file decodes to the
//     closest values its scales allow.
#include <algorithm>
#include <cmath>

#include "quant/k_scales.h"
#include "quant/k_search.h"
#include "quant/quant_internal.h"
#include "trueno/half.h"
#include "trueno/quant_blocks.h"

namespace trueno::quant {
namespace {

float MaxOf(const float* v, int n) {
  float m = 0.0f;
  for (int i = 0; i < n; ++i) m = std::max(m, v[i]);
  return m;
}

// The signed value of largest magnitude.
float SignedAbsMax(const float* v, int n) {
  float max = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(v[i]) > amax) {
      amax = std::fabs(v[i]);
      max = v[i];
    }
  }
  return max;
}

// Quantizes non-negative sub-block values against one scale: q = round(v * nmax / max).
// Returns the fp16-representable super scale max/nmax (0 when every value is 0).
float QuantizeUnsignedScales(const float* v, int n, int nmax, uint8_t* q) {
  const float max = MaxOf(v, n);
  if (!(max > 0.0f)) {
    std::fill(q, q + n, 0);
    return 0.0f;
  }
  const float inv = static_cast<float>(nmax) / max;
  for (int i = 0; i < n; ++i)
    q[i] = static_cast<uint8_t>(std::clamp(NearestInt(inv * v[i]), 0, nmax));
  return max / static_cast<float>(nmax);
}

// Re-rounds affine levels against the stored (dl, ml): x ~ dl*l - ml.
void RoundAgainstAffine(const float* x, int n, int nmax, float dl, float ml, int* levels) {
  if (dl == 0.0f) {
    std::fill(levels, levels + n, 0);
    return;
  }
  for (int i = 0; i < n; ++i) levels[i] = std::clamp(NearestInt((x[i] + ml) / dl), 0, nmax);
}

// Re-rounds symmetric levels against the stored scale: x ~ dl*l, l in [-nmax, nmax-1].
// Writes l + nmax (the unsigned stored code).
void RoundAgainstSymmetric(const float* x, int n, int nmax, float dl, int* codes) {
  for (int i = 0; i < n; ++i) {
    const int l = dl == 0.0f ? 0 : std::clamp(NearestInt(x[i] / dl), -nmax, nmax - 1);
    codes[i] = l + nmax;
  }
}

// Packs 2-bit codes: element 128h + 32g + l goes to bits 2g of qs[32h + l].
void Pack2Bit(const int* codes, uint8_t* qs) {
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int* c = codes + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>((c[0] & 3) | ((c[32] & 3) << 2) | ((c[64] & 3) << 4) |
                                            ((c[96] & 3) << 6));
    }
  }
}

// Q4_K/Q5_K share everything but the level count and the bit packing.
template <int kNmax>
void QuantizeAffineK(const float* x, uint16_t* d_out, uint16_t* dmin_out, uint8_t* packed_scales,
                     int* codes) {
  float scales[8], mins[8];
  float w[32];
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum2 = 0.0f;
    for (int l = 0; l < 32; ++l) sum2 += xs[l] * xs[l];
    const float av = std::sqrt(sum2 / 32.0f);
    for (int l = 0; l < 32; ++l) w[l] = av + std::fabs(xs[l]);
    scales[j] = SearchAffineScale(32, kNmax, xs, w, codes + 32 * j, &mins[j], -1.0f, 0.1f, 20);
  }
  uint8_t ls[8], lm[8];
  const float d = QuantizeUnsignedScales(scales, 8, 63, ls);
  const float dmin = QuantizeUnsignedScales(mins, 8, 63, lm);
  *d_out = Fp32ToFp16(d);
  *dmin_out = Fp32ToFp16(dmin);
  PackScaleMinK4(ls, lm, packed_scales);
  const float d_stored = Fp16ToFp32(*d_out);
  const float dmin_stored = Fp16ToFp32(*dmin_out);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    UnpackScaleMinK4(j, packed_scales, &sc, &m);
    RoundAgainstAffine(x + 32 * j, 32, kNmax, d_stored * static_cast<float>(sc),
                       dmin_stored * static_cast<float>(m), codes + 32 * j);
  }
}

}  // namespace

void QuantizeQ2_K(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQKK) {
    BlockQ2_K b{};
    int codes[kQKK];
    float scales[16], mins[16], w[16];
    for (int j = 0; j < 16; ++j) {
      const float* xs = src + 16 * j;
      for (int l = 0; l < 16; ++l) w[l] = std::fabs(xs[l]);
      scales[j] = SearchAffineScale(16, 3, xs, w, codes + 16 * j, &mins[j], -0.5f, 0.1f, 15);
    }
    uint8_t ls[16], lm[16];
    b.d = Fp32ToFp16(QuantizeUnsignedScales(scales, 16, 15, ls));
    b.dmin = Fp32ToFp16(QuantizeUnsignedScales(mins, 16, 15, lm));
    const float d = Fp16ToFp32(b.d), dmin = Fp16ToFp32(b.dmin);
    for (int j = 0; j < 16; ++j) {
      b.scales[j] = static_cast<uint8_t>(ls[j] | (lm[j] << 4));
      RoundAgainstAffine(src + 16 * j, 16, 3, d * static_cast<float>(ls[j]),
                         dmin * static_cast<float>(lm[j]), codes + 16 * j);
    }
    Pack2Bit(codes, b.qs);
    StoreBlock(b, dst, i);
  }
}

void QuantizeQ3_K(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQKK) {
    BlockQ3_K b{};
    int codes[kQKK];
    float scales[16], w[16];
    for (int j = 0; j < 16; ++j) {
      const float* xs = src + 16 * j;
      for (int l = 0; l < 16; ++l) w[l] = xs[l] * xs[l];
      scales[j] = SearchSymmetricScale(16, 4, xs, w, codes + 16 * j, /*fan=*/9);
    }
    // Signed 6-bit sub-block scales: the largest magnitude maps onto -32.
    const float max_scale = SignedAbsMax(scales, 16);
    uint8_t biased[16];
    float d = 0.0f;
    if (max_scale != 0.0f) {
      const float iscale = -32.0f / max_scale;
      for (int j = 0; j < 16; ++j) {
        biased[j] = static_cast<uint8_t>(std::clamp(NearestInt(iscale * scales[j]), -32, 31) + 32);
      }
      d = 1.0f / iscale;
    } else {
      std::fill(biased, biased + 16, uint8_t{32});
    }
    PackScalesQ3K(biased, b.scales);
    b.d = Fp32ToFp16(d);
    const float d_stored = Fp16ToFp32(b.d);
    for (int j = 0; j < 16; ++j) {
      RoundAgainstSymmetric(src + 16 * j, 16, 4, d_stored * static_cast<float>(biased[j] - 32),
                            codes + 16 * j);
    }
    // High bit of each 3-bit code goes to hmask (bit e/32 of byte e%32), low 2 bits to qs.
    for (int e = 0; e < kQKK; ++e) {
      if (codes[e] > 3) b.hmask[e % 32] |= static_cast<uint8_t>(1u << (e / 32));
    }
    Pack2Bit(codes, b.qs);
    StoreBlock(b, dst, i);
  }
}

void QuantizeQ4_K(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQKK) {
    BlockQ4_K b{};
    int codes[kQKK];
    QuantizeAffineK<15>(src, &b.d, &b.dmin, b.scales, codes);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        b.qs[32 * c + l] = static_cast<uint8_t>(codes[64 * c + l] | (codes[64 * c + 32 + l] << 4));
      }
    }
    StoreBlock(b, dst, i);
  }
}

void QuantizeQ5_K(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQKK) {
    BlockQ5_K b{};
    int codes[kQKK];
    QuantizeAffineK<31>(src, &b.d, &b.dmin, b.scales, codes);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int c0 = codes[64 * c + l], c1 = codes[64 * c + 32 + l];
        b.qs[32 * c + l] = static_cast<uint8_t>((c0 & 0xF) | ((c1 & 0xF) << 4));
        b.qh[l] |= static_cast<uint8_t>(((c0 >> 4) << (2 * c)) | ((c1 >> 4) << (2 * c + 1)));
      }
    }
    StoreBlock(b, dst, i);
  }
}

void QuantizeQ6_K(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQKK) {
    BlockQ6_K b{};
    int codes[kQKK];
    float scales[16], w[16];
    for (int j = 0; j < 16; ++j) {
      const float* xs = src + 16 * j;
      for (int l = 0; l < 16; ++l) w[l] = xs[l] * xs[l];
      scales[j] = SearchSymmetricScale(16, 32, xs, w, codes + 16 * j, /*fan=*/20);
    }
    // int8 sub-block scales: the largest magnitude maps onto -128.
    const float max_scale = SignedAbsMax(scales, 16);
    float d = 0.0f;
    if (max_scale != 0.0f) {
      const float iscale = -128.0f / max_scale;
      for (int j = 0; j < 16; ++j) {
        b.scales[j] = static_cast<int8_t>(std::clamp(NearestInt(iscale * scales[j]), -128, 127));
      }
      d = 1.0f / iscale;
    }
    b.d = Fp32ToFp16(d);
    const float d_stored = Fp16ToFp32(b.d);
    for (int j = 0; j < 16; ++j) {
      RoundAgainstSymmetric(src + 16 * j, 16, 32, d_stored * static_cast<float>(b.scales[j]),
                            codes + 16 * j);
    }
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; ++l) {
        const int* c = codes + 128 * h + l;
        b.ql[64 * h + l] = static_cast<uint8_t>((c[0] & 0xF) | ((c[64] & 0xF) << 4));
        b.ql[64 * h + l + 32] = static_cast<uint8_t>((c[32] & 0xF) | ((c[96] & 0xF) << 4));
        b.qh[32 * h + l] = static_cast<uint8_t>((c[0] >> 4) | ((c[32] >> 4) << 2) |
                                                ((c[64] >> 4) << 4) | ((c[96] >> 4) << 6));
      }
    }
    StoreBlock(b, dst, i);
  }
}

void QuantizeQ8_K(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQKK) {
    BlockQ8_K b{};
    const float max = SignedAbsMax(src, kQKK);
    if (max != 0.0f && std::isfinite(max)) {
      const float iscale = -127.0f / max;
      for (int j = 0; j < kQKK; ++j) {
        b.qs[j] = static_cast<int8_t>(std::clamp(NearestInt(iscale * src[j]), -127, 127));
      }
      b.d = 1.0f / iscale;
    }
    for (int g = 0; g < kQKK / 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b.qs[16 * g + l];
      b.bsums[g] = static_cast<int16_t>(sum);
    }
    StoreBlock(b, dst, i);
  }
}

}  // namespace trueno::quant
