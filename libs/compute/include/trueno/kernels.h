// CPU compute kernels: quantized matrix-vector / matrix-matrix products and the element-wise
// operations of a transformer layer. Every kernel has a SIMD body compiled for several Highway
// targets (the best one is chosen at run time) and a scalar reference in src/cpu/*_ref.cpp.
// Work is spread over a oneTBB arena whose size SetNumThreads controls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "trueno/dtype.h"

namespace trueno {

// True when MatVec/MatMul accept weights of `type` (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K).
bool MatVecSupports(DType type);

// y[r] = sum_c W[r][c] * x[c] for r < rows. W is `rows` rows of `cols` elements of `wtype`, each
// row contiguous (GGML layout: a tensor with dims {cols, rows}). `cols` must be a multiple of the
// type's block size. Quantized weights are multiplied with activations quantized to 8 bits
// (Q8_0-style blocks for the 32-element types, Q8_K super-blocks for the K types) using integer dot
// products. Errors: InvalidArgument (bad sizes / null pointers), Unimplemented (unsupported type).
[[nodiscard]] absl::Status MatVec(DType wtype, const uint8_t* w, int rows, int cols, const float* x,
                                  float* y);

// Y[t][r] = sum_c W[r][c] * X[t][c] for t < n_tokens: X is n_tokens rows of `cols` floats and Y
// is n_tokens rows of `rows` floats. Each weight row is read once for all tokens.
[[nodiscard]] absl::Status MatMul(DType wtype, const uint8_t* w, int rows, int cols, const float* X,
                                  int n_tokens, float* Y);

// One product of a MatMulMulti group: Y[t][r] = sum_c W[r][c] * X[t][c] for r < rows, Y being
// n_tokens rows of `rows` floats.
struct MatMulJob {
  DType wtype = DType::kF32;
  const uint8_t* w = nullptr;
  int rows = 0;
  float* Y = nullptr;
};

// Several MatMuls over the same input X (n_tokens rows of `cols` floats), e.g. the Q/K/V or the
// gate/up projections of a layer: X is quantized once per activation format and the rows of
// every job are spread over one parallel loop (one synchronisation instead of one per matrix).
// Same requirements and errors as MatMul, checked for every job before anything runs.
[[nodiscard]] absl::Status MatMulMulti(std::span<const MatMulJob> jobs, int cols, const float* X,
                                       int n_tokens);

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]. `out` may alias `x`.
void RmsNorm(const float* x, const float* weight, int n, float eps, float* out);

enum class RopeMode {
  kNormal,  // rotates adjacent pairs (x[2i], x[2i+1]) — llama GGUF layout
  kNeox,    // rotates (x[i], x[i + n/2]) — qwen2 / NeoX layout
};

struct RopeParams {
  RopeMode mode = RopeMode::kNormal;
  float theta = 10000.0f;   // base frequency
  float freq_scale = 1.0f;  // linear scaling: position is multiplied by this (1 / factor)
  int n_rot = 0;            // rotated dimensions per head; 0 = head_dim
  // YaRN ("NTK-by-parts" interpolation plus an attention magnitude scale), on when
  // yarn_orig_ctx > 0; freq_scale is then 1 / factor. Dimension pair i, whose wavelength
  // 2*pi * theta^(2i/n_rot) completes r_i = yarn_orig_ctx / wavelength rotations over the
  // original context, keeps its frequency (extrapolation) when r_i > beta_fast, is scaled by
  // freq_scale (interpolation) when r_i < beta_slow, and mixes linearly in between (the ramp runs
  // over pair indices floor(d(beta_fast))..ceil(d(beta_slow)), d(b) = n_rot * ln(orig / (2*pi*b))
  // / (2 ln theta), clamped to [0, n_rot - 1]). cos and sin are multiplied by
  // yarn_attn_factor * (1 + 0.1 ln(factor)) (factor > 1; 1 otherwise).
  float yarn_orig_ctx = 0.0f;  // original training context length; 0 = YaRN off
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
  float yarn_attn_factor = 1.0f;  // extra multiplier on the magnitude scale
};

// The per-pair frequency multiplier (1 = original frequency) for pair i < n_rot / 2 and the
// magnitude scale on cos/sin that `params` implies (freq_scale for every pair without YaRN).
double RopePairScale(const RopeParams& params, int n_rot, int i);
double RopeMagnitude(const RopeParams& params);

// Rotates each of the `n_heads` heads of `head_dim` floats in `x` (contiguous) in place for
// position `pos`: angle_i = pos * RopePairScale(i) * theta^(-2i / n_rot), and the rotated pair is
// multiplied by RopeMagnitude (1 without YaRN).
void Rope(float* x, int n_heads, int head_dim, int pos, const RopeParams& params);

// In-place numerically stable softmax over n elements.
void Softmax(float* x, int n);

// Index of the largest of x[0..n): the lowest such index on ties; NaN entries are ignored; 0 when
// n <= 0 or every entry is NaN. (Greedy sampling over a 152k-entry vocabulary: a scalar loop is
// ~4 % of a 0.5B model's decode step.)
int ArgMax(const float* x, int n);

// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)). `out` may alias either input.
void SiluMul(const float* gate, const float* up, float* out, int n);

// out[i] = a[i] + b[i]. `out` may alias either input.
void Add(const float* a, const float* b, float* out, int n);

// Returns sum a[i] * b[i].
float Dot(const float* a, const float* b, int n);

// y[i] += alpha * x[i].
void Axpy(float alpha, const float* x, float* y, int n);

// Attention of one query head over n_ctx cached positions held in fixed-size blocks: the key of
// position p is the row at k_base + (block_ids[p / block_size] * block_size + p % block_size) *
// row_stride (elements of kv_type, F32 or F16; k_base already points at the head's first
// element), likewise the value at v_base. Computes scores[p] = scale * q.k_p, the softmax over
// p < n_ctx (in `scores`, n_ctx floats of scratch) and out = sum_p scores[p] * v_p (head_dim
// floats, overwritten).
void AttendHead(const float* q, int head_dim, DType kv_type, const void* k_base, const void* v_base,
                const int* block_ids, int block_size, size_t row_stride, int n_ctx, float scale,
                float* scores, float* out);

// IEEE binary16 <-> float for n elements (round to nearest even), vectorised.
void Fp32ToFp16Row(const float* src, uint16_t* dst, int n);
void Fp16ToFp32Row(const uint16_t* src, float* dst, int n);

// Threads used by MatVec/MatMul (a oneTBB task arena). n <= 0 restores the default, the number
// of physical cores.
void SetNumThreads(int n);
int NumThreads();

// Name of the Highway target chosen at run time for these kernels ("AVX2", "AVX3", "SSE4", ...).
const char* ActiveSimdTarget();

// Restricts the kernels to one SIMD target: "avx3" (AVX-512), "avx2", "sse4", "scalar" (the
// portable fallback), or "best" / "" (every target this CPU supports; the default). The
// environment variable TRUENO_SIMD (same names) is applied once when the library is loaded; an
// unusable value is reported on stderr and ignored. Errors: InvalidArgument (unknown name),
// FailedPrecondition (the CPU or this build lacks the target).
[[nodiscard]] absl::Status SetSimdTarget(std::string_view name);

}  // namespace trueno
