// Per-target bodies of the element-wise kernels: RMSNorm, RoPE, softmax, SwiGLU, add, dot, axpy.
// Per-target include guard: this file is re-included once per Highway target.
#if defined(TRUENO_CPU_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRUENO_CPU_OPS_INL_H_
#undef TRUENO_CPU_OPS_INL_H_
#else
#define TRUENO_CPU_OPS_INL_H_
#endif

#include <cmath>
#include <cstddef>

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

template <bool kF16>
HWY_INLINE void AttendHeadT(const float* HWY_RESTRICT q, int hd, const void* k_base,
                            const void* v_base, const int* block_ids, int bs, size_t stride,
                            int n_ctx, float scale, float* HWY_RESTRICT scores,
                            float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  const int hv = hd / N * N;
  const KvRow<kF16> kv;
  for (int p = 0; p < n_ctx; ++p) {
    const size_t row = (static_cast<size_t>(block_ids[p / bs]) * bs + p % bs) * stride;
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
  for (int i = 0; i < hd; ++i) out[i] = 0.0f;
  for (int p = 0; p < n_ctx; ++p) {
    const size_t row = (static_cast<size_t>(block_ids[p / bs]) * bs + p % bs) * stride;
    const auto w = hn::Set(df, scores[p]);
    int i = 0;
    for (; i < hv; i += N) {
      hn::StoreU(hn::MulAdd(w, kv.Load(v_base, row + i), hn::LoadU(df, out + i)), df, out + i);
    }
    for (; i < hd; ++i) out[i] += scores[p] * kv.At(v_base, row + i);
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
