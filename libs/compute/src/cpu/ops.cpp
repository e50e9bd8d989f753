// Element-wise kernels: dynamic dispatch to the per-target bodies in ops-inl.h.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <string>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/ops.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "cpu/ops-inl.h"
#include "hwy/highway.h"

#if HWY_ONCE
#include "hwy/targets.h"
#include "trueno/kernels.h"
#include "trueno/str_cat.h"

namespace trueno {

HWY_EXPORT(DotImpl);
HWY_EXPORT(AxpyImpl);
HWY_EXPORT(RmsNormImpl);
HWY_EXPORT(AddImpl);
HWY_EXPORT(SiluMulImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(ArgMaxImpl);
HWY_EXPORT(RopeRotateImpl);
HWY_EXPORT(TargetNameImpl);
HWY_EXPORT(AttendHeadImpl);
HWY_EXPORT(Fp32ToFp16RowImpl);
HWY_EXPORT(Fp16ToFp32RowImpl);

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

int ArgMax(const float* x, int n) { return n <= 0 ? 0 : HWY_DYNAMIC_DISPATCH(ArgMaxImpl)(x, n); }

double RopePairScale(const RopeParams& params, int n_rot, int i) {
  const double fs = params.freq_scale;
  if (!(params.yarn_orig_ctx > 0.0f) || n_rot <= 0) return fs;
  // Pair index at which the wavelength completes `rotations` turns over the original context.
  const double log_theta = std::log(static_cast<double>(params.theta));
  auto corr_dim = [&](double rotations) {
    return n_rot * std::log(params.yarn_orig_ctx / (rotations * 2.0 * std::numbers::pi)) /
           (2.0 * log_theta);
  };
  const double low = std::max(0.0, std::floor(corr_dim(params.yarn_beta_fast)));
  const double high = std::min(n_rot - 1.0, std::ceil(corr_dim(params.yarn_beta_slow)));
  const double ramp = std::clamp((i - low) / std::max(0.001, high - low), 0.0, 1.0);
  return (1.0 - ramp) + ramp * fs;  // ramp 0: extrapolate (keep), 1: interpolate (scale)
}

double RopeMagnitude(const RopeParams& params) {
  if (!(params.yarn_orig_ctx > 0.0f)) return 1.0;
  const double factor = params.freq_scale > 0.0f ? 1.0 / params.freq_scale : 1.0;
  return params.yarn_attn_factor * (factor > 1.0 ? 1.0 + 0.1 * std::log(factor) : 1.0);
}

void Rope(float* x, int n_heads, int head_dim, int pos, const RopeParams& params) {
  const int n_rot = params.n_rot > 0 ? params.n_rot : head_dim;
  const int half = n_rot / 2;
  // Angles in double: pos * theta^(-2i/n) loses several bits in float at long contexts.
  std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
  const double mag = RopeMagnitude(params);
  for (int i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * RopePairScale(params, n_rot, i) *
                         std::pow(static_cast<double>(params.theta), -2.0 * i / n_rot);
    cos_t[i] = static_cast<float>(std::cos(angle) * mag);
    sin_t[i] = static_cast<float>(std::sin(angle) * mag);
  }
  HWY_DYNAMIC_DISPATCH(RopeRotateImpl)
  (x, n_heads, head_dim, n_rot, params.mode == RopeMode::kNeox, cos_t.data(), sin_t.data());
}

void AttendHead(const float* q, int head_dim, DType kv_type, const void* k_base, const void* v_base,
                const int* block_ids, int block_size, size_t row_stride, int n_ctx, float scale,
                float* scores, float* out) {
  HWY_DYNAMIC_DISPATCH(AttendHeadImpl)
  (q, head_dim, kv_type == DType::kF16, k_base, v_base, block_ids, block_size, row_stride, n_ctx,
   scale, scores, out);
}

void Fp32ToFp16Row(const float* src, uint16_t* dst, int n) {
  HWY_DYNAMIC_DISPATCH(Fp32ToFp16RowImpl)(src, dst, n);
}

void Fp16ToFp32Row(const uint16_t* src, float* dst, int n) {
  HWY_DYNAMIC_DISPATCH(Fp16ToFp32RowImpl)(src, dst, n);
}

const char* ActiveSimdTarget() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

absl::Status SetSimdTarget(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  // The targets this library was compiled for; a lower bit is a better target.
  const int64_t compiled = HWY_TARGETS;
  int64_t want = 0;
  if (lower.empty() || lower == "best" || lower == "auto") {
    hwy::DisableTargets(0);
    return absl::OkStatus();
  } else if (lower == "avx3" || lower == "avx512") {
    want = HWY_AVX3;
  } else if (lower == "avx2") {
    want = HWY_AVX2;
  } else if (lower == "sse4") {
    want = HWY_SSE4;
  } else if (lower == "scalar" || lower == "emu128") {
    // The portable fallback: the worst target compiled in (EMU128 or SCALAR).
    want = compiled & (HWY_EMU128 | HWY_SCALAR);
    if (want != 0) want = int64_t{1} << (63 - __builtin_clzll(static_cast<uint64_t>(want)));
  } else {
    return absl::InvalidArgumentError(
        Concat("SIMD target '", lower, "' is unknown; use avx3, avx2, sse4, scalar or best"));
  }
  hwy::DisableTargets(0);
  if ((compiled & want) == 0 || (hwy::SupportedTargets() & want) == 0) {
    return absl::FailedPreconditionError(Concat(
        "SIMD target '", lower, "' is not available: ",
        (compiled & want) == 0 ? "this build does not compile it" : "this CPU does not support it",
        "; the active target is ", ActiveSimdTarget()));
  }
  hwy::DisableTargets(want - 1);  // every better target
  return absl::OkStatus();
}

namespace {
// Applies TRUENO_SIMD once, when the library is loaded (before any kernel runs).
bool ApplySimdEnv() {
  const char* env = std::getenv("TRUENO_SIMD");
  if (env == nullptr || *env == '\0') return false;
  absl::Status s = SetSimdTarget(env);
  if (!s.ok()) {
    std::fprintf(stderr, "trueno: ignoring TRUENO_SIMD=%s: %s\n", env,
                 std::string(s.message()).c_str());
    return false;
  }
  return true;
}
[[maybe_unused]] const bool kSimdEnvApplied = ApplySimdEnv();
}  // namespace

}  // namespace trueno
#endif  // HWY_ONCE
