// Fused dequantize + dot kernels for decode and small batches (n_tokens <= 8): one warp per
// weight row, each lane decodes whole chunks (Codec<T>::kElems elements, 16-byte loads where the
// block layout allows) and multiplies them with up to NT activation rows held in L1/L2; a warp
// shuffle reduces the lanes. Weights are read exactly once per launch, so the kernel is bound by
// memory bandwidth (see docs/perf-notes.md, "GPU kernels").
#include <cuda_runtime.h>

#include "cuda_check.h"
#include "dequant.cuh"
#include "matmul_internal.h"

namespace trueno::cuda::internal {
namespace {

constexpr int kRowsPerBlock = 4;  // warps per block
constexpr int kThreads = 32 * kRowsPerBlock;

template <int NT>
__device__ __forceinline__ void WarpReduceAndStore(float (&acc)[NT], int lane, int nv, int rows,
                                                   int r, float* y) {
#pragma unroll
  for (int t = 0; t < NT; ++t) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc[t] += __shfl_xor_sync(0xFFFFFFFFu, acc[t], o);
  }
  if (lane == 0) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      if (t < nv) y[static_cast<size_t>(t) * rows + r] = acc[t];
    }
  }
}

template <class C, int NT>
__global__ void __launch_bounds__(kThreads)
    MatVecKernel(const uint8_t* __restrict__ w, size_t row_bytes, int rows, int cols,
                 const float* __restrict__ x, int nv, float* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
  if (r >= rows) return;  // whole warps leave together: no shuffle sees a missing lane
  const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
  auto emit = [&](int i, float w0, float w1, float w2, float w3) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      if (t < nv) {
        const float4 a =
            __ldg(reinterpret_cast<const float4*>(x + static_cast<size_t>(t) * cols + i));
        acc[t] = fmaf(w3, a.w, fmaf(w2, a.z, fmaf(w1, a.y, fmaf(w0, a.x, acc[t]))));
      }
    }
  };
  const int nch = cols / C::kElems;
  for (int ch = lane; ch < nch; ch += 32) C::Values(row, ch, emit);
  WarpReduceAndStore<NT>(acc, lane, nv, rows, r, y);
}

// Any layout: one element at a time (plain types whose rows are not 16-byte aligned).
template <class C>
__global__ void __launch_bounds__(kThreads)
    MatVecElemKernel(const uint8_t* __restrict__ w, size_t row_bytes, int rows, int cols,
                     const float* __restrict__ x, int nv, float* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
  if (r >= rows) return;
  const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
  float acc[kMatVecMaxTokens];
#pragma unroll
  for (int t = 0; t < kMatVecMaxTokens; ++t) acc[t] = 0.0f;
  for (int j = lane; j < cols; j += 32) {
    const float v = C::Elem(row, j);
#pragma unroll
    for (int t = 0; t < kMatVecMaxTokens; ++t) {
      if (t < nv) acc[t] = fmaf(v, __ldg(x + static_cast<size_t>(t) * cols + j), acc[t]);
    }
  }
  WarpReduceAndStore<kMatVecMaxTokens>(acc, lane, nv, rows, r, y);
}

bool Aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <class C>
bool ChunkedOk(const uint8_t* w, size_t row_bytes, int cols, const float* x) {
  return Aligned16(w) && Aligned16(x) && cols % C::kElems == 0 && cols % 4 == 0 &&
         (C::kElems != 8 || row_bytes % 16 == 0);
}

}  // namespace

absl::Status LaunchMatVec(DType wtype, const uint8_t* w, size_t row_bytes, int rows, int cols,
                          const float* x, int n_tokens, float* y, cudaStream_t stream) {
  const dim3 grid((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  const bool known = DispatchType(wtype, [&](auto codec) {
    using C = decltype(codec);
    if (!ChunkedOk<C>(w, row_bytes, cols, x)) {
      MatVecElemKernel<C><<<grid, kThreads, 0, stream>>>(w, row_bytes, rows, cols, x, n_tokens, y);
    } else if (n_tokens == 1) {
      MatVecKernel<C, 1><<<grid, kThreads, 0, stream>>>(w, row_bytes, rows, cols, x, n_tokens, y);
    } else if (n_tokens == 2) {
      MatVecKernel<C, 2><<<grid, kThreads, 0, stream>>>(w, row_bytes, rows, cols, x, n_tokens, y);
    } else if (n_tokens <= 4) {
      MatVecKernel<C, 4><<<grid, kThreads, 0, stream>>>(w, row_bytes, rows, cols, x, n_tokens, y);
    } else {
      MatVecKernel<C, 8><<<grid, kThreads, 0, stream>>>(w, row_bytes, rows, cols, x, n_tokens, y);
    }
  });
  if (!known) return absl::UnimplementedError("CUDA MatVec: unsupported weight type");
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

}  // namespace trueno::cuda::internal
