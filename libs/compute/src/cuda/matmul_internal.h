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
inline constexpr int kScratchWeightTile = 8;    // f16 tile of W (cuBLAS path)
inline constexpr int kScratchActHalf = 9;       // f16 activations (cuBLAS path)
inline constexpr int kScratchActPermuted = 10;  // activations in chunk order (fused kernels)

// Largest n_tokens the fused dequantize+dot kernels take in one launch.
inline constexpr int kMatVecMaxTokens = 8;

// Y[t][r] for t < n_tokens <= kMatVecMaxTokens, rows of `row_bytes` bytes. The chunked kernels
// need 16-byte aligned w and x and, for plain types, cols % 8 == 0; otherwise a per-element
// kernel runs. `scratch` (16-byte aligned, MatVecScratchBytes) holds the reordered activations.
// Only enqueues; the launch error (if any) is returned.
size_t MatVecScratchBytes(int cols, int n_tokens);
absl::Status LaunchMatVec(DType wtype, const uint8_t* w, size_t row_bytes, int rows, int cols,
                          const float* x, int n_tokens, float* y, float* scratch,
                          cudaStream_t stream);

// Dequantizes rows [0, n_rows) of w (rows of `row_bytes`) into n_rows x cols halves at `out`.
absl::Status LaunchDequantToHalf(DType wtype, const uint8_t* w, size_t row_bytes, int n_rows,
                                 int cols, void* out, cudaStream_t stream);

// Row-major `n` floats to halves.
absl::Status LaunchFloatToHalf(const float* x, size_t n, void* out, cudaStream_t stream);

}  // namespace trueno::cuda::internal
