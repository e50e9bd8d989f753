// Per-target bodies of MatVec/MatMul: one weight row dotted with one activation row, for each
// supported weight type. Quantized rows use integer dot products against 8-bit activations
// (cpu/act_quant.h) and convert to float once per block.
// Per-target include guard: this file is re-included once per Highway target.
#if defined(TRUENO_CPU_MATVEC_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRUENO_CPU_MATVEC_INL_H_
#undef TRUENO_CPU_MATVEC_INL_H_
#else
#define TRUENO_CPU_MATVEC_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "cpu/act_quant.h"
#include "cpu/dot_i8-inl.h"
#include "hwy/highway.h"
#include "trueno/dtype.h"
#include "trueno/half.h"
#include "trueno/quant_blocks.h"

HWY_BEFORE_NAMESPACE();
namespace trueno {
namespace HWY_NAMESPACE {

HWY_INLINE float DotF32Row(const float* HWY_RESTRICT w, const float* HWY_RESTRICT x, int n) {
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  auto acc0 = hn::Zero(df);
  auto acc1 = hn::Zero(df);
  int i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::MulAdd(hn::LoadU(df, w + i), hn::LoadU(df, x + i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(df, w + i + N), hn::LoadU(df, x + i + N), acc1);
  }
  for (; i + N <= n; i += N) acc0 = hn::MulAdd(hn::LoadU(df, w + i), hn::LoadU(df, x + i), acc0);
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += w[i] * x[i];
  return sum;
}

// F16 and BF16 rows: widen to f32 in registers.
template <bool kBf16>
HWY_INLINE float DotHalfRow(const uint16_t* HWY_RESTRICT w, const float* HWY_RESTRICT x, int n) {
  const hn::ScalableTag<float> df;
  using HalfT = std::conditional_t<kBf16, hwy::bfloat16_t, hwy::float16_t>;
  const hn::Rebind<HalfT, decltype(df)> dh;
  const int N = static_cast<int>(hn::Lanes(df));
  const HalfT* wh = reinterpret_cast<const HalfT*>(w);
  auto acc0 = hn::Zero(df);
  auto acc1 = hn::Zero(df);
  int i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wh + i)), hn::LoadU(df, x + i), acc0);
    acc1 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wh + i + N)), hn::LoadU(df, x + i + N), acc1);
  }
  for (; i + N <= n; i += N) {
    acc0 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wh + i)), hn::LoadU(df, x + i), acc0);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += (kBf16 ? Bf16ToFp32(w[i]) : Fp16ToFp32(w[i])) * x[i];
  return sum;
}

HWY_INLINE float DotQ8_0Row(const BlockQ8_0* HWY_RESTRICT w, const cpu::ActQ8_0* HWY_RESTRICT a,
                            int nb) {
  const D8 d8;
  const DF32 df;
  const int N8 = static_cast<int>(hn::Lanes(d8));
  auto accf = hn::Zero(df);
  for (int b = 0; b < nb; ++b) {
    auto acc = hn::Zero(D32());
    for (int j = 0; j < kQK; j += N8) {
      acc = hn::Add(acc, DotI8I8(hn::LoadU(d8, w[b].qs + j), hn::LoadU(d8, a[b].qs + j)));
    }
    accf = hn::MulAdd(hn::ConvertTo(df, acc), hn::Set(df, HalfToF32(w[b].d) * a[b].d), accf);
  }
  return hn::GetLane(hn::SumOfLanes(df, accf));
}

// Q4_0: x = d * (q - 8); element l < 16 is the low nibble of qs[l], l >= 16 the high nibble of
// qs[l - 16]. sum (q - 8) a = sum q a - 8 sum a, with sum a precomputed per activation block.
HWY_INLINE float DotQ4_0Row(const BlockQ4_0* HWY_RESTRICT w, const cpu::ActQ8_0* HWY_RESTRICT a,
                            int nb) {
  const D8 d8;
  const DU8 du8;
  const DF32 df;
  const int N8 = static_cast<int>(hn::Lanes(d8));
  const bool wide = N8 == 32;
  auto accf = hn::Zero(df);
  float correction = 0.0f;
  for (int b = 0; b < nb; ++b) {
    auto acc = hn::Zero(D32());
    if (wide) {
      // 16 packed bytes in both 128-bit halves; low nibbles are elements 0..15, high 16..31.
      const auto packed = hn::LoadDup128(du8, w[b].qs);
      const auto q = hn::IfThenElse(hn::FirstN(du8, 16), hn::And(packed, hn::Set(du8, 0x0F)),
                                    hn::ShiftRight<4>(packed));
      acc = DotU8I8(hn::BitCast(d8, q), hn::LoadU(d8, a[b].qs));
    } else {
      for (int off = 0; off < 16; off += N8) {
        const auto packed = hn::LoadU(du8, w[b].qs + off);
        const auto lo = hn::BitCast(d8, hn::And(packed, hn::Set(du8, 0x0F)));
        const auto hi = hn::BitCast(d8, hn::ShiftRight<4>(packed));
        acc = hn::Add(acc, DotU8I8(lo, hn::LoadU(d8, a[b].qs + off)));
        acc = hn::Add(acc, DotU8I8(hi, hn::LoadU(d8, a[b].qs + 16 + off)));
      }
    }
    const float scale = HalfToF32(w[b].d) * a[b].d;
    accf = hn::MulAdd(hn::ConvertTo(df, acc), hn::Set(df, scale), accf);
    correction += 8.0f * scale * static_cast<float>(a[b].sum);
  }
  return hn::GetLane(hn::SumOfLanes(df, accf)) - correction;
}

// Unsigned 4- or 5-bit quants of one legacy block (element l < 16: low nibble of qs[l], l >= 16:
// high nibble of qs[l - 16]; fifth bits from `hbits`, 32 bytes of 0x10/0) dotted with the
// block's int8 activations.
HWY_INLINE hn::Vec<D32> DotNibbles(const uint8_t* HWY_RESTRICT qs,
                                   const uint8_t* HWY_RESTRICT hbits,
                                   const int8_t* HWY_RESTRICT a) {
  const D8 d8;
  const DU8 du8;
  const int N8 = static_cast<int>(hn::Lanes(d8));
  auto acc = hn::Zero(D32());
  if (N8 == 32) {
    const auto packed = hn::LoadDup128(du8, qs);
    auto q = hn::IfThenElse(hn::FirstN(du8, 16), hn::And(packed, hn::Set(du8, 0x0F)),
                            hn::ShiftRight<4>(packed));
    if (hbits != nullptr) q = hn::Or(q, hn::LoadU(du8, hbits));
    return DotU8I8(hn::BitCast(d8, q), hn::LoadU(d8, a));
  }
  for (int off = 0; off < 16; off += N8) {
    const auto packed = hn::LoadU(du8, qs + off);
    auto lo = hn::And(packed, hn::Set(du8, 0x0F));
    auto hi = hn::ShiftRight<4>(packed);
    if (hbits != nullptr) {
      lo = hn::Or(lo, hn::LoadU(du8, hbits + off));
      hi = hn::Or(hi, hn::LoadU(du8, hbits + 16 + off));
    }
    acc = hn::Add(acc, DotU8I8(hn::BitCast(d8, lo), hn::LoadU(d8, a + off)));
    acc = hn::Add(acc, DotU8I8(hn::BitCast(d8, hi), hn::LoadU(d8, a + 16 + off)));
  }
  return acc;
}

