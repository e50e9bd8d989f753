// Per-target bodies of the element-wise kernels: RMSNorm, RoPE, softmax, SwiGLU, add, dot, axpy.
// Per-target include guard: this file is re-included once per Highway target.
#if defined(TRUENO_CPU_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRUENO_CPU_OPS_INL_H_
#undef TRUENO_CPU_OPS_INL_H_
#else
#define TRUENO_CPU_OPS_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "trueno/half.h"

HWY_BEFORE_NAMESPACE();
namespace trueno {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_NOINLINE float DotImpl(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, int n) {
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  auto acc0 = hn::Zero(df);
  auto acc1 = hn::Zero(df);
  int i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(df, a + i + N), hn::LoadU(df, b + i + N), acc1);
  }
  for (; i + N <= n; i += N) acc0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc0);
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

HWY_NOINLINE void AxpyImpl(float alpha, const float* HWY_RESTRICT x, float* HWY_RESTRICT y, int n) {
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  const auto va = hn::Set(df, alpha);
  int i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::MulAdd(va, hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, y + i);
  for (; i < n; ++i) y[i] += alpha * x[i];
}

HWY_NOINLINE void RmsNormImpl(const float* x, const float* weight, int n, float eps, float* out) {
  const float ss = DotImpl(x, x, n);
  const float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  const auto vs = hn::Set(df, scale);
  int i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, x + i), vs), hn::LoadU(df, weight + i)), df, out + i);
  }
  for (; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

HWY_NOINLINE void AddImpl(const float* a, const float* b, float* out, int n) {
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  int i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::Add(hn::LoadU(df, a + i), hn::LoadU(df, b + i)), df, out + i);
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

HWY_NOINLINE void SiluMulImpl(const float* gate, const float* up, float* out, int n) {
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  const auto one = hn::Set(df, 1.0f);
  int i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(df, gate + i);
    const auto sig = hn::Div(one, hn::Add(one, hn::Exp(df, hn::Neg(g))));
    hn::StoreU(hn::Mul(hn::Mul(g, sig), hn::LoadU(df, up + i)), df, out + i);
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// Two passes: the largest non-NaN value (vector max), then the first index holding it; both read
// the row from L1/L2, where a 152k-entry logits row written by the head still sits.
HWY_NOINLINE int ArgMaxImpl(const float* HWY_RESTRICT x, int n) {
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  const float lowest = -std::numeric_limits<float>::infinity();
  float mx = lowest;
  bool any = false;  // a non-NaN entry exists (mx alone cannot tell: it may be -inf)
  int i = 0;
  if (n >= N) {
    const auto low = hn::Set(df, lowest);
    auto m0 = low, m1 = low;
    auto seen = hn::Zero(df);  // lanes of all-ones bits where a non-NaN entry was seen
    for (; i + 2 * N <= n; i += 2 * N) {
      const auto a = hn::LoadU(df, x + i), b = hn::LoadU(df, x + i + N);
      const auto na = hn::Not(hn::IsNaN(a)), nb = hn::Not(hn::IsNaN(b));
      m0 = hn::IfThenElse(na, hn::Max(m0, a), m0);
      m1 = hn::IfThenElse(nb, hn::Max(m1, b), m1);
      seen = hn::Or(seen, hn::VecFromMask(df, hn::Or(na, nb)));
    }
    mx = hn::GetLane(hn::MaxOfLanes(df, hn::Max(m0, m1)));
    any = !hn::AllFalse(df, hn::MaskFromVec(seen));
  }
  for (; i < n; ++i) {
    if (x[i] == x[i]) {
      mx = any ? std::max(mx, x[i]) : x[i];
      any = true;
    }
  }
  if (!any) return 0;
  const auto target = hn::Set(df, mx);
  i = 0;
  for (; i + N <= n; i += N) {
    const intptr_t at = hn::FindFirstTrue(df, hn::Eq(hn::LoadU(df, x + i), target));
    if (at >= 0) return i + static_cast<int>(at);
  }
  for (; i < n; ++i) {
    if (x[i] == mx) return i;
  }
  return 0;  // unreachable: mx is one of the entries
}

HWY_NOINLINE void SoftmaxImpl(float* x, int n) {
  if (n <= 0) return;
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  float mx = x[0];
  for (int i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  const auto vmx = hn::Set(df, mx);
  auto vsum = hn::Zero(df);
  int i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmx));
    hn::StoreU(e, df, x + i);
    vsum = hn::Add(vsum, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, vsum));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const auto inv = hn::Set(df, 1.0f / sum);
  i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), inv), df, x + i);
  for (; i < n; ++i) x[i] *= 1.0f / sum;
}

