// Fused dequantize + dot kernels for decode and small batches (n_tokens <= 8): one warp per
// weight row, each lane decodes whole chunks (Codec<T>::kElems elements, 16-byte loads where the
// block layout allows) and multiplies them with up to NT activation rows held in L1/L2; a warp
// shuffle reduces the lanes. Weights are read exactly once per launch, so the kernel is bound by
// memory bandwidth (see docs/perf-notes.md, "GPU kernels").
#include <cuda_runtime.h>

#include "cuda_check.h"
#include "dequant.cuh"
#include "matmul_internal.h"
#include "matvec_common.cuh"

namespace trueno::cuda::internal {
namespace {

// Warps per row: long rows are split over 2 or 4 warps of a block (their lanes take every
// 2nd / 4th group of 32 chunks) so that short matrices still have enough loads in flight and no
// warp walks a long serial loop; the partial sums meet in shared memory.
inline int SplitFor(int n_chunks) { return n_chunks >= 112 ? 4 : (n_chunks >= 48 ? 2 : 1); }

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

// Reorders chunk `ch` of token row xt into xpt, applying the SwiGLU gate (up != null) or the
// RMSNorm scale (inv_rms, with rms_weight) on the way. Same float operations as SiluMulKernel
// and RmsNormKernel, so the fused path computes what the separate kernels would.
template <class C>
__device__ __forceinline__ void PermuteChunk(const uint8_t* w_row0, int ch, const float* xt,
                                             const float* upt, const float* rms_weight,
                                             float inv_rms, float* xpt) {
  float4* o = reinterpret_cast<float4*>(xpt) +
              static_cast<size_t>(ch >> 5) * EmitsPerChunk<C>() * 32 + (ch & 31);
  int e = 0;
  auto emit = [&](int i, float, float, float, float) {
    float4 v = *reinterpret_cast<const float4*>(xt + i);
    if (upt != nullptr) {
      v = SiluMul4(v, *reinterpret_cast<const float4*>(upt + i));
    } else if (rms_weight != nullptr) {
      v = RmsScale4(v, inv_rms, *reinterpret_cast<const float4*>(rms_weight + i));
    }
    o[32 * e] = v;
    ++e;
  };
  C::Values(w_row0, ch, emit);
}

// One thread per (token, chunk); no RMSNorm (it needs the whole row first).
template <class C>
__global__ void __launch_bounds__(256)
    PermuteActKernel(const uint8_t* __restrict__ w_row0, int cols, const float* __restrict__ x,
                     const float* __restrict__ up, int n, size_t stride, float* __restrict__ xp) {
  const int nch = cols / C::kElems;
  const size_t idx = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<size_t>(n) * nch) return;
  const int t = static_cast<int>(idx / nch), ch = static_cast<int>(idx % nch);
  const size_t off = static_cast<size_t>(t) * cols;
  PermuteChunk<C>(w_row0, ch, x + off, up != nullptr ? up + off : nullptr, nullptr, 0.0f,
                  xp + static_cast<size_t>(t) * stride);
}

// One block per token: the row's sum of squares first, then the scaled chunks.
template <class C>
__global__ void __launch_bounds__(256)
    PermuteRmsKernel(const uint8_t* __restrict__ w_row0, int cols, const float* __restrict__ x,
                     const float* __restrict__ rms_weight, float eps, size_t stride,
                     float* __restrict__ xp) {
  const float* xt = x + static_cast<size_t>(blockIdx.x) * cols;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) ss += xt[i] * xt[i];
  __shared__ float part[32];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xFFFFFFFFu, ss, o);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0.0f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    if (threadIdx.x == 0) part[0] = v;
  }
  __syncthreads();
  const float inv = rsqrtf(part[0] / static_cast<float>(cols) + eps);
  const int nch = cols / C::kElems;
  float* xpt = xp + static_cast<size_t>(blockIdx.x) * stride;
  for (int ch = threadIdx.x; ch < nch; ch += blockDim.x) {
    PermuteChunk<C>(w_row0, ch, xt, nullptr, rms_weight, inv, xpt);
  }
}

template <class C, int NT>
__global__ void __launch_bounds__(kThreads)
    MatVecKernel(const OutSet outs, int cols, const float* __restrict__ xp, size_t stride, int nv,
                 int split) {
  __shared__ float partial[kRowsPerBlock][NT];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int part = warp % split;
  const Target tg = Locate(outs, warp / split, kRowsPerBlock / split);
  const bool active = tg.r < tg.rows;  // whole warps: no shuffle sees a missing lane
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
  if (active) {
    const float4* xl = reinterpret_cast<const float4*>(xp) + lane;
    const int nch = cols / C::kElems;
    for (int ch = 32 * part + lane; ch < nch; ch += 32 * split) {
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
      C::Values(tg.row, ch, emit);
    }
    WarpReduce(acc);
  }
  FinishRow<NT>(acc, partial, warp, lane, part, split, active, nv, tg);
}