// Q4_1 / Q5_0 / Q5_1: x = d * q + m (Q4_1, Q5_1) or d * (q - 16) (Q5_0), q from DotNibbles.
// The offset term is m * sum(a) or -16 d * sum(a), with sum(a) precomputed per block.
template <class Block, bool kHasMin, bool kFiveBit>
HWY_INLINE float DotLegacyRow(const Block* HWY_RESTRICT w, const cpu::ActQ8_0* HWY_RESTRICT a,
                              int nb) {
  const DF32 df;
  auto accf = hn::Zero(df);
  float offset = 0.0f;
  alignas(32) uint64_t hbits[4];
  for (int b = 0; b < nb; ++b) {
    const uint8_t* bits = nullptr;
    if constexpr (kFiveBit) {
      uint32_t qh;
      std::memcpy(&qh, w[b].qh, 4);
      for (int i = 0; i < 4; ++i) hbits[i] = cpu::kQhBytes.v[(qh >> (8 * i)) & 0xFF];
      bits = reinterpret_cast<const uint8_t*>(hbits);
    }
    const auto acc = DotNibbles(w[b].qs, bits, a[b].qs);
    const float d = HalfToF32(w[b].d);
    accf = hn::MulAdd(hn::ConvertTo(df, acc), hn::Set(df, d * a[b].d), accf);
    if constexpr (kHasMin) {
      offset += HalfToF32(w[b].m) * a[b].d * static_cast<float>(a[b].sum);
    } else {
      offset -= 16.0f * d * a[b].d * static_cast<float>(a[b].sum);
    }
  }
  return hn::GetLane(hn::SumOfLanes(df, accf)) + offset;
}

// Q4_K: 8 sub-blocks of 32 with 6-bit scale sc and min m; x = d*sc*q - dmin*m. The min term
// uses the activation's per-16 sums: sum_sub m * (bsums[2s] + bsums[2s+1]).
HWY_INLINE float DotQ4_KRow(const BlockQ4_K* HWY_RESTRICT w, const BlockQ8_K* HWY_RESTRICT a,
                            int nb) {
  const D8 d8;
  const DU8 du8;
  const D32 d32;
  const DF32 df;
  const int N8 = static_cast<int>(hn::Lanes(d8));
  auto accf = hn::Zero(df);
  float min_sum = 0.0f;
  for (int b = 0; b < nb; ++b) {
    uint8_t sc[8], m[8];
    int32_t mins = 0;
    for (int s = 0; s < 8; ++s) {
      cpu::ScaleMinK4(s, w[b].scales, &sc[s], &m[s]);
      mins += m[s] * (a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
    }
    auto acc = hn::Zero(d32);
    for (int j = 0; j < 4; ++j) {
      const auto s_lo = hn::Set(D16(), static_cast<int16_t>(sc[2 * j]));
      const auto s_hi = hn::Set(D16(), static_cast<int16_t>(sc[2 * j + 1]));
      for (int off = 0; off < 32; off += N8) {
        const auto packed = hn::LoadU(du8, w[b].qs + 32 * j + off);
        const auto lo = hn::BitCast(d8, hn::And(packed, hn::Set(du8, 0x0F)));
        const auto hi = hn::BitCast(d8, hn::ShiftRight<4>(packed));
        acc = hn::Add(acc, DotU8I8Scaled(lo, hn::LoadU(d8, a[b].qs + 64 * j + off), s_lo));
        acc = hn::Add(acc, DotU8I8Scaled(hi, hn::LoadU(d8, a[b].qs + 64 * j + 32 + off), s_hi));
      }
    }
    const float d = HalfToF32(w[b].d) * a[b].d;
    accf = hn::MulAdd(hn::ConvertTo(df, acc), hn::Set(df, d), accf);
    min_sum += HalfToF32(w[b].dmin) * a[b].d * static_cast<float>(mins);
  }
  return hn::GetLane(hn::SumOfLanes(df, accf)) - min_sum;
}

// Q5_K: as Q4_K with a fifth bit per element: bit (2j + high) of qh[l] for chunk j.
HWY_INLINE float DotQ5_KRow(const BlockQ5_K* HWY_RESTRICT w, const BlockQ8_K* HWY_RESTRICT a,
                            int nb) {
  const D8 d8;
  const DU8 du8;
  const D32 d32;
  const DF32 df;
  const int N8 = static_cast<int>(hn::Lanes(d8));
  auto accf = hn::Zero(df);
  float min_sum = 0.0f;
  for (int b = 0; b < nb; ++b) {
    uint8_t sc[8], m[8];
    int32_t mins = 0;
    for (int s = 0; s < 8; ++s) {
      cpu::ScaleMinK4(s, w[b].scales, &sc[s], &m[s]);
      mins += m[s] * (a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
    }
    auto acc = hn::Zero(d32);
    for (int off = 0; off < 32; off += N8) {
      auto qh = hn::LoadU(du8, w[b].qh + off);
      for (int j = 0; j < 4; ++j) {
        const auto packed = hn::LoadU(du8, w[b].qs + 32 * j + off);
        const auto bit_lo = hn::ShiftLeft<4>(hn::And(qh, hn::Set(du8, 1)));
        const auto bit_hi = hn::ShiftLeft<3>(hn::And(qh, hn::Set(du8, 2)));
        const auto lo = hn::BitCast(d8, hn::Or(hn::And(packed, hn::Set(du8, 0x0F)), bit_lo));
        const auto hi = hn::BitCast(d8, hn::Or(hn::ShiftRight<4>(packed), bit_hi));
        acc = hn::Add(acc, DotU8I8Scaled(lo, hn::LoadU(d8, a[b].qs + 64 * j + off),
                                         hn::Set(D16(), static_cast<int16_t>(sc[2 * j]))));
        acc = hn::Add(acc, DotU8I8Scaled(hi, hn::LoadU(d8, a[b].qs + 64 * j + 32 + off),
                                         hn::Set(D16(), static_cast<int16_t>(sc[2 * j + 1]))));
        qh = hn::ShiftRight<2>(qh);
      }
    }
    const float d = HalfToF32(w[b].d) * a[b].d;
    accf = hn::MulAdd(hn::ConvertTo(df, acc), hn::Set(df, d), accf);
    min_sum += HalfToF32(w[b].dmin) * a[b].d * static_cast<float>(mins);
  }
  return hn::GetLane(hn::SumOfLanes(df, accf)) - min_sum;
}

// Q6_K: 16 sub-blocks of 16 with int8 scales; q = 4 low bits (ql) | 2 high bits (qh) << 4,
// x = d * sc * (q - 32). The -32 term uses the activation's per-16 sums.
HWY_INLINE float DotQ6_KRow(const BlockQ6_K* HWY_RESTRICT w, const BlockQ8_K* HWY_RESTRICT a,
                            int nb) {
  const D8 d8;
  const DU8 du8;
  const D32 d32;
  const DF32 df;
  const int N8 = static_cast<int>(hn::Lanes(d8));
  auto accf = hn::Zero(df);
  float correction = 0.0f;
  for (int b = 0; b < nb; ++b) {
    const int8_t* scales = w[b].scales;
    int32_t offset = 0;
    for (int s = 0; s < 16; ++s) offset += scales[s] * a[b].bsums[s];
    auto acc = hn::Zero(d32);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w[b].ql + 64 * half;
      const uint8_t* qh = w[b].qh + 32 * half;
      const int8_t* sc = scales + 8 * half;
      const int8_t* q8 = a[b].qs + 128 * half;
      for (int off = 0; off < 32; off += N8) {
        const auto l0 = hn::LoadU(du8, ql + off);
        const auto l1 = hn::LoadU(du8, ql + 32 + off);
        const auto h = hn::LoadU(du8, qh + off);
        const auto mask = hn::Set(du8, 0x0F);
        const auto q1 = hn::Or(hn::And(l0, mask), hn::ShiftLeft<4>(hn::And(h, hn::Set(du8, 0x03))));
        const auto q2 = hn::Or(hn::And(l1, mask), hn::ShiftLeft<2>(hn::And(h, hn::Set(du8, 0x0C))));
        const auto q3 = hn::Or(hn::ShiftRight<4>(l0), hn::And(h, hn::Set(du8, 0x30)));
        const auto q4 =
            hn::Or(hn::ShiftRight<4>(l1), hn::ShiftRight<2>(hn::And(h, hn::Set(du8, 0xC0))));
        const int is = off / 16;
        acc = hn::Add(acc, DotU8I8Scaled(hn::BitCast(d8, q1), hn::LoadU(d8, q8 + off),
                                         PairScale(sc[is + 0], sc[is + 1])));
        acc = hn::Add(acc, DotU8I8Scaled(hn::BitCast(d8, q2), hn::LoadU(d8, q8 + 32 + off),
                                         PairScale(sc[is + 2], sc[is + 3])));
        acc = hn::Add(acc, DotU8I8Scaled(hn::BitCast(d8, q3), hn::LoadU(d8, q8 + 64 + off),
                                         PairScale(sc[is + 4], sc[is + 5])));
        acc = hn::Add(acc, DotU8I8Scaled(hn::BitCast(d8, q4), hn::LoadU(d8, q8 + 96 + off),
                                         PairScale(sc[is + 6], sc[is + 7])));
      }
    }
    const float d = HalfToF32(w[b].d) * a[b].d;
    accf = hn::MulAdd(hn::ConvertTo(df, acc), hn::Set(df, d), accf);
    correction += d * 32.0f * static_cast<float>(offset);
  }
  return hn::GetLane(hn::SumOfLanes(df, accf)) - correction;
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
// 256-bit fast paths for the types of a q4_k_m model (Q5_0, Q8_0, Q4_K, Q6_K): each weight block
// is unpacked once and dotted with NT tokens' activations (NT = 1 for decode, 4 for prefill), and
// the per-block scalar work (fp16 scales, Q5_0 fifth bits) is done with single instructions.
// Same integer products and the same per-block float accumulation as the generic bodies above.
#define TRUENO_WIDE_MATVEC 1

HWY_INLINE float HSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

HWY_INLINE int32_t HSumI32(__m128i v) {
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
  return _mm_cvtsi128_si32(v);
}
HWY_INLINE int32_t HSumI32(__m256i v) {
  return HSumI32(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

HWY_INLINE __m256i MaddU8I8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// The fifth bits of a Q5_0 block as 32 bytes of 0x10 / 0 (byte k <- bit k of qh).
HWY_INLINE __m256i QhBits(const uint8_t* qh4) {
  uint32_t qh;
  std::memcpy(&qh, qh4, 4);
  const __m256i idx = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                       2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), idx);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// Legacy 32-element blocks: x = d * (q - 16) (Q5_0) or d * (q - 8) (Q4_0 layout without qh).
template <int NT, bool kFiveBit, class Block>
HWY_INLINE void DotQ5_0Wide(const Block* HWY_RESTRICT w, const uint8_t* act, size_t act_stride,
                            int nb, float* out) {
  __m256 accf[NT];
  float offset[NT];
  const cpu::ActQ8_0* a[NT];
  for (int t = 0; t < NT; ++t) {
    accf[t] = _mm256_setzero_ps();
    offset[t] = 0.0f;
    a[t] = reinterpret_cast<const cpu::ActQ8_0*>(act + static_cast<size_t>(t) * act_stride);
  }
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  for (int b = 0; b < nb; ++b) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    __m256i q =
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm256_castsi256_si128(low_mask)),
                         _mm_and_si128(packed, _mm256_castsi256_si128(low_mask)));
    if constexpr (kFiveBit) q = _mm256_or_si256(q, QhBits(w[b].qh));
    const float d = HalfToF32(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const __m256i p =
          MaddU8I8(q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][b].qs)));
      const float scale = d * a[t][b].d;
      accf[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale), accf[t]);
      offset[t] += scale * static_cast<float>(a[t][b].sum);
    }
  }
  const float bias = kFiveBit ? 16.0f : 8.0f;
  for (int t = 0; t < NT; ++t) out[t] = HSum(accf[t]) - bias * offset[t];
}

