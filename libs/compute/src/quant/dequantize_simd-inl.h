// Highway kernels for the hot dequantize paths. Every kernel performs exactly the float
// operations of the scalar reference (dequantize.cpp) in the same order - integer to float
// conversion, one product, then the offset - so the results are bit-identical on every target
// (the build is ISO C++, which keeps GCC from contracting a*b-c into an FMA).
// Per-target include guard (toggled by foreach_target.h).
#if defined(TRUENO_QUANT_DEQUANTIZE_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRUENO_QUANT_DEQUANTIZE_SIMD_INL_H_
#undef TRUENO_QUANT_DEQUANTIZE_SIMD_INL_H_
#else
#define TRUENO_QUANT_DEQUANTIZE_SIMD_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "quant/k_scales.h"
#include "quant/quant_internal.h"
#include "trueno/half.h"
#include "trueno/quant_blocks.h"

HWY_BEFORE_NAMESPACE();
namespace trueno::quant {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;

// At most 16 float lanes, so a vector never spans two 16-element sub-blocks.
using DF = hn::CappedTag<float, 16>;
using DI = hn::Rebind<int32_t, DF>;
using DU8 = hn::Rebind<uint8_t, DF>;
using DI8 = hn::Rebind<int8_t, DF>;

// Bytes p[0..N) as int32 lanes.
HWY_INLINE hn::Vec<DI> LoadBytes(const uint8_t* p) {
  return hn::PromoteTo(DI(), hn::LoadU(DU8(), p));
}

HWY_NOINLINE void DequantizeF16Simd(const uint8_t* src, float* dst, size_t n) {
  size_t i = 0;
  // Only the F16C-based conversion of AVX2 and later is exact for every input; Highway 1.0.3's
  // emulation on older targets turns Inf into 65536, so those take the scalar loop.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> df16;
  const size_t N = hn::Lanes(df);
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::PromoteTo(df, hn::LoadU(df16, reinterpret_cast<const hwy::float16_t*>(src) + i)),
               df, dst + i);
  }
#endif
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = Fp16ToFp32(h);
  }
}

HWY_NOINLINE void DequantizeBF16Simd(const uint8_t* src, float* dst, size_t n) {
  const DF df;
  const DI di;
  const hn::Rebind<uint16_t, DF> du16;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto bits = hn::ShiftLeft<16>(hn::BitCast(
        di, hn::PromoteTo(hn::Rebind<uint32_t, DF>(),
                          hn::LoadU(du16, reinterpret_cast<const uint16_t*>(src) + i))));
    hn::StoreU(hn::BitCast(df, bits), df, dst + i);
  }
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = Bf16ToFp32(h);
  }
}

HWY_NOINLINE void DequantizeQ8_0Simd(const uint8_t* src, float* dst, size_t nblocks) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  for (size_t b = 0; b < nblocks; ++b, dst += kQK) {
    const uint8_t* blk = src + b * sizeof(BlockQ8_0);
    uint16_t dh;
    std::memcpy(&dh, blk, 2);
    const auto d = hn::Set(df, Fp16ToFp32(dh));
    const int8_t* qs = reinterpret_cast<const int8_t*>(blk + 2);
    for (size_t j = 0; j < static_cast<size_t>(kQK); j += N) {
      const auto q = hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(DI8(), qs + j)));
      hn::StoreU(hn::Mul(q, d), df, dst + j);
    }
  }
}

HWY_NOINLINE void DequantizeQ4_0Simd(const uint8_t* src, float* dst, size_t nblocks) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto mask = hn::Set(di, 0xF);
  const auto eight = hn::Set(di, 8);
  for (size_t b = 0; b < nblocks; ++b, dst += kQK) {
    const uint8_t* blk = src + b * sizeof(BlockQ4_0);
    uint16_t dh;
    std::memcpy(&dh, blk, 2);
    const auto d = hn::Set(df, Fp16ToFp32(dh));
    const uint8_t* qs = blk + 2;
    for (size_t j = 0; j < static_cast<size_t>(kQK / 2); j += N) {
      const auto q = LoadBytes(qs + j);
      const auto lo = hn::Sub(hn::And(q, mask), eight);
      const auto hi = hn::Sub(hn::ShiftRight<4>(q), eight);
      hn::StoreU(hn::Mul(hn::ConvertTo(df, lo), d), df, dst + j);
      hn::StoreU(hn::Mul(hn::ConvertTo(df, hi), d), df, dst + kQK / 2 + j);
    }
  }
}