// Single-token decode without the reorder kernel: each block first copies the activation row
// into shared memory (applying the SwiGLU gate, or the RMSNorm scale once the block has summed
// the row's squares), padded by 4 floats after every chunk so that the lanes' 16-byte reads of
// their chunks fall on different banks; then its warps run the rows as MatVecKernel does. Each
// block re-reads the row from L2 (a few KB) instead of a separate launch writing it in chunk
// order. Blocks of kStagedWarps warps, rows split over `split` warps each.
constexpr int kStagedWarps = 8;
constexpr size_t kStagedMaxBytes = 48 * 1024;  // the default dynamic shared memory limit

template <class C>
__host__ __device__ constexpr int StagedPad(int i) {
  return i + i / C::kElems * 4;
}

template <class C>
size_t StagedBytes(int cols) {
  return static_cast<size_t>(StagedPad<C>(cols)) * sizeof(float);
}

template <class C>
__global__ void __launch_bounds__(32 * kStagedWarps)
    MatVecStagedKernel(const OutSet outs, int cols, const float* __restrict__ x,
                       const float* __restrict__ up, const float* __restrict__ rms_weight,
                       float rms_eps, int split) {
  extern __shared__ __align__(16) float xs[];
  __shared__ float red[kStagedWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n4 = cols / 4;
  const float4* x4 = reinterpret_cast<const float4*>(x);
  float ss = 0.0f;
  for (int q = threadIdx.x; q < n4; q += blockDim.x) {
    float4 v = __ldg(x4 + q);
    if (up != nullptr) {
      v = SiluMul4(v, __ldg(reinterpret_cast<const float4*>(up) + q));
    }
    ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    *reinterpret_cast<float4*>(xs + StagedPad<C>(4 * q)) = v;
  }
  if (rms_weight != nullptr) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xFFFFFFFFu, ss, o);
    if (lane == 0) red[warp] = ss;
    __syncthreads();
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kStagedWarps; ++w) total += red[w];
    const float inv = rsqrtf(total / static_cast<float>(cols) + rms_eps);
    for (int q = threadIdx.x; q < n4; q += blockDim.x) {
      float4* p = reinterpret_cast<float4*>(xs + StagedPad<C>(4 * q));
      *p = RmsScale4(*p, inv, __ldg(reinterpret_cast<const float4*>(rms_weight) + q));
    }
  }
  __syncthreads();

  const int part = warp % split;
  const Target tg = Locate(outs, warp / split, kStagedWarps / split);
  const bool active = tg.r < tg.rows;
  float acc[1] = {0.0f};
  if (active) {
    const int nch = cols / C::kElems;
    for (int ch = 32 * part + lane; ch < nch; ch += 32 * split) {
      auto emit = [&](int i, float w0, float w1, float w2, float w3) {
        const float4 a = *reinterpret_cast<const float4*>(xs + StagedPad<C>(i));
        acc[0] = fmaf(w3, a.w, fmaf(w2, a.z, fmaf(w1, a.y, fmaf(w0, a.x, acc[0]))));
      };
      C::Values(tg.row, ch, emit);
    }
    WarpReduce(acc);
  }
  if (split == 1) {
    if (active && lane == 0) Store(acc, 1, tg);
    return;
  }
  __syncthreads();  // red[] is reused for the split partial sums
  if (lane == 0) red[warp] = acc[0];
  __syncthreads();
  if (active && part == 0 && lane == 0) {
    float v = red[warp];
    for (int k = 1; k < split; ++k) v += red[warp + k];
    acc[0] = v;
    Store(acc, 1, tg);
  }
}

// Any layout: one element at a time (plain types whose rows are not 16-byte aligned).
template <class C>
__global__ void __launch_bounds__(kThreads)
    MatVecElemKernel(const OutSet outs, int cols, const float* __restrict__ x, int nv) {
  const int lane = threadIdx.x & 31;
  const Target tg = Locate(outs, threadIdx.x >> 5, kRowsPerBlock);
  if (tg.r >= tg.rows) return;
  float acc[kMatVecMaxTokens];
#pragma unroll
  for (int t = 0; t < kMatVecMaxTokens; ++t) acc[t] = 0.0f;
  for (int j = lane; j < cols; j += 32) {
    const float v = C::Elem(tg.row, j);
#pragma unroll
    for (int t = 0; t < kMatVecMaxTokens; ++t) {
      if (t < nv) acc[t] = fmaf(v, __ldg(x + static_cast<size_t>(t) * cols + j), acc[t]);
    }
  }
  WarpReduceAndStore<kMatVecMaxTokens>(acc, lane, nv, tg);
}