#if HWY_TARGET <= HWY_AVX3
// Q5_0 on 512-bit vectors: two blocks per instruction (lanes 0-7 of the int32 products belong to
// block b, 8-15 to block b + 1). Q5_0 is 44% of a q4_k_m qwen2.5-0.5b step and compute-bound.
template <int NT>
HWY_INLINE void DotQ5_0Wide512(const BlockQ5_0* HWY_RESTRICT w, const uint8_t* act,
                               size_t act_stride, int nb, float* out) {
  __m512 acc[NT];
  float offset[NT];
  const cpu::ActQ8_0* a[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm512_setzero_ps();
    offset[t] = 0.0f;
    a[t] = reinterpret_cast<const cpu::ActQ8_0*>(act + static_cast<size_t>(t) * act_stride);
  }
  const __m512i low_mask = _mm512_set1_epi8(0x0F);
  const __m512i ones = _mm512_set1_epi16(1);
  const __m512i bit = _mm512_set1_epi64(static_cast<long long>(0x8040201008040201ULL));
  const __m512i sixteen = _mm512_set1_epi8(0x10);
  // Byte k of 128-bit lane l takes byte 2l + k / 8 of the combined 64-bit qh.
  const __m512i idx = _mm512_set_epi64(
      0x0707070707070707LL, 0x0606060606060606LL, 0x0505050505050505LL, 0x0404040404040404LL,
      0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0x0000000000000000LL);
  int b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m128i p0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    const __m128i p1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b + 1].qs));
    __m512i x = _mm512_castsi256_si512(_mm256_set_m128i(p1, p0));
    x = _mm512_shuffle_i64x2(x, x, _MM_SHUFFLE(1, 1, 0, 0));  // [p0, p0, p1, p1]
    const __m512i lo = _mm512_and_si512(x, low_mask);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), low_mask);
    __m512i q = _mm512_mask_blend_epi64(0xCC, lo, hi);  // lanes 1 and 3: high nibbles
    uint32_t qh0, qh1;
    std::memcpy(&qh0, w[b].qh, 4);
    std::memcpy(&qh1, w[b + 1].qh, 4);
    const uint64_t qh = qh0 | (static_cast<uint64_t>(qh1) << 32);
    const __m512i bytes = _mm512_shuffle_epi8(_mm512_set1_epi64(static_cast<long long>(qh)), idx);
    q = _mm512_or_si512(q, _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(bytes, bit), sixteen));
    const float d0 = HalfToF32(w[b].d), d1 = HalfToF32(w[b + 1].d);
    for (int t = 0; t < NT; ++t) {
      const cpu::ActQ8_0& a0 = a[t][b];
      const cpu::ActQ8_0& a1 = a[t][b + 1];
      const __m512i av = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a0.qs))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a1.qs)), 1);
      const __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(q, av), ones);
      const float s0 = d0 * a0.d, s1 = d1 * a1.d;
      const __m512 sc =
          _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(s0)), _mm256_set1_ps(s1), 1);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sc, acc[t]);
      offset[t] += s0 * static_cast<float>(a0.sum) + s1 * static_cast<float>(a1.sum);
    }
  }
  float tail[NT] = {};
  if (b < nb) {
    DotQ5_0Wide<NT, true>(w + b, act + static_cast<size_t>(b) * sizeof(cpu::ActQ8_0), act_stride,
                          nb - b, tail);
  }
  for (int t = 0; t < NT; ++t) {
    out[t] = _mm512_reduce_add_ps(acc[t]) - 16.0f * offset[t] + tail[t];
  }
}
#endif  // HWY_TARGET <= HWY_AVX3

