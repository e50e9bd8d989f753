// Launchers shared between matmul.cu (dispatch, cuBLAS path) and matvec.cu (fused kernels).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "trueno/dtype.h"

namespace trueno::cuda::internal {

// Context::Impl::Scratch slots MatMul uses (others are free for the caller's kernels; a buffer
// taken from these slots is overwritten by the next MatMul).
inline constexpr int kScratchWeightTile = 8;       // f16 tile of W (cuBLAS path)
inline constexpr int kScratchActHalf = 9;          // f16 activations (cuBLAS path)
inline constexpr int kScratchActPermuted = 10;     // activations in chunk order (fused kernels)
inline constexpr int kScratchActTransformed = 11;  // RmsNorm / SwiGLU input of the cuBLAS path

// Largest n_tokens the fused dequantize+dot kernels take in one launch.
inline constexpr int kMatVecMaxTokens = 8;

// Y[t][r] for t < n_tokens <= kMatVecMaxTokens, rows of `row_bytes` bytes. The chunked kernels
// need 16-byte aligned w and x and, for plain types, cols % 8 == 0; otherwise a per-element
// kernel runs. `scratch` (16-byte aligned, MatVecScratchBytes) holds the reordered activations.
// Only enqueues; the launch error (if any) is returned.
size_t MatVecScratchBytes(int cols, int n_tokens);

// One weight matrix of a matvec launch: Y[t][r] = (accumulate ? Y[t][r] : 0) +
// (sum_c W[r][c] X[t][c] + bias[r]) (bias optional).
struct MatVecOut {
  const uint8_t* w = nullptr;
  size_t row_bytes = 0;
  int rows = 0;
  float* y = nullptr;
  const float* bias = nullptr;
  bool accumulate = false;
};
inline constexpr int kMaxMatVecOuts = 4;

// What the reorder applies to the activations on the way (the chunked path only):
// X = x * rsqrt(mean(x^2) + eps) * rms_weight per token, or X = silu(x) * up.
struct ActTransform {
  const float* rms_weight = nullptr;
  float rms_eps = 0.0f;
  const float* up = nullptr;
  bool any() const { return rms_weight != nullptr || up != nullptr; }
};

// True when LaunchMatVec runs the chunked kernels (and so can apply an ActTransform) for weights
// of `wtype` at w with rows of `row_bytes` and activations at x.
bool MatVecChunked(DType wtype, const uint8_t* w, size_t row_bytes, int cols, const float* x);

// Y = W X for up to kMaxMatVecOuts matrices of one type sharing the input x (one reorder, one
// launch). A transform needs MatVecChunked for every output.
absl::Status LaunchMatVec(DType wtype, const MatVecOut* outs, int n_outs, int cols, const float* x,
                          const ActTransform& tf, int n_tokens, float* scratch,
                          cudaStream_t stream);

// 8-bit activations for the K types (matvec_q8.cu): true when LaunchMatVecQ8 serves `wtype` at
// n_tokens (MatVecQ8Type) and the pointers are aligned for it (MatVecQ8Ok). The input is
// quantized once (LaunchQuantizeQ8, transform applied) into a scratch buffer of
// MatVecQ8ScratchBytes that any number of LaunchMatVecQ8 calls of either type then read.
inline constexpr int kScratchActQ8 = 12;
bool MatVecQ8Type(DType wtype, int n_tokens);
bool MatVecQ8Ok(DType wtype, const uint8_t* w, int cols, int n_tokens, const float* x,
                const ActTransform& tf);
// The layout and alignment both 8-bit consumers (LaunchMatVecQ8, LaunchMmq) need.
bool Q8Aligned(DType wtype, const uint8_t* w, int cols, const float* x, const ActTransform& tf);
void SetMatVecQ8Enabled(bool on);
bool MatVecQ8Enabled();
size_t MatVecQ8ScratchBytes(int cols, int n_tokens);
// The scratch buffer's two parts: n_tokens x cols int8 quants, then (16-byte aligned) one
// {d, d * sum(q)} float pair per block of 32 of each token.
inline size_t Q8ScalesOffset(int cols, int n_tokens) {
  return (static_cast<size_t>(n_tokens) * cols + 15) / 16 * 16;
}
inline const float2* Q8ScalesOf(const void* scratch, int cols, int n_tokens) {
  return reinterpret_cast<const float2*>(static_cast<const char*>(scratch) +
                                         Q8ScalesOffset(cols, n_tokens));
}
absl::Status LaunchQuantizeQ8(const float* x, const ActTransform& tf, int cols, int n_tokens,
                              void* scratch, cudaStream_t stream);
absl::Status LaunchMatVecQ8(DType wtype, const MatVecOut* outs, int n_outs, int cols,
                            const void* scratch, int n_tokens, cudaStream_t stream);

// Batches of kMatVecMaxTokens + 1 .. MmqMaxTokens() (<= kMmqMaxTokens) rows of Q4_K / Q6_K
// weights (matmul_mmq.cu): integer tensor-core products on the same 8-bit activations. MmqType:
// served (and enabled; APR_CUDA_MMQ=0 turns it off); the alignment is Q8Aligned's.
inline constexpr int kMmqMaxTokens = 64;
inline constexpr int kMmqDefaultMaxTokens = 16;
bool MmqType(DType wtype, int n_tokens);
void SetMmqMaxTokens(int n);
absl::Status LaunchMmq(DType wtype, const MatVecOut* outs, int n_outs, int cols,
                       const void* scratch, int n_tokens, cudaStream_t stream);

// Dequantizes rows [0, n_rows) of w (rows of `row_bytes`) into n_rows x cols halves at `out`.
absl::Status LaunchDequantToHalf(DType wtype, const uint8_t* w, size_t row_bytes, int n_rows,
                                 int cols, void* out, cudaStream_t stream);

// Row-major `n` floats to halves.
absl::Status LaunchFloatToHalf(const float* x, size_t n, void* out, cudaStream_t stream);

}  // namespace trueno::cuda::internal