// Rotates pairs with precomputed cos/sin per pair index. NeoX pairs (i, i + n_rot/2) are two
// contiguous runs and vectorize directly; adjacent pairs (2i, 2i+1) use a scalar loop.
HWY_NOINLINE void RopeRotateImpl(float* x, int n_heads, int head_dim, int n_rot, bool neox,
                                 const float* cos_t, const float* sin_t) {
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  const int half = n_rot / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<size_t>(h) * head_dim;
    if (neox) {
      int i = 0;
      for (; i + N <= half; i += N) {
        const auto a = hn::LoadU(df, v + i);
        const auto b = hn::LoadU(df, v + half + i);
        const auto c = hn::LoadU(df, cos_t + i);
        const auto s = hn::LoadU(df, sin_t + i);
        hn::StoreU(hn::NegMulAdd(b, s, hn::Mul(a, c)), df, v + i);
        hn::StoreU(hn::MulAdd(a, s, hn::Mul(b, c)), df, v + half + i);
      }
      for (; i < half; ++i) {
        const float a = v[i], b = v[half + i];
        v[i] = a * cos_t[i] - b * sin_t[i];
        v[half + i] = a * sin_t[i] + b * cos_t[i];
      }
    } else {
      for (int i = 0; i < half; ++i) {
        const float a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * cos_t[i] - b * sin_t[i];
        v[2 * i + 1] = a * sin_t[i] + b * cos_t[i];
      }
    }
  }
}

HWY_NOINLINE void Fp32ToFp16RowImpl(const float* HWY_RESTRICT src, uint16_t* HWY_RESTRICT dst,
                                    int n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const int N = static_cast<int>(hn::Lanes(df));
  auto* out = reinterpret_cast<hwy::float16_t*>(dst);
  int i = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  // F16C rounds to nearest even like Fp32ToFp16; Highway's emulation on other targets may not.
  for (; i + N <= n; i += N) hn::StoreU(hn::DemoteTo(dh, hn::LoadU(df, src + i)), dh, out + i);
#else
  (void)N;
  (void)out;
  (void)dh;
#endif
  for (; i < n; ++i) dst[i] = Fp32ToFp16(src[i]);
}

HWY_NOINLINE void Fp16ToFp32RowImpl(const uint16_t* HWY_RESTRICT src, float* HWY_RESTRICT dst,
                                    int n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const int N = static_cast<int>(hn::Lanes(df));
  const auto* in = reinterpret_cast<const hwy::float16_t*>(src);
  int i = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  // F16C is exact; Highway's emulation on older targets flushes binary16 subnormals.
  for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, in + i)), df, dst + i);
#else
  (void)N;
  (void)in;
  (void)dh;
#endif
  for (; i < n; ++i) dst[i] = Fp16ToFp32(src[i]);
}

// Cached K/V element access for AttendHead: float rows, or IEEE half rows widened on load.
template <bool kF16>
struct KvRow {
  hn::ScalableTag<float> df;
  hn::Rebind<hwy::float16_t, hn::ScalableTag<float>> dh;
  HWY_INLINE auto Load(const void* base, size_t i) const {
    if constexpr (kF16) {
      return hn::PromoteTo(df, hn::LoadU(dh, static_cast<const hwy::float16_t*>(base) + i));
    } else {
      return hn::LoadU(df, static_cast<const float*>(base) + i);
    }
  }
  HWY_INLINE float At(const void* base, size_t i) const {
    if constexpr (kF16) {
      return Fp16ToFp32(static_cast<const uint16_t*>(base)[i]);
    } else {
      return static_cast<const float*>(base)[i];
    }
  }
};

#if HWY_TARGET != HWY_SCALAR
// Horizontal sums of four vectors, stored as out[0..3]: a 4x4 transpose-add inside each 128-bit
// block, then the blocks added together (a quarter of the shuffles of four SumOfLanes).
template <class D, class V = hn::Vec<D>>
HWY_INLINE void SumOfLanes4(D d, V a, V b, V c, V e, float* HWY_RESTRICT out) {
  const hn::RepartitionToWide<D> dw;  // f64 lanes move float pairs
  const V ab = hn::Add(hn::InterleaveLower(d, a, b), hn::InterleaveUpper(d, a, b));
  const V ce = hn::Add(hn::InterleaveLower(d, c, e), hn::InterleaveUpper(d, c, e));
  const auto abw = hn::BitCast(dw, ab), cew = hn::BitCast(dw, ce);
  const V v = hn::Add(hn::BitCast(d, hn::InterleaveLower(dw, abw, cew)),
                      hn::BitCast(d, hn::InterleaveUpper(dw, abw, cew)));
  if constexpr (hn::MaxLanes(d) == 4) {
    hn::StoreU(v, d, out);
  } else if constexpr (hn::MaxLanes(d) == 8) {
    const hn::Half<D> dh;
    hn::StoreU(hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)), dh, out);
  } else {
    static_assert(hn::MaxLanes(d) == 16, "SumOfLanes4: 4, 8 or 16 float lanes");
    const hn::Half<D> dh;
    const hn::Half<decltype(dh)> dq;
    const auto h = hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v));
    hn::StoreU(hn::Add(hn::LowerHalf(dq, h), hn::UpperHalf(dq, h)), dq, out);
  }
}
#endif  // HWY_TARGET != HWY_SCALAR