template <int NT>
HWY_INLINE void DotQ8_0Wide(const BlockQ8_0* HWY_RESTRICT w, const uint8_t* act, size_t act_stride,
                            int nb, float* out) {
  __m256 accf[NT];
  const cpu::ActQ8_0* a[NT];
  for (int t = 0; t < NT; ++t) {
    accf[t] = _mm256_setzero_ps();
    a[t] = reinterpret_cast<const cpu::ActQ8_0*>(act + static_cast<size_t>(t) * act_stride);
  }
  for (int b = 0; b < nb; ++b) {
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i wabs = _mm256_sign_epi8(wq, wq);
    const float d = HalfToF32(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const __m256i s =
          _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][b].qs)), wq);
      accf[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(MaddU8I8(wabs, s)),
                                _mm256_set1_ps(d * a[t][b].d), accf[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = HSum(accf[t]);
}

// The fp16 scales of blocks w[0 .. n) (n <= 8) in one vector, zero above n.
template <class Block>
HWY_INLINE __m128i LoadScales8(const Block* w, int n) {
  __m128i dh = _mm_setzero_si128();
  switch (n) {
    default:
      dh = _mm_insert_epi16(dh, w[7].d, 7);
      [[fallthrough]];
    case 7:
      dh = _mm_insert_epi16(dh, w[6].d, 6);
      [[fallthrough]];
    case 6:
      dh = _mm_insert_epi16(dh, w[5].d, 5);
      [[fallthrough]];
    case 5:
      dh = _mm_insert_epi16(dh, w[4].d, 4);
      [[fallthrough]];
    case 4:
      dh = _mm_insert_epi16(dh, w[3].d, 3);
      [[fallthrough]];
    case 3:
      dh = _mm_insert_epi16(dh, w[2].d, 2);
      [[fallthrough]];
    case 2:
      dh = _mm_insert_epi16(dh, w[1].d, 1);
      [[fallthrough]];
    case 1:
      dh = _mm_insert_epi16(dh, w[0].d, 0);
  }
  return dh;
}

// The scales of an 8-block group, each broadcast to 8 lanes when used. With 32 vector registers
// (AVX3) one in-register vpermps per block: a broadcast load from a just-stored array waited on
// store forwarding at the start of every group (14% of the VNNI kernel's samples). With 16
// (AVX2) the compiler rematerialises the 8 index vectors (3 instructions each), so there the
// broadcast load from the stack is cheaper.
struct GroupScales {
  static constexpr bool kInRegisters = HWY_TARGET <= HWY_AVX3;
  explicit GroupScales(__m256 s) {
    if constexpr (kInRegisters) {
      v = s;
    } else {
      _mm256_store_ps(m, s);
    }
  }
  __m256 operator[](int k) const {
    if constexpr (kInRegisters) return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(k));
    return _mm256_broadcast_ss(m + k);
  }
  __m256 v;
  alignas(32) float m[8];
};

// The exact int32 dot product of one Q5_0 / Q8_0 block with its int8 activations `a` (the
// packed bias `bias`, -16 sum(a) per lane, included for Q5_0), in 8 lanes.
template <bool kQ8, class Block>
HWY_INLINE __m256i LegacyBlockDot(const Block& w, const int8_t* HWY_RESTRICT a,
                                  const int32_t* HWY_RESTRICT bias) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i av = _mm256_load_si256(reinterpret_cast<const __m256i*>(a));
  if constexpr (kQ8) {
    (void)bias;
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs));
    return _mm256_madd_epi16(
        _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(av, wq)), ones);
  } else {
    const __m256i x =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs)));
    __m256i q = _mm256_and_si256(_mm256_srlv_epi64(x, _mm256_set_epi64x(4, 4, 0, 0)),
                                 _mm256_set1_epi8(0x0F));  // high 128-bit lane: high nibbles
    uint32_t qh;
    std::memcpy(&qh, w.qh, 4);
    const __m256i idx = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                         2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), idx);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    q = _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(q, av), ones),
                            _mm256_load_si256(reinterpret_cast<const __m256i*>(bias)));
  }
}

// Single-token (decode) rows of Q5_0 / Q8_0 on 256-bit vectors without VNNI, reading the
// activations from an ActQ8_0Pack: the integer bias -16 sum(a) (Q5_0) is one vpaddd of the
// packed bias instead of a scalar offset fma per block, and the weight scales of 8 blocks are
// converted by one vcvtph2ps and multiplied by the 8 activation scales at once; each block's
// scale is then one vpermps or broadcast load (GroupScales). Two accumulators (even / odd
// blocks) so the fma latency does not bound a block. Rows [r0, r1) of `w` (`row_bytes` apart) go to
// y[r].
template <bool kQ8>
HWY_INLINE void DotLegacyRows1(const uint8_t* HWY_RESTRICT w, size_t row_bytes, int r0, int r1,
                               const cpu::ActQ8_0Pack& p, const cpu::ActQ8_0* a, int nb,
                               float* HWY_RESTRICT y) {
  using Block = std::conditional_t<kQ8, BlockQ8_0, BlockQ5_0>;
  const int8_t* const pqs = p.qs;
  const int32_t* const pbias = p.bias;
  const float* const pd = p.d;
  // Q5_0 has packed biases for whole block pairs only; an odd last block goes to DotQ5_0Wide.
  const int nb_main = kQ8 ? nb : nb & ~1;
  for (int r = r0; r < r1; ++r) {
    const Block* wb = reinterpret_cast<const Block*>(w + static_cast<size_t>(r) * row_bytes);
    const int8_t* ab = pqs;
    const int32_t* bb = pbias;
    const float* ad = pd;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int b = 0;
    for (; b + 8 <= nb_main; b += 8, wb += 8, ab += 8 * kQK, bb += 64, ad += 8) {
      const GroupScales s8(_mm256_mul_ps(_mm256_cvtph_ps(LoadScales8(wb, 8)), _mm256_loadu_ps(ad)));
      for (int k = 0; k < 8; k += 2) {
        acc0 = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(LegacyBlockDot<kQ8>(wb[k], ab + kQK * k, bb + 8 * k)), s8[k], acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(LegacyBlockDot<kQ8>(wb[k + 1], ab + kQK * (k + 1),
                                                                      bb + 8 * (k + 1))),
                               s8[k + 1], acc1);
      }
    }
    if (b < nb_main) {
      const int n = nb_main - b;
      const GroupScales s8(_mm256_mul_ps(_mm256_cvtph_ps(LoadScales8(wb, n)), _mm256_loadu_ps(ad)));
      int k = 0;
      for (; k + 2 <= n; k += 2) {  // still two accumulators (the 896-wide rows end here)
        acc0 = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(LegacyBlockDot<kQ8>(wb[k], ab + kQK * k, bb + 8 * k)), s8[k], acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(LegacyBlockDot<kQ8>(wb[k + 1], ab + kQK * (k + 1),
                                                                      bb + 8 * (k + 1))),
                               s8[k + 1], acc1);
      }
      if (k < n) {
        acc0 = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(LegacyBlockDot<kQ8>(wb[k], ab + kQK * k, bb + 8 * k)), s8[k], acc0);
      }
    }
    float tail = 0.0f;
    if (nb_main < nb) {
      DotQ5_0Wide<1, true>(
          reinterpret_cast<const BlockQ5_0*>(w + static_cast<size_t>(r) * row_bytes) + (nb - 1),
          reinterpret_cast<const uint8_t*>(a + (nb - 1)), 0, 1, &tail);
    }
    y[r] = HSum(_mm256_add_ps(acc0, acc1)) + tail;
  }
}