template <class C>
bool ChunkedOk(const uint8_t* w, size_t row_bytes, int cols, const float* x) {
  return Aligned(w, 16) && Aligned(x, 16) && cols % C::kElems == 0 && cols % 4 == 0 &&
         (C::kElems != 8 || row_bytes % 16 == 0);
}

}  // namespace

size_t MatVecScratchBytes(int cols, int n_tokens) {
  // PermutedStride(cols, e) <= cols + 31 * e for every chunk size e <= 64.
  return static_cast<size_t>(n_tokens) * (static_cast<size_t>(cols) + 31 * 64) * sizeof(float);
}

bool MatVecChunked(DType wtype, const uint8_t* w, size_t row_bytes, int cols, const float* x) {
  bool ok = false;
  DispatchType(wtype, [&](auto codec) { ok = ChunkedOk<decltype(codec)>(w, row_bytes, cols, x); });
  return ok;
}

absl::Status LaunchMatVec(DType wtype, const MatVecOut* outs, int n_outs, int cols, const float* x,
                          const ActTransform& tf, int n_tokens, float* scratch,
                          cudaStream_t stream) {
  if (n_outs < 1 || n_outs > kMaxMatVecOuts) {
    return absl::InvalidArgumentError("CUDA MatVec: 1 to 4 outputs per launch");
  }
  bool chunked = true;
  DispatchType(wtype, [&](auto codec) {
    for (int i = 0; i < n_outs; ++i) {
      chunked = chunked && ChunkedOk<decltype(codec)>(outs[i].w, outs[i].row_bytes, cols, x);
    }
  });
  int split = 1;
  bool staged = false;
  if (chunked) {
    DispatchType(wtype, [&](auto codec) {
      using C = decltype(codec);
      split = SplitFor(cols / C::kElems);
      staged = n_tokens == 1 && StagedBytes<C>(cols) <= kStagedMaxBytes;
    });
  }
  const int rows_per_block = (staged ? kStagedWarps : kRowsPerBlock) / split;
  int blocks = 0;
  const OutSet set = MakeOutSet(outs, n_outs, rows_per_block, &blocks);
  const dim3 grid(blocks);
  bool transform_unsupported = false;
  const bool known = DispatchType(wtype, [&](auto codec) {
    using C = decltype(codec);
    if (!chunked) {
      if (tf.any()) {
        transform_unsupported = true;
        return;
      }
      MatVecElemKernel<C><<<grid, kThreads, 0, stream>>>(set, cols, x, n_tokens);
      return;
    }
    if (staged) {
      MatVecStagedKernel<C><<<grid, 32 * kStagedWarps, StagedBytes<C>(cols), stream>>>(
          set, cols, x, tf.up, tf.rms_weight, tf.rms_eps, split);
      return;
    }
    const size_t stride = PermutedStride(cols, C::kElems);
    if (tf.rms_weight != nullptr) {
      PermuteRmsKernel<C><<<n_tokens, 256, 0, stream>>>(outs[0].w, cols, x, tf.rms_weight,
                                                        tf.rms_eps, stride, scratch);
    } else {
      const size_t work = static_cast<size_t>(n_tokens) * (cols / C::kElems);
      PermuteActKernel<C><<<static_cast<unsigned>((work + 255) / 256), 256, 0, stream>>>(
          outs[0].w, cols, x, tf.up, n_tokens, stride, scratch);
    }
    if (n_tokens == 1) {
      MatVecKernel<C, 1>
          <<<grid, kThreads, 0, stream>>>(set, cols, scratch, stride, n_tokens, split);
    } else if (n_tokens == 2) {
      MatVecKernel<C, 2>
          <<<grid, kThreads, 0, stream>>>(set, cols, scratch, stride, n_tokens, split);
    } else if (n_tokens <= 4) {
      MatVecKernel<C, 4>
          <<<grid, kThreads, 0, stream>>>(set, cols, scratch, stride, n_tokens, split);
    } else {
      MatVecKernel<C, 8>
          <<<grid, kThreads, 0, stream>>>(set, cols, scratch, stride, n_tokens, split);
    }
  });
  if (!known) return absl::UnimplementedError("CUDA MatVec: unsupported weight type");
  if (transform_unsupported) {
    return absl::InternalError("CUDA MatVec: an input transform needs the chunked kernels");
  }
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

}  // namespace trueno::cuda::internal
