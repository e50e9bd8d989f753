// Scalar references for the element-wise kernels, accumulating in double.
#include <algorithm>
#include <cmath>

#include "cpu/kernels_ref.h"

namespace trueno::ref {

void RmsNormRef(const float* x, const float* weight, int n, float eps, float* out) {
  double ss = 0.0;
  for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double scale = 1.0 / std::sqrt(ss / n + eps);
  for (int i = 0; i < n; ++i) out[i] = static_cast<float>(x[i] * scale * weight[i]);
}

void RopeRef(float* x, int n_heads, int head_dim, int pos, const RopeParams& params) {
  const int n_rot = params.n_rot > 0 ? params.n_rot : head_dim;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<size_t>(h) * head_dim;
    for (int i = 0; i < n_rot / 2; ++i) {
      const double angle = static_cast<double>(pos) * RopePairScale(params, n_rot, i) *
                           std::pow(static_cast<double>(params.theta), -2.0 * i / n_rot);
      const double mag = RopeMagnitude(params);
      const double c = std::cos(angle) * mag, s = std::sin(angle) * mag;
      const int i0 = params.mode == RopeMode::kNormal ? 2 * i : i;
      const int i1 = params.mode == RopeMode::kNormal ? 2 * i + 1 : i + n_rot / 2;
      const double a = v[i0], b = v[i1];
      v[i0] = static_cast<float>(a * c - b * s);
      v[i1] = static_cast<float>(a * s + b * c);
    }
  }
}

void SoftmaxRef(float* x, int n) {
  if (n <= 0) return;
  const float mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  for (int i = 0; i < n; ++i)
    x[i] = static_cast<float>(std::exp(static_cast<double>(x[i]) - mx) / sum);
}

int ArgMaxRef(const float* x, int n) {
  int best = -1;
  for (int i = 0; i < n; ++i) {
    if (std::isnan(x[i])) continue;
    if (best < 0 || x[i] > x[best]) best = i;
  }
  return best < 0 ? 0 : best;
}

void SiluMulRef(const float* gate, const float* up, float* out, int n) {
  for (int i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

void AddRef(const float* a, const float* b, float* out, int n) {
  for (int i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

float DotRef(const float* a, const float* b, int n) {
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(s);
}

void AxpyRef(float alpha, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] = static_cast<float>(y[i] + static_cast<double>(alpha) * x[i]);
}

}  // namespace trueno::ref