#if HWY_TARGET == HWY_AVX3
// AVX-512 VNNI (vpdpbusd: u8 x s8 products of four bytes summed into an int32 lane) for Q5_0 and
// Q8_0. The bias of the unsigned weights (q - 16 for Q5_0, Q8_0's int8 shifted by +128) is
// folded into the integer accumulator: vpdpbusd starts from -bias * sum(a) / 8 in each of the
// block's 8 lanes (exact: the activation sums are integers), so the int32 result is the exact
// block dot product, as in the other kernels. Compiled for VNNI separately (these functions are
// not inlined) and used only when the CPU has it. (The 512-bit two-blocks-per-instruction form
// that preceded these is in git history: slower on Zen 4, see docs/perf-notes.md §15.)
// A function attribute (Highway's AVX3 feature list plus VNNI) rather than `#pragma GCC
// target`, which clang ignores.
#define TRUENO_VNNI_ATTR __attribute__((target(HWY_TARGET_STR ",avx512vnni")))

// Single-token (decode) rows of Q5_0 / Q8_0 with VNNI: DotLegacyRows1 with vpdpbusd starting
// from the packed bias (Q5_0: -16 sum(a) per block, Q8_0: -128 sum(a) for the weights flipped to
// w + 128) and the Q5_0 fifth bits as a byte mask straight from qh (a masked vpaddb of 0x10), on
// 256-bit vectors: one block per instruction, two accumulators. On Zen 4 this beats the two-block
// 512-bit form (whose per-pair scale vectors need a cross-lane vpermps, 512-bit ops issue at half
// rate), ~20% per block in a microbenchmark.
template <bool kQ8, class Block>
TRUENO_VNNI_ATTR inline __m256i LegacyBlockDotVnni(const Block& w, const int8_t* HWY_RESTRICT a,
                                                   const int32_t* HWY_RESTRICT bias) {
  const __m256i av = _mm256_load_si256(reinterpret_cast<const __m256i*>(a));
  const __m256i b = _mm256_load_si256(reinterpret_cast<const __m256i*>(bias));
  if constexpr (kQ8) {
    // w + 128 as unsigned bytes: sum w a = sum (w + 128) a - 128 sum a.
    const __m256i u = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs)),
                                       _mm256_set1_epi8(static_cast<char>(0x80)));
    return _mm256_dpbusd_epi32(_mm256_slli_epi32(b, 3), u, av);
  } else {
    const __m256i x =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs)));
    __m256i q = _mm256_and_si256(_mm256_srlv_epi64(x, _mm256_set_epi64x(4, 4, 0, 0)),
                                 _mm256_set1_epi8(0x0F));  // high 128-bit lane: high nibbles
    uint32_t qh;  // bit k = fifth bit of element k = byte k of q
    std::memcpy(&qh, w.qh, 4);
    q = _mm256_mask_add_epi8(q, static_cast<__mmask32>(qh), q, _mm256_set1_epi8(0x10));
    return _mm256_dpbusd_epi32(b, q, av);
  }
}

template <bool kQ8>
TRUENO_VNNI_ATTR __attribute__((noinline)) void DotLegacyRows1Vnni(const uint8_t* HWY_RESTRICT w,
                                                                   size_t row_bytes, int r0, int r1,
                                                                   const cpu::ActQ8_0Pack& p,
                                                                   const cpu::ActQ8_0* a, int nb,
                                                                   float* HWY_RESTRICT y) {
  using Block = std::conditional_t<kQ8, BlockQ8_0, BlockQ5_0>;
  const int8_t* const pqs = p.qs;
  const int32_t* const pbias = p.bias;
  const float* const pd = p.d;
  const int nb_main = nb & ~1;  // packed biases exist for whole block pairs only
  for (int r = r0; r < r1; ++r) {
    const Block* wb = reinterpret_cast<const Block*>(w + static_cast<size_t>(r) * row_bytes);
    const int8_t* ab = pqs;
    const int32_t* bb = pbias;
    const float* ad = pd;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int b = 0;
    for (; b + 8 <= nb_main; b += 8, wb += 8, ab += 8 * kQK, bb += 64, ad += 8) {
      const GroupScales s8(_mm256_mul_ps(_mm256_cvtph_ps(LoadScales8(wb, 8)), _mm256_loadu_ps(ad)));
      for (int k = 0; k < 8; k += 2) {
        acc0 = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(LegacyBlockDotVnni<kQ8>(wb[k], ab + kQK * k, bb + 8 * k)), s8[k],
            acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(LegacyBlockDotVnni<kQ8>(
                                   wb[k + 1], ab + kQK * (k + 1), bb + 8 * (k + 1))),
                               s8[k + 1], acc1);
      }
    }
    if (b < nb_main) {
      const int n = nb_main - b;
      const GroupScales s8(_mm256_mul_ps(_mm256_cvtph_ps(LoadScales8(wb, n)), _mm256_loadu_ps(ad)));
      int k = 0;
      for (; k + 2 <= n; k += 2) {  // still two accumulators (the 896-wide rows end here)
        acc0 = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(LegacyBlockDotVnni<kQ8>(wb[k], ab + kQK * k, bb + 8 * k)), s8[k],
            acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(LegacyBlockDotVnni<kQ8>(
                                   wb[k + 1], ab + kQK * (k + 1), bb + 8 * (k + 1))),
                               s8[k + 1], acc1);
      }
      if (k < n) {
        acc0 = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(LegacyBlockDotVnni<kQ8>(wb[k], ab + kQK * k, bb + 8 * k)), s8[k],
            acc0);
      }
    }
    float tail = 0.0f;
    if (nb_main < nb) {
      const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
      const uint8_t* at = reinterpret_cast<const uint8_t*>(a + (nb - 1));
      if constexpr (kQ8) {
        DotQ8_0Wide<1>(reinterpret_cast<const BlockQ8_0*>(row) + (nb - 1), at, 0, 1, &tail);
      } else {
        DotQ5_0Wide<1, true>(reinterpret_cast<const BlockQ5_0*>(row) + (nb - 1), at, 0, 1, &tail);
      }
    }
    y[r] = HSum(_mm256_add_ps(acc0, acc1)) + tail;
  }
}