// Walks the cached positions 0, 1, ... of one sequence through its block table, giving each
// position's element offset. Incremental on purpose: a division and a modulo by the runtime block
// size per position (twice per position: scores, then values) cost more than the head's FMAs at
// head_dim 64. A block id is read only when one of its positions is reached.
struct KvPositions {
  const int* block_ids;
  int bs;
  size_t stride;
  int block = 0, offset = 0;
  size_t base = 0;
  HWY_INLINE size_t Next() {
    if (offset == 0) base = static_cast<size_t>(block_ids[block]) * bs * stride;
    const size_t row = base + static_cast<size_t>(offset) * stride;
    if (++offset == bs) {
      offset = 0;
      ++block;
    }
    return row;
  }
};

template <bool kF16>
HWY_INLINE void AttendHeadT(const float* HWY_RESTRICT q, int hd, const void* k_base,
                            const void* v_base, const int* block_ids, int bs, size_t stride,
                            int n_ctx, float scale, float* HWY_RESTRICT scores,
                            float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  const int hv = hd / N * N;
  const KvRow<kF16> kv;
  KvPositions keys{block_ids, bs, stride};
  int p = 0;
#if HWY_TARGET != HWY_SCALAR
  if (hv == hd) {  // four positions at a time, one combined horizontal sum
    for (; p + 4 <= n_ctx; p += 4) {
      size_t row[4];
      for (int j = 0; j < 4; ++j) row[j] = keys.Next();
      auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
      for (int i = 0; i < hd; i += N) {
        const auto qv = hn::LoadU(df, q + i);
        a0 = hn::MulAdd(qv, kv.Load(k_base, row[0] + i), a0);
        a1 = hn::MulAdd(qv, kv.Load(k_base, row[1] + i), a1);
        a2 = hn::MulAdd(qv, kv.Load(k_base, row[2] + i), a2);
        a3 = hn::MulAdd(qv, kv.Load(k_base, row[3] + i), a3);
      }
      SumOfLanes4(df, a0, a1, a2, a3, scores + p);
      for (int j = 0; j < 4; ++j) scores[p + j] *= scale;
    }
  }
#endif
  for (; p < n_ctx; ++p) {
    const size_t row = keys.Next();
    auto acc0 = hn::Zero(df);
    auto acc1 = hn::Zero(df);
    int i = 0;
    for (; i + 2 * N <= hv; i += 2 * N) {
      acc0 = hn::MulAdd(hn::LoadU(df, q + i), kv.Load(k_base, row + i), acc0);
      acc1 = hn::MulAdd(hn::LoadU(df, q + i + N), kv.Load(k_base, row + i + N), acc1);
    }
    for (; i < hv; i += N) acc0 = hn::MulAdd(hn::LoadU(df, q + i), kv.Load(k_base, row + i), acc0);
    float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
    for (; i < hd; ++i) s += q[i] * kv.At(k_base, row + i);
    scores[p] = s * scale;
  }
  SoftmaxImpl(scores, n_ctx);
  // out = sum_p scores[p] * v_p, up to four vectors of out held in registers across positions.
  for (int i0 = 0; i0 < hv; i0 += 4 * N) {
    const int nv = std::min(4, (hv - i0) / N);
    auto o0 = hn::Zero(df), o1 = hn::Zero(df), o2 = hn::Zero(df), o3 = hn::Zero(df);
    KvPositions values{block_ids, bs, stride};
    for (int p = 0; p < n_ctx; ++p) {
      const size_t row = values.Next() + i0;
      const auto w = hn::Set(df, scores[p]);
      o0 = hn::MulAdd(w, kv.Load(v_base, row), o0);
      if (nv > 1) o1 = hn::MulAdd(w, kv.Load(v_base, row + N), o1);
      if (nv > 2) o2 = hn::MulAdd(w, kv.Load(v_base, row + 2 * N), o2);
      if (nv > 3) o3 = hn::MulAdd(w, kv.Load(v_base, row + 3 * N), o3);
    }
    hn::StoreU(o0, df, out + i0);
    if (nv > 1) hn::StoreU(o1, df, out + i0 + N);
    if (nv > 2) hn::StoreU(o2, df, out + i0 + 2 * N);
    if (nv > 3) hn::StoreU(o3, df, out + i0 + 3 * N);
  }
  for (int i = hv; i < hd; ++i) {
    float sum = 0.0f;
    KvPositions values{block_ids, bs, stride};
    for (int p = 0; p < n_ctx; ++p) sum += scores[p] * kv.At(v_base, values.Next() + i);
    out[i] = sum;
  }
}

HWY_NOINLINE void AttendHeadImpl(const float* q, int hd, bool f16, const void* k_base,
                                 const void* v_base, const int* block_ids, int bs, size_t stride,
                                 int n_ctx, float scale, float* scores, float* out) {
  if (f16) {
    AttendHeadT<true>(q, hd, k_base, v_base, block_ids, bs, stride, n_ctx, scale, scores, out);
  } else {
    AttendHeadT<false>(q, hd, k_base, v_base, block_ids, bs, stride, n_ctx, scale, scores, out);
  }
}

HWY_NOINLINE const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace trueno
HWY_AFTER_NAMESPACE();

#endif  // TRUENO_CPU_OPS_INL_H_
