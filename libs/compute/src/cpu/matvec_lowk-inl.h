// Per-target bodies of the Q2_K / Q3_K dot products (see cpu/matvec_lowk.h).
//
// Both types store element i = 128h + 32g + l of a super-block as bits 2g..2g+1 of
// qs[32h + l]; its sub-block of 16 is i / 16. One 32-byte load of qs therefore yields four
// 32-element groups by shifting. Weights are made unsigned for the u8 x i8 multiply-add:
//   Q2_K: q in [0, 3]; the min term dmin * m * sum(a) uses the activation's per-16 sums.
//   Q3_K: u = low2 + 4 * hbit in [0, 7] and q = u - 4, so sum sc * q * a =
//         sum sc * u * a - 4 * sum sc * bsum.
// Per-target include guard: this file is re-included once per Highway target.
#if defined(TRUENO_CPU_MATVEC_LOWK_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRUENO_CPU_MATVEC_LOWK_INL_H_
#undef TRUENO_CPU_MATVEC_LOWK_INL_H_
#else
#define TRUENO_CPU_MATVEC_LOWK_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "cpu/dot_i8-inl.h"
#include "hwy/highway.h"
#include "quant/k_scales.h"
#include "trueno/dtype.h"
#include "trueno/quant_blocks.h"

HWY_BEFORE_NAMESPACE();
namespace trueno {
namespace HWY_NAMESPACE {

// The 2-bit field `kGroup` (0..3) of every byte of v.
template <int kGroup, class V>
HWY_INLINE V TwoBits(V v) {
  const hn::Rebind<uint8_t, hn::DFromV<V>> du8;
  if constexpr (kGroup == 0) {
    return hn::And(v, hn::Set(du8, 3));
  } else {
    return hn::And(hn::ShiftRight<2 * kGroup>(v), hn::Set(du8, 3));
  }
}

// Accumulates the four 32-element groups g of half h (elements 128h + 32g + off ..) for one
// N8-wide step at byte offset `off` of qs: acc += sum sc[sub] * u * a. `high` supplies the
// extra unsigned bits (Q3_K: 4 * hbit) per group, or nothing for Q2_K.
template <bool kThreeBit, class VU8>
HWY_INLINE hn::Vec<D32> LowKStep(VU8 packed, VU8* hbits, const int16_t* sc, const int8_t* a,
                                 int off, hn::Vec<D32> acc) {
  const D8 d8;
  const DU8 du8;
  const VU8 groups[4] = {TwoBits<0>(packed), TwoBits<1>(packed), TwoBits<2>(packed),
                         TwoBits<3>(packed)};
  const int is = off / 16;
  for (int g = 0; g < 4; ++g) {
    VU8 u = groups[g];
    if constexpr (kThreeBit) {
      u = hn::Or(u, hn::ShiftLeft<2>(hn::And(*hbits, hn::Set(du8, 1))));
      *hbits = hn::ShiftRight<1>(*hbits);
    }
    acc = hn::Add(acc, DotU8I8Scaled(hn::BitCast(d8, u), hn::LoadU(d8, a + 32 * g + off),
                                     PairScale(sc[2 * g + is], sc[2 * g + is + 1])));
  }
  return acc;
}

HWY_INLINE float DotQ2_KRow(const BlockQ2_K* HWY_RESTRICT w, const BlockQ8_K* HWY_RESTRICT a,
                            int nb) {
  const DU8 du8;
  const DF32 df;
  const int N8 = static_cast<int>(hn::Lanes(du8));
  auto accf = hn::Zero(df);
  float min_sum = 0.0f;
  for (int b = 0; b < nb; ++b) {
    int16_t sc[17];
    int32_t mins = 0;
    for (int s = 0; s < 16; ++s) {
      sc[s] = static_cast<int16_t>(w[b].scales[s] & 0xF);
      mins += (w[b].scales[s] >> 4) * a[b].bsums[s];
    }
    sc[16] = 0;
    auto acc = hn::Zero(D32());
    for (int h = 0; h < 2; ++h) {
      for (int off = 0; off < 32; off += N8) {
        auto packed = hn::LoadU(du8, w[b].qs + 32 * h + off);
        acc = LowKStep<false>(packed, &packed, sc + 8 * h, a[b].qs + 128 * h, off, acc);
      }
    }
    const float d = HalfToF32(w[b].d) * a[b].d;
    accf = hn::MulAdd(hn::ConvertTo(df, acc), hn::Set(df, d), accf);
    min_sum += HalfToF32(w[b].dmin) * a[b].d * static_cast<float>(mins);
  }
  return hn::GetLane(hn::SumOfLanes(df, accf)) - min_sum;
}

HWY_INLINE float DotQ3_KRow(const BlockQ3_K* HWY_RESTRICT w, const BlockQ8_K* HWY_RESTRICT a,
                            int nb) {
  const DU8 du8;
  const DF32 df;
  const int N8 = static_cast<int>(hn::Lanes(du8));
  auto accf = hn::Zero(df);
  float correction = 0.0f;
  for (int b = 0; b < nb; ++b) {
    int16_t sc[17];
    int32_t offset = 0;
    for (int s = 0; s < 16; ++s) {
      sc[s] = static_cast<int16_t>(quant::UnpackScaleQ3K(s, w[b].scales));
      offset += sc[s] * a[b].bsums[s];
    }
    sc[16] = 0;
    auto acc = hn::Zero(D32());
    for (int off = 0; off < 32; off += N8) {
      // Bit 4h + g of hmask[l] is the high bit of element 128h + 32g + l: consumed in order.
      auto hbits = hn::LoadU(du8, w[b].hmask + off);
      for (int h = 0; h < 2; ++h) {
        const auto packed = hn::LoadU(du8, w[b].qs + 32 * h + off);
        acc = LowKStep<true>(packed, &hbits, sc + 8 * h, a[b].qs + 128 * h, off, acc);
      }
    }
    const float d = HalfToF32(w[b].d) * a[b].d;
    accf = hn::MulAdd(hn::ConvertTo(df, acc), hn::Set(df, d), accf);
    correction += d * 4.0f * static_cast<float>(offset);
  }
  return hn::GetLane(hn::SumOfLanes(df, accf)) - correction;
}

HWY_NOINLINE void MatMulRowsLowKImpl(DType wtype, const uint8_t* HWY_RESTRICT w, size_t row_bytes,
                                     int row_begin, int row_end, int cols, const uint8_t* act,
                                     size_t act_stride, int n_tokens, float* HWY_RESTRICT Y,
                                     int rows) {
  const int nb = cols / kQKK;
  for (int r = row_begin; r < row_end; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    for (int t = 0; t < n_tokens; ++t) {
      const auto* at =
          reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * act_stride);
      Y[static_cast<size_t>(t) * rows + r] =
          wtype == DType::kQ2_K ? DotQ2_KRow(reinterpret_cast<const BlockQ2_K*>(row), at, nb)
                                : DotQ3_KRow(reinterpret_cast<const BlockQ3_K*>(row), at, nb);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace trueno
HWY_AFTER_NAMESPACE();

#endif  // TRUENO_CPU_MATVEC_LOWK_INL_H_