// NT tokens (a prefill tile or a batch decode step) per unpacked Q5_0 / Q8_0 block pair with
// VNNI: DotLegacyRows1Vnni's block dot per token from that token's pack, two blocks per 512-bit
// vpdpbusd, scaled by the float product d_w * d_a (as in the pair kernels), formed for 8 blocks
// per token with one multiply. Unlike the single-token rows (perf-notes §15: 256-bit wins on
// Zen 4), the tiles gained 28-32 % from 512-bit vectors on Zen 5 (§21); not yet measured on a
// Zen 4. Y[(t0 + t) * rows + r] for r in [r0, r1), t < NT.
template <int NT, bool kQ8>
TRUENO_VNNI_ATTR __attribute__((noinline)) void DotLegacyTileVnni(
    const uint8_t* HWY_RESTRICT w, size_t row_bytes, int r0, int r1,
    const cpu::ActQ8_0Pack* HWY_RESTRICT p, const uint8_t* act, size_t act_stride, int nb,
    float* HWY_RESTRICT Y, int rows) {
  using Block = std::conditional_t<kQ8, BlockQ8_0, BlockQ5_0>;
  const int nb_main = nb & ~1;  // packed biases exist for whole block pairs only
  for (int r = r0; r < r1; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    const Block* wr = reinterpret_cast<const Block*>(row);
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int b0 = 0; b0 < nb_main; b0 += 8) {
      const int n = std::min(8, nb_main - b0);  // even: nb_main and b0 are
      const __m256 dw = _mm256_cvtph_ps(LoadScales8(wr + b0, n));
      // Each token's 8 block scale products d_w * d_a at once (one multiply per 8 blocks
      // instead of a broadcast and a multiply per block); lanes are picked per block pair below.
      const __mmask8 valid = static_cast<__mmask8>((1u << n) - 1);
      __m512 s8[NT];
      for (int t = 0; t < NT; ++t) {
        s8[t] =
            _mm512_castps256_ps512(_mm256_mul_ps(dw, _mm256_maskz_loadu_ps(valid, p[t].d + b0)));
      }
      // Two blocks per 512-bit instruction: their packed biases and activations are adjacent.
      for (int k = 0; k < n; k += 2) {
        const int b = b0 + k;
        __m512i q;
        if constexpr (kQ8) {
          const __m512i raw = _mm512_inserti64x4(
              _mm512_castsi256_si512(
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[b].qs))),
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[b + 1].qs)), 1);
          q = _mm512_xor_si512(raw, _mm512_set1_epi8(static_cast<char>(0x80)));
        } else {
          const __m512i x = _mm512_inserti64x4(
              _mm512_castsi256_si512(_mm256_broadcastsi128_si256(
                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(wr[b].qs)))),
              _mm256_broadcastsi128_si256(
                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(wr[b + 1].qs))),
              1);
          q = _mm512_and_si512(_mm512_srlv_epi64(x, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0)),
                               _mm512_set1_epi8(0x0F));  // odd 128-bit lanes: high nibbles
          uint32_t qh0, qh1;
          std::memcpy(&qh0, wr[b].qh, 4);
          std::memcpy(&qh1, wr[b + 1].qh, 4);
          const __mmask64 fifth = static_cast<__mmask64>(qh0) | (static_cast<__mmask64>(qh1) << 32);
          q = _mm512_mask_add_epi8(q, fifth, q, _mm512_set1_epi8(0x10));
        }
        const __m512i lanes = _mm512_inserti64x4(_mm512_set1_epi32(k), _mm256_set1_epi32(k + 1), 1);
        for (int t = 0; t < NT; ++t) {
          __m512i bias = _mm512_loadu_si512(p[t].bias + 8 * b);
          if constexpr (kQ8) bias = _mm512_slli_epi32(bias, 3);
          const __m512i dot = _mm512_dpbusd_epi32(bias, q, _mm512_loadu_si512(p[t].qs + kQK * b));
          acc[t] =
              _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(lanes, s8[t]), acc[t]);
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      float tail = 0.0f;
      if (nb_main < nb) {
        const uint8_t* at = act + static_cast<size_t>(t) * act_stride +
                            static_cast<size_t>(nb - 1) * sizeof(cpu::ActQ8_0);
        if constexpr (kQ8) {
          DotQ8_0Wide<1>(reinterpret_cast<const BlockQ8_0*>(row) + (nb - 1), at, 0, 1, &tail);
        } else {
          DotQ5_0Wide<1, true>(reinterpret_cast<const BlockQ5_0*>(row) + (nb - 1), at, 0, 1, &tail);
        }
      }
      const __m256 folded =
          _mm256_add_ps(_mm512_castps512_ps256(acc[t]), _mm512_extractf32x8_ps(acc[t], 1));
      Y[static_cast<size_t>(t) * rows + r] = HSum(folded) + tail;
    }
  }
}
#undef TRUENO_VNNI_ATTR

// VNNI kernels only where the CPU has them; TRUENO_VNNI=0 turns them off (for A/B timing).
HWY_INLINE bool UseVnni() {
  static const bool use = [] {
    const char* env = std::getenv("TRUENO_VNNI");
    if (env != nullptr && env[0] == '0') return false;
    return __builtin_cpu_supports("avx512vnni") != 0;
  }();
  return use;
}
#endif  // HWY_TARGET == HWY_AVX3

template <int NT>
HWY_INLINE void DotQ4_KWide(const BlockQ4_K* HWY_RESTRICT w, const uint8_t* act, size_t act_stride,
                            int nb, float* out) {
  __m256 accf[NT];
  float min_sum[NT];
  const BlockQ8_K* a[NT];
  for (int t = 0; t < NT; ++t) {
    accf[t] = _mm256_setzero_ps();
    min_sum[t] = 0.0f;
    a[t] = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * act_stride);
  }
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  for (int b = 0; b < nb; ++b) {
    // The 12 scale bytes unpacked four at a time (the byte-wise ScaleMinK4 for all 8 sub-blocks
    // at once): bytes 0-7 of `sm` are sc[0..7], bytes 8-15 m[0..7].
    uint32_t u[3];
    std::memcpy(u, w[b].scales, 12);
    constexpr uint32_t k6 = 0x3F3F3F3F, k4 = 0x0F0F0F0F, k2 = 0x03030303;
    const __m128i sm = _mm_setr_epi32(
        static_cast<int>(u[0] & k6), static_cast<int>((u[2] & k4) | (((u[0] >> 6) & k2) << 4)),
        static_cast<int>(u[1] & k6),
        static_cast<int>(((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4)));
    const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));  // sc as words
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
    __m256i lo[4], hi[4], s_lo[4], s_hi[4];
    for (int j = 0; j < 4; ++j) {
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * j));
      lo[j] = _mm256_and_si256(packed, low_mask);
      hi[j] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask);
      s_lo[j] =
          _mm256_shuffle_epi8(sc16, _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0404 * j)));
      s_hi[j] =
          _mm256_shuffle_epi8(sc16, _mm256_set1_epi16(static_cast<int16_t>(0x0302 + 0x0404 * j)));
    }
    const float d = HalfToF32(w[b].d);
    const float dmin = HalfToF32(w[b].dmin);
    for (int t = 0; t < NT; ++t) {
      const int8_t* q8 = a[t][b].qs;
      __m256i acc = _mm256_setzero_si256();
      for (int j = 0; j < 4; ++j) {
        const __m256i a_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 64 * j));
        const __m256i a_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 64 * j + 32));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(lo[j], a_lo), s_lo[j]));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(hi[j], a_hi), s_hi[j]));
      }
      // sum_s m[s] * (bsums[2s] + bsums[2s + 1]), exact in int32.
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][b].bsums));
      const __m128i bpairs =
          _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
      const int32_t mins = HSumI32(_mm_madd_epi16(m16, bpairs));
      accf[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(d * a[t][b].d), accf[t]);
      min_sum[t] += dmin * a[t][b].d * static_cast<float>(mins);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = HSum(accf[t]) - min_sum[t];
}

