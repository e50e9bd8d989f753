// Element-wise kernels: dynamic dispatch to the per-target bodies in ops-inl.h.
#include <cmath>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/ops.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "cpu/ops-inl.h"
#include "hwy/highway.h"

#if HWY_ONCE
#include "trueno/kernels.h"

namespace trueno {

HWY_EXPORT(DotImpl);
HWY_EXPORT(AxpyImpl);
HWY_EXPORT(RmsNormImpl);
HWY_EXPORT(AddImpl);
HWY_EXPORT(SiluMulImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(RopeRotateImpl);
HWY_EXPORT(TargetNameImpl);

float Dot(const float* a, const float* b, int n) { return HWY_DYNAMIC_DISPATCH(DotImpl)(a, b, n); }

void Axpy(float alpha, const float* x, float* y, int n) {
  HWY_DYNAMIC_DISPATCH(AxpyImpl)(alpha, x, y, n);
}

void RmsNorm(const float* x, const float* weight, int n, float eps, float* out) {
  HWY_DYNAMIC_DISPATCH(RmsNormImpl)(x, weight, n, eps, out);
}

void Add(const float* a, const float* b, float* out, int n) {
  HWY_DYNAMIC_DISPATCH(AddImpl)(a, b, out, n);
}

void SiluMul(const float* gate, const float* up, float* out, int n) {
  HWY_DYNAMIC_DISPATCH(SiluMulImpl)(gate, up, out, n);
}

void Softmax(float* x, int n) { HWY_DYNAMIC_DISPATCH(SoftmaxImpl)(x, n); }

void Rope(float* x, int n_heads, int head_dim, int pos, const RopeParams& params) {
  const int n_rot = params.n_rot > 0 ? params.n_rot : head_dim;
  const int half = n_rot / 2;
  // Angles in double: pos * theta^(-2i/n) loses several bits in float at long contexts.
  std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * params.freq_scale *
                         std::pow(static_cast<double>(params.theta), -2.0 * i / n_rot);
    cos_t[i] = static_cast<float>(std::cos(angle));
    sin_t[i] = static_cast<float>(std::sin(angle));
  }
  HWY_DYNAMIC_DISPATCH(RopeRotateImpl)
  (x, n_heads, head_dim, n_rot, params.mode == RopeMode::kNeox, cos_t.data(), sin_t.data());
}

const char* ActiveSimdTarget() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

}  // namespace trueno
#endif  // HWY_ONCE