HWY_NOINLINE void DequantizeQ4_KSimd(const uint8_t* src, float* dst, size_t nblocks) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto mask = hn::Set(di, 0xF);
  for (size_t b = 0; b < nblocks; ++b, dst += kQKK) {
    const auto blk = LoadBlock<BlockQ4_K>(src, b);
    const float d = Fp16ToFp32(blk.d);
    const float dmin = Fp16ToFp32(blk.dmin);
    for (int c = 0; c < 4; ++c) {
      uint8_t sc0, m0, sc1, m1;
      UnpackScaleMinK4(2 * c, blk.scales, &sc0, &m0);
      UnpackScaleMinK4(2 * c + 1, blk.scales, &sc1, &m1);
      const auto d0 = hn::Set(df, d * static_cast<float>(sc0));
      const auto min0 = hn::Set(df, dmin * static_cast<float>(m0));
      const auto d1 = hn::Set(df, d * static_cast<float>(sc1));
      const auto min1 = hn::Set(df, dmin * static_cast<float>(m1));
      const uint8_t* q = blk.qs + 32 * c;
      float* y = dst + 64 * c;
      for (size_t l = 0; l < 32; l += N) {
        const auto v = LoadBytes(q + l);
        hn::StoreU(hn::Sub(hn::Mul(d0, hn::ConvertTo(df, hn::And(v, mask))), min0), df, y + l);
        hn::StoreU(hn::Sub(hn::Mul(d1, hn::ConvertTo(df, hn::ShiftRight<4>(v))), min1), df,
                   y + 32 + l);
      }
    }
  }
}

HWY_NOINLINE void DequantizeQ5_KSimd(const uint8_t* src, float* dst, size_t nblocks) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto mask = hn::Set(di, 0xF);
  const auto one = hn::Set(di, 1);
  for (size_t b = 0; b < nblocks; ++b, dst += kQKK) {
    const auto blk = LoadBlock<BlockQ5_K>(src, b);
    const float d = Fp16ToFp32(blk.d);
    const float dmin = Fp16ToFp32(blk.dmin);
    for (int c = 0; c < 4; ++c) {
      uint8_t sc0, m0, sc1, m1;
      UnpackScaleMinK4(2 * c, blk.scales, &sc0, &m0);
      UnpackScaleMinK4(2 * c + 1, blk.scales, &sc1, &m1);
      const auto d0 = hn::Set(df, d * static_cast<float>(sc0));
      const auto min0 = hn::Set(df, dmin * static_cast<float>(m0));
      const auto d1 = hn::Set(df, d * static_cast<float>(sc1));
      const auto min1 = hn::Set(df, dmin * static_cast<float>(m1));
      const uint8_t* q = blk.qs + 32 * c;
      float* y = dst + 64 * c;
      for (size_t l = 0; l < 32; l += N) {
        const auto v = LoadBytes(q + l);
        const auto h = LoadBytes(blk.qh + l);
        const auto h0 = hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, 2 * c), one));
        const auto h1 = hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, 2 * c + 1), one));
        const auto q0 = hn::Add(hn::And(v, mask), h0);
        const auto q1 = hn::Add(hn::ShiftRight<4>(v), h1);
        hn::StoreU(hn::Sub(hn::Mul(d0, hn::ConvertTo(df, q0)), min0), df, y + l);
        hn::StoreU(hn::Sub(hn::Mul(d1, hn::ConvertTo(df, q1)), min1), df, y + 32 + l);
      }
    }
  }
}

HWY_NOINLINE void DequantizeQ6_KSimd(const uint8_t* src, float* dst, size_t nblocks) {
  const DF df;
  const DI di;
  const size_t N = hn::Lanes(df);
  const auto mask = hn::Set(di, 0xF);
  const auto three = hn::Set(di, 3);
  const auto bias = hn::Set(di, 32);
  for (size_t b = 0; b < nblocks; ++b, dst += kQKK) {
    const auto blk = LoadBlock<BlockQ6_K>(src, b);
    const float d = Fp16ToFp32(blk.d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qh = blk.qh + 32 * h;
      for (int k = 0; k < 4; ++k) {
        const uint8_t* ql = blk.ql + 64 * h + 32 * (k & 1);
        const int nib_shift = k < 2 ? 0 : 4;
        float* y = dst + 128 * h + 32 * k;
        const float dl[2] = {d * static_cast<float>(blk.scales[8 * h + 2 * k]),
                             d * static_cast<float>(blk.scales[8 * h + 2 * k + 1])};
        for (size_t l = 0; l < 32; l += N) {
          const auto lo = hn::And(hn::ShiftRightSame(LoadBytes(ql + l), nib_shift), mask);
          const auto hi = hn::And(hn::ShiftRightSame(LoadBytes(qh + l), 2 * k), three);
          const auto q = hn::Sub(hn::Or(lo, hn::ShiftLeft<4>(hi)), bias);
          hn::StoreU(hn::Mul(hn::Set(df, dl[l < 16 ? 0 : 1]), hn::ConvertTo(df, q)), df, y + l);
        }
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace trueno::quant
HWY_AFTER_NAMESPACE();

#endif  // TRUENO_QUANT_DEQUANTIZE_SIMD_INL_H_