template <int NT>
HWY_INLINE void DotQ6_KWide(const BlockQ6_K* HWY_RESTRICT w, const uint8_t* act, size_t act_stride,
                            int nb, float* out) {
  __m256 accf[NT];
  float correction[NT];
  const BlockQ8_K* a[NT];
  for (int t = 0; t < NT; ++t) {
    accf[t] = _mm256_setzero_ps();
    correction[t] = 0.0f;
    a[t] = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * act_stride);
  }
  const __m256i mask = _mm256_set1_epi8(0x0F);
  for (int b = 0; b < nb; ++b) {
    // The 16 int8 sub-block scales as words; sc[4 * half + k] = [scales[8 half + 2k] in the low
    // 128-bit lane, scales[8 half + 2k + 1] in the high one], by one in-lane shuffle each.
    const __m256i sc16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)));
    __m256i q[8], sc[8];  // q[4 * half + k]: elements 128 * half + 32 * k .. + 32
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w[b].ql + 64 * half;
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh + 32 * half));
      const __m256i h3 = _mm256_set1_epi8(0x03);
      q[4 * half + 0] = _mm256_or_si256(_mm256_and_si256(l0, mask),
                                        _mm256_slli_epi16(_mm256_and_si256(h, h3), 4));
      q[4 * half + 1] =
          _mm256_or_si256(_mm256_and_si256(l1, mask),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), h3), 4));
      q[4 * half + 2] =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), mask),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), h3), 4));
      q[4 * half + 3] =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), mask),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), h3), 4));
      // The immediate must be a constant for clang (gcc folds the unrolled ternary).
      const __m256i sh =
          half == 0 ? _mm256_permute4x64_epi64(sc16, 0x44) : _mm256_permute4x64_epi64(sc16, 0xEE);
      for (int k = 0; k < 4; ++k) {
        sc[4 * half + k] = _mm256_shuffle_epi8(
            sh, _mm256_setr_m128i(_mm_set1_epi16(static_cast<int16_t>(0x0100 + 0x0404 * k)),
                                  _mm_set1_epi16(static_cast<int16_t>(0x0302 + 0x0404 * k))));
      }
    }
    const float d = HalfToF32(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const int8_t* q8 = a[t][b].qs;
      __m256i acc = _mm256_setzero_si256();
      for (int k = 0; k < 8; ++k) {
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32 * k));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], av), sc[k]));
      }
      // sum_s scales[s] * bsums[s], exact in int32.
      const int32_t offset = HSumI32(_mm256_madd_epi16(
          sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][b].bsums))));
      const float dd = d * a[t][b].d;
      accf[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(dd), accf[t]);
      correction[t] += dd * 32.0f * static_cast<float>(offset);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = HSum(accf[t]) - correction[t];
}

// Rows [row_begin, row_end) x all tokens for the wide types, tiled 4 rows x 4 tokens so a tile's
// weights stay in L1 while the activations stream from L2. Returns false for other types.
template <int NT>
HWY_INLINE void WideDot(DType wtype, const uint8_t* row, const uint8_t* at, size_t act_stride,
                        int cols, float* out) {
  switch (wtype) {
    case DType::kQ5_0:  // (with VNNI MatMulRowsWide takes the packed-activation kernels)
#if HWY_TARGET <= HWY_AVX3
      DotQ5_0Wide512<NT>(reinterpret_cast<const BlockQ5_0*>(row), at, act_stride, cols / kQK, out);
#else
      DotQ5_0Wide<NT, true>(reinterpret_cast<const BlockQ5_0*>(row), at, act_stride, cols / kQK,
                            out);
#endif
      break;
    case DType::kQ4_0:
      DotQ5_0Wide<NT, false>(reinterpret_cast<const BlockQ4_0*>(row), at, act_stride, cols / kQK,
                             out);
      break;
    case DType::kQ8_0:
      DotQ8_0Wide<NT>(reinterpret_cast<const BlockQ8_0*>(row), at, act_stride, cols / kQK, out);
      break;
    case DType::kQ4_K:
      DotQ4_KWide<NT>(reinterpret_cast<const BlockQ4_K*>(row), at, act_stride, cols / kQKK, out);
      break;
    case DType::kQ6_K:
      DotQ6_KWide<NT>(reinterpret_cast<const BlockQ6_K*>(row), at, act_stride, cols / kQKK, out);
      break;
    default:
      break;
  }
}

// Calls f(std::integral_constant<int, n>{}) for a run-time n in [2, kMax].
template <int kMax, class F>
HWY_INLINE void WithTokens(int n, F&& f) {
  if constexpr (kMax >= 2) {
    if (n == kMax) {
      f(std::integral_constant<int, kMax>{});
    } else {
      WithTokens<kMax - 1>(n, f);
    }
  }
}

