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

// Activations in chunk order: the fused kernel's lane L of a warp reads, at its e-th emit, the
// four activations of chunk 32J + L; storing them at float4 slot (J * E + e) * 32 + L (E = emits
// per chunk) makes every warp-wide activation load one contiguous 512-byte read, instead of 32
// reads spread over 32 cache lines (kElems * 4 bytes apart). Reordering runs the codec itself
// over weight row 0 to learn which elements each emit covers, so it always matches Values().
template <class C>
__host__ __device__ constexpr int EmitsPerChunk() {
  return C::kElems / 4;
}

size_t PermutedStride(int cols, int elems) {  // floats per token
  const size_t nch = static_cast<size_t>(cols / elems);
  return (nch + 31) / 32 * 32 * elems;
}

template <class C>
__global__ void __launch_bounds__(256)
    PermuteActKernel(const uint8_t* __restrict__ w_row0, int cols, const float* __restrict__ x,
                     int n, size_t stride, float* __restrict__ xp) {
  const int nch = cols / C::kElems;
  const size_t idx = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<size_t>(n) * nch) return;
  const int t = static_cast<int>(idx / nch), ch = static_cast<int>(idx % nch);
  const float* xt = x + static_cast<size_t>(t) * cols;
  float4* o = reinterpret_cast<float4*>(xp + static_cast<size_t>(t) * stride) +
              static_cast<size_t>(ch >> 5) * EmitsPerChunk<C>() * 32 + (ch & 31);
  int e = 0;
  auto emit = [&](int i, float, float, float, float) {
    o[32 * e] = *reinterpret_cast<const float4*>(xt + i);
    ++e;
  };
  C::Values(w_row0, ch, emit);
}

template <class C, int NT>
__global__ void __launch_bounds__(kThreads)
    MatVecKernel(const uint8_t* __restrict__ w, size_t row_bytes, int rows, int cols,
                 const float* __restrict__ xp, size_t stride, int nv, float* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
  if (r >= rows) return;  // whole warps leave together: no shuffle sees a missing lane
  const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
  const float4* xl = reinterpret_cast<const float4*>(xp) + lane;
  const int nch = cols / C::kElems;
  for (int ch = lane; ch < nch; ch += 32) {
    const float4* xc = xl + static_cast<size_t>(ch >> 5) * EmitsPerChunk<C>() * 32;
    int e = 0;
    auto emit = [&](int, float w0, float w1, float w2, float w3) {
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        if (t < nv) {
          const float4 a = __ldg(xc + static_cast<size_t>(t) * (stride / 4) + 32 * e);
          acc[t] = fmaf(w3, a.w, fmaf(w2, a.z, fmaf(w1, a.y, fmaf(w0, a.x, acc[t]))));
        }
      }
      ++e;
    };
    C::Values(row, ch, emit);
  }
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

size_t MatVecScratchBytes(int cols, int n_tokens) {
  // PermutedStride(cols, e) <= cols + 31 * e for every chunk size e <= 64.
  return static_cast<size_t>(n_tokens) * (static_cast<size_t>(cols) + 31 * 64) * sizeof(float);
}

absl::Status LaunchMatVec(DType wtype, const uint8_t* w, size_t row_bytes, int rows, int cols,
                          const float* x, int n_tokens, float* y, float* scratch,
                          cudaStream_t stream) {
  const dim3 grid((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  const bool known = DispatchType(wtype, [&](auto codec) {
    using C = decltype(codec);
    if (!ChunkedOk<C>(w, row_bytes, cols, x)) {
      MatVecElemKernel<C><<<grid, kThreads, 0, stream>>>(w, row_bytes, rows, cols, x, n_tokens, y);
      return;
    }
    const size_t stride = PermutedStride(cols, C::kElems);
    const size_t work = static_cast<size_t>(n_tokens) * (cols / C::kElems);
    PermuteActKernel<C><<<static_cast<unsigned>((work + 255) / 256), 256, 0, stream>>>(
        w, cols, x, n_tokens, stride, scratch);
    if (n_tokens == 1) {
      MatVecKernel<C, 1>
          <<<grid, kThreads, 0, stream>>>(w, row_bytes, rows, cols, scratch, stride, n_tokens, y);
    } else if (n_tokens == 2) {
      MatVecKernel<C, 2>
          <<<grid, kThreads, 0, stream>>>(w, row_bytes, rows, cols, scratch, stride, n_tokens, y);
    } else if (n_tokens <= 4) {
      MatVecKernel<C, 4>
          <<<grid, kThreads, 0, stream>>>(w, row_bytes, rows, cols, scratch, stride, n_tokens, y);
    } else {
      MatVecKernel<C, 8>
          <<<grid, kThreads, 0, stream>>>(w, row_bytes, rows, cols, scratch, stride, n_tokens, y);
    }
  });
  if (!known) return absl::UnimplementedError("CUDA MatVec: unsupported weight type");
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

}  // namespace trueno::cuda::internal
