// int8 dot-product primitives for the quantized matvec bodies. On x86 these map to
// maddubs/madd (SSSE3 and AVX2 integer multiply-add); elsewhere a portable lane loop.
// Per-target include guard: this file is re-included once per Highway target.
#if defined(TRUENO_CPU_DOT_I8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRUENO_CPU_DOT_I8_INL_H_
#undef TRUENO_CPU_DOT_I8_INL_H_
#else
#define TRUENO_CPU_DOT_I8_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"
#include "trueno/half.h"

HWY_BEFORE_NAMESPACE();
namespace trueno {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The int8 vector type used for one step of a block dot product: 32 lanes where the target
// has 256-bit vectors, 16 otherwise. Quant blocks hold 32 (or 16) element groups.
using D8 = hn::CappedTag<int8_t, 32>;
using DU8 = hn::RebindToUnsigned<D8>;
using D32 = hn::Repartition<int32_t, D8>;
using DF32 = hn::Repartition<float, D8>;
using D16 = hn::Repartition<int16_t, D8>;

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_SSE4
// Sum of u[i] * s[i] over each group of 4 lanes, u read as unsigned (0..255), s signed. The
// 16-bit intermediate (two products) saturates only when u > 128 and s = -128, which callers
// exclude: activations are in [-127, 127] and u is a 4..7-bit quant or |int8|.
#if HWY_TARGET <= HWY_AVX2
HWY_INLINE hn::Vec256<int32_t> DotU8I8(hn::Vec256<int8_t> u, hn::Vec256<int8_t> s) {
  return hn::Vec256<int32_t>{
      _mm256_madd_epi16(_mm256_maddubs_epi16(u.raw, s.raw), _mm256_set1_epi16(1))};
}
// Signed x signed: |a| * (sign(a) * b). `a` may be -128 (|a| = 128 fits the unsigned operand).
HWY_INLINE hn::Vec256<int32_t> DotI8I8(hn::Vec256<int8_t> a, hn::Vec256<int8_t> b) {
  return DotU8I8(hn::Vec256<int8_t>{_mm256_sign_epi8(a.raw, a.raw)},
                 hn::Vec256<int8_t>{_mm256_sign_epi8(b.raw, a.raw)});
}
#endif
// sum over each group of 4 lanes of u * s * scale, scale an int16 per pair of lanes: the scale
// is applied by the second multiply-add instead of a (slow) 32-bit multiply afterwards.
// |u * s| pair sums are <= 2 * 63 * 127, times |scale| <= 128, times 2: no overflow.
#if HWY_TARGET <= HWY_AVX2
HWY_INLINE hn::Vec256<int32_t> DotU8I8Scaled(hn::Vec256<int8_t> u, hn::Vec256<int8_t> s,
                                             hn::Vec256<int16_t> scale) {
  return hn::Vec256<int32_t>{_mm256_madd_epi16(_mm256_maddubs_epi16(u.raw, s.raw), scale.raw)};
}
#endif
HWY_INLINE hn::Vec128<int32_t> DotU8I8Scaled(hn::Vec128<int8_t> u, hn::Vec128<int8_t> s,
                                             hn::Vec128<int16_t> scale) {
  return hn::Vec128<int32_t>{_mm_madd_epi16(_mm_maddubs_epi16(u.raw, s.raw), scale.raw)};
}
HWY_INLINE hn::Vec128<int32_t> DotU8I8(hn::Vec128<int8_t> u, hn::Vec128<int8_t> s) {
  return hn::Vec128<int32_t>{_mm_madd_epi16(_mm_maddubs_epi16(u.raw, s.raw), _mm_set1_epi16(1))};
}
HWY_INLINE hn::Vec128<int32_t> DotI8I8(hn::Vec128<int8_t> a, hn::Vec128<int8_t> b) {
  return DotU8I8(hn::Vec128<int8_t>{_mm_sign_epi8(a.raw, a.raw)},
                 hn::Vec128<int8_t>{_mm_sign_epi8(b.raw, a.raw)});
}
#else
// Portable fallback (EMU128, and HWY_SCALAR whose vectors have one lane): exact integer
// arithmetic lane by lane.
template <class V>
HWY_INLINE hn::Vec<D32> DotU8I8(V u, V s) {
  const D8 d8;
  const D32 d32;
  alignas(64) int8_t ua[64] = {};
  alignas(64) int8_t sa[64] = {};
  alignas(64) int32_t r[16] = {};
  hn::Store(u, d8, ua);
  hn::Store(s, d8, sa);
  const size_t n32 = hn::Lanes(d32);
  const size_t group = hn::Lanes(d8) / n32;  // 4, or 1 on the one-lane HWY_SCALAR target
  for (size_t k = 0; k < n32; ++k) {
    int32_t acc = 0;
    for (size_t i = group * k; i < group * k + group; ++i)
      acc += static_cast<uint8_t>(ua[i]) * sa[i];
    r[k] = acc;
  }
  return hn::Load(d32, r);
}
template <class V, class V16>
HWY_INLINE hn::Vec<D32> DotU8I8Scaled(V u, V s, V16 scale) {
  const hn::Repartition<int16_t, D8> d16;
  alignas(64) int16_t sc[32] = {};
  hn::Store(scale, d16, sc);
  // All lanes of a 4-lane group share one scale (callers guarantee it), so scale the group sum.
  const D32 d32;
  alignas(64) int32_t r[16] = {};
  hn::Store(DotU8I8(u, s), d32, r);
  const size_t n32 = hn::Lanes(d32);
  const size_t per16 = hn::Lanes(d16) / n32;  // 2, or 1 on HWY_SCALAR
  for (size_t k = 0; k < n32; ++k) r[k] *= sc[per16 * k];
  return hn::Load(d32, r);
}
template <class V>
HWY_INLINE hn::Vec<D32> DotI8I8(V a, V b) {
  const D8 d8;
  const D32 d32;
  alignas(64) int8_t aa[64] = {};
  alignas(64) int8_t ba[64] = {};
  alignas(64) int32_t r[16] = {};
  hn::Store(a, d8, aa);
  hn::Store(b, d8, ba);
  const size_t n32 = hn::Lanes(d32);
  const size_t group = hn::Lanes(d8) / n32;
  for (size_t k = 0; k < n32; ++k) {
    int32_t acc = 0;
    for (size_t i = group * k; i < group * k + group; ++i) acc += aa[i] * ba[i];
    r[k] = acc;
  }
  return hn::Load(d32, r);
}
#endif

// fp16 block scale to float: one F16C instruction on x86 (exact, like trueno::Fp16ToFp32, which
// is a branchy bit-manipulation routine and showed up per block in profiles).
HWY_INLINE float HalfToF32(uint16_t h) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return _cvtsh_ss(h);
#else
  return Fp16ToFp32(h);
#endif
}

// An int16 scale vector for DotU8I8Scaled whose lanes covering elements [0, 16) of a 32-lane
// int8 step hold s0 and those covering [16, 32) hold s1 (16-lane steps use s0 only).
HWY_INLINE hn::Vec<hn::Repartition<int16_t, D8>> PairScale(int s0, int s1) {
  const hn::Repartition<int16_t, D8> d16;
  return hn::IfThenElse(hn::FirstN(d16, 8), hn::Set(d16, static_cast<int16_t>(s0)),
                        hn::Set(d16, static_cast<int16_t>(s1)));
}

}  // namespace HWY_NAMESPACE
}  // namespace trueno
HWY_AFTER_NAMESPACE();

#endif  // TRUENO_CPU_DOT_I8_INL_H_