HWY_INLINE bool MatMulRowsWide(DType wtype, const uint8_t* HWY_RESTRICT w, size_t row_bytes,
                               int row_begin, int row_end, int cols, const uint8_t* act,
                               size_t act_stride, int n_tokens, float* HWY_RESTRICT Y, int rows,
                               const cpu::ActQ8_0Pack* packs) {
  if (wtype != DType::kQ5_0 && wtype != DType::kQ4_0 && wtype != DType::kQ8_0 &&
      wtype != DType::kQ4_K && wtype != DType::kQ6_K) {
    return false;
  }
#if HWY_TARGET == HWY_AVX3
  // With VNNI every token's rows come from its packed activations (packs[t]): tiles of 8 tokens
  // per unpacked block, the 2-7 left over as one tile (a batch of 2-7 reads each weight block
  // once, not once per token), a single leftover token by itself.
  if (packs != nullptr && (wtype == DType::kQ5_0 || wtype == DType::kQ8_0) && UseVnni()) {
    const int nb = cols / kQK;
    const bool q8 = wtype == DType::kQ8_0;
    const int t8 = n_tokens & ~7, rest = n_tokens - t8;
    const int t_tiles = rest >= 2 ? n_tokens : t8;
    constexpr int kRows = 4;  // a row tile's weights stay in L1 across the token tiles
    for (int r0 = row_begin; t_tiles > 0 && r0 < row_end; r0 += kRows) {
      const int r1 = std::min(row_end, r0 + kRows);
      for (int t = 0; t < t8; t += 8) {
        const uint8_t* at = act + static_cast<size_t>(t) * act_stride;
        float* y = Y + static_cast<size_t>(t) * rows;
        (q8 ? DotLegacyTileVnni<8, true> : DotLegacyTileVnni<8, false>)(w, row_bytes, r0, r1,
                                                                        packs + t, at, act_stride,
                                                                        nb, y, rows);
      }
      if (rest >= 2) {
        const uint8_t* at = act + static_cast<size_t>(t8) * act_stride;
        float* y = Y + static_cast<size_t>(t8) * rows;
        WithTokens<7>(rest, [&](auto nt) {
          constexpr int kNT = decltype(nt)::value;
          (q8 ? DotLegacyTileVnni<kNT, true>
              : DotLegacyTileVnni<kNT, false>)(w, row_bytes, r0, r1, packs + t8, at, act_stride, nb,
                                               y, rows);
        });
      }
    }
    for (int t = t_tiles; t < n_tokens; ++t) {  // single tokens (decode): all rows per call
      const auto* at =
          reinterpret_cast<const cpu::ActQ8_0*>(act + static_cast<size_t>(t) * act_stride);
      float* y = Y + static_cast<size_t>(t) * rows;
      (q8 ? DotLegacyRows1Vnni<true> : DotLegacyRows1Vnni<false>)(w, row_bytes, row_begin, row_end,
                                                                  packs[t], at, nb, y);
    }
    return true;
  }
#endif
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3
  // Without VNNI (the AVX2 target, or AVX3 on a CPU without VNNI) the last n_tokens % 4 tokens
  // from their packed activations.
  if (packs != nullptr && (wtype == DType::kQ5_0 || wtype == DType::kQ8_0)) {
    const int t1 = n_tokens & ~3;
    for (int t = t1; t < n_tokens; ++t) {
      const auto* at =
          reinterpret_cast<const cpu::ActQ8_0*>(act + static_cast<size_t>(t) * act_stride);
      float* y = Y + static_cast<size_t>(t) * rows;
      if (wtype == DType::kQ5_0) {
        DotLegacyRows1<false>(w, row_bytes, row_begin, row_end, packs[t], at, cols / kQK, y);
      } else {
        DotLegacyRows1<true>(w, row_bytes, row_begin, row_end, packs[t], at, cols / kQK, y);
      }
    }
    n_tokens = t1;
  }
#endif
  constexpr int kRowTile = 4;
  float out[8] = {};
  for (int r0 = row_begin; r0 < row_end; r0 += kRowTile) {
    const int r1 = std::min(row_end, r0 + kRowTile);
    int t = 0;
#if HWY_TARGET <= HWY_AVX3
    // 32 vector registers: eight tokens per unpacked weight block (a batch-8 decode step or a
    // prefill tile unpacks each block once instead of twice).
    for (; t + 8 <= n_tokens; t += 8) {
      const uint8_t* at = act + static_cast<size_t>(t) * act_stride;
      for (int r = r0; r < r1; ++r) {
        WideDot<8>(wtype, w + static_cast<size_t>(r) * row_bytes, at, act_stride, cols, out);
        for (int k = 0; k < 8; ++k) Y[static_cast<size_t>(t + k) * rows + r] = out[k];
      }
    }
#endif
    for (; t + 4 <= n_tokens; t += 4) {
      const uint8_t* at = act + static_cast<size_t>(t) * act_stride;
      for (int r = r0; r < r1; ++r) {
        WideDot<4>(wtype, w + static_cast<size_t>(r) * row_bytes, at, act_stride, cols, out);
        for (int k = 0; k < 4; ++k) Y[static_cast<size_t>(t + k) * rows + r] = out[k];
      }
    }
    if (n_tokens - t >= 2) {  // the 2-3 left over as one tile
      const uint8_t* at = act + static_cast<size_t>(t) * act_stride;
      const int nt = n_tokens - t;
      WithTokens<3>(nt, [&](auto k_nt) {
        constexpr int kNT = decltype(k_nt)::value;
        for (int r = r0; r < r1; ++r) {
          WideDot<kNT>(wtype, w + static_cast<size_t>(r) * row_bytes, at, act_stride, cols, out);
          for (int k = 0; k < kNT; ++k) Y[static_cast<size_t>(t + k) * rows + r] = out[k];
        }
      });
      t = n_tokens;
    }
    for (; t < n_tokens; ++t) {
      const uint8_t* at = act + static_cast<size_t>(t) * act_stride;
      for (int r = r0; r < r1; ++r) {
        WideDot<1>(wtype, w + static_cast<size_t>(r) * row_bytes, at, act_stride, cols, out);
        Y[static_cast<size_t>(t) * rows + r] = out[0];
      }
    }
  }
  return true;
}
#endif  // HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2

// Y[t * rows + r] for r in [row_begin, row_end), t < n_tokens. `act` is the activation rows:
// floats for F32/F16/BF16, ActQ8_0 blocks for Q8_0/Q4_0, BlockQ8_K for the K types;
// `act_stride` is the byte distance between consecutive tokens' activations.
// `packs` (may be null): one ActQ8_0Pack per token for the legacy types' kernels.
HWY_NOINLINE void MatMulRows(DType wtype, const uint8_t* HWY_RESTRICT w, size_t row_bytes,
                             int row_begin, int row_end, int cols, const uint8_t* act,
                             size_t act_stride, int n_tokens, float* HWY_RESTRICT Y, int rows,
                             const cpu::ActQ8_0Pack* packs) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  if (MatMulRowsWide(wtype, w, row_bytes, row_begin, row_end, cols, act, act_stride, n_tokens, Y,
                     rows, packs)) {
    return;
  }
#else
  (void)packs;
#endif
  for (int r = row_begin; r < row_end; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    for (int t = 0; t < n_tokens; ++t) {
      const uint8_t* at = act + static_cast<size_t>(t) * act_stride;
      float v = 0.0f;
      switch (wtype) {
        case DType::kF32:
          v = DotF32Row(reinterpret_cast<const float*>(row), reinterpret_cast<const float*>(at),
                        cols);
          break;
        case DType::kF16:
          v = DotHalfRow<false>(reinterpret_cast<const uint16_t*>(row),
                                reinterpret_cast<const float*>(at), cols);
          break;
        case DType::kBF16:
          v = DotHalfRow<true>(reinterpret_cast<const uint16_t*>(row),
                               reinterpret_cast<const float*>(at), cols);
          break;
        case DType::kQ8_0:
          v = DotQ8_0Row(reinterpret_cast<const BlockQ8_0*>(row),
                         reinterpret_cast<const cpu::ActQ8_0*>(at), cols / kQK);
          break;
        case DType::kQ4_0:
          v = DotQ4_0Row(reinterpret_cast<const BlockQ4_0*>(row),
                         reinterpret_cast<const cpu::ActQ8_0*>(at), cols / kQK);
          break;
        case DType::kQ4_1:
          v = DotLegacyRow<BlockQ4_1, true, false>(reinterpret_cast<const BlockQ4_1*>(row),
                                                   reinterpret_cast<const cpu::ActQ8_0*>(at),
                                                   cols / kQK);
          break;
        case DType::kQ5_0:
          v = DotLegacyRow<BlockQ5_0, false, true>(reinterpret_cast<const BlockQ5_0*>(row),
                                                   reinterpret_cast<const cpu::ActQ8_0*>(at),
                                                   cols / kQK);
          break;
        case DType::kQ5_1:
          v = DotLegacyRow<BlockQ5_1, true, true>(reinterpret_cast<const BlockQ5_1*>(row),
                                                  reinterpret_cast<const cpu::ActQ8_0*>(at),
                                                  cols / kQK);
          break;
        case DType::kQ4_K:
          v = DotQ4_KRow(reinterpret_cast<const BlockQ4_K*>(row),
                         reinterpret_cast<const BlockQ8_K*>(at), cols / kQKK);
          break;
        case DType::kQ5_K:
          v = DotQ5_KRow(reinterpret_cast<const BlockQ5_K*>(row),
                         reinterpret_cast<const BlockQ8_K*>(at), cols / kQKK);
          break;
        case DType::kQ6_K:
          v = DotQ6_KRow(reinterpret_cast<const BlockQ6_K*>(row),
                         reinterpret_cast<const BlockQ8_K*>(at), cols / kQKK);
          break;
        default:
          break;
      }
      Y[static_cast<size_t>(t) * rows + r] = v;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace trueno
HWY_AFTER_NAMESPACE();

#endif  // TRUENO_CPU_MATVEC_INL_H_
