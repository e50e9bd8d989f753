// Pieces shared by the matvec kernels (matvec.cu: float activations; matvec_q8.cu: 8-bit
// activations and dp4a): the outputs of one launch, which row a warp serves, the warp reduction
// and the epilogue (bias, residual accumulate).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "matmul_internal.h"

namespace trueno::cuda::internal {
namespace {

constexpr int kRowsPerBlock = 4;  // warps per block
constexpr int kThreads = 32 * kRowsPerBlock;

// The outputs of one launch, by value in the kernel's parameters. Blocks [end[i-1], end[i]) serve
// output i.
struct OutSet {
  const uint8_t* w[kMaxMatVecOuts];
  size_t row_bytes[kMaxMatVecOuts];
  int rows[kMaxMatVecOuts];
  float* y[kMaxMatVecOuts];
  const float* bias[kMaxMatVecOuts];
  int accumulate[kMaxMatVecOuts];
  int block_end[kMaxMatVecOuts];
  int count;
};

// This block's output and the row its warp serves.
struct Target {
  const uint8_t* row;
  int rows, r;
  float* y;
  const float* bias;
  bool accumulate;
};

// rows_per_block rows per block, `row` the block-local row of the calling warp.
__device__ __forceinline__ Target Locate(const OutSet& o, int row, int rows_per_block) {
  int i = 0, first_block = 0;
#pragma unroll
  for (int k = 0; k + 1 < kMaxMatVecOuts; ++k) {
    if (k + 1 < o.count && static_cast<int>(blockIdx.x) >= o.block_end[k]) {
      i = k + 1;
      first_block = o.block_end[k];
    }
  }
  Target t;
  t.rows = o.rows[i];
  t.r = (static_cast<int>(blockIdx.x) - first_block) * rows_per_block + row;
  t.row = o.w[i] + static_cast<size_t>(t.r) * o.row_bytes[i];
  t.y = o.y[i];
  t.bias = o.bias[i];
  t.accumulate = o.accumulate[i] != 0;
  return t;
}

template <int NT>
__device__ __forceinline__ void WarpReduce(float (&acc)[NT]) {
#pragma unroll
  for (int t = 0; t < NT; ++t) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc[t] += __shfl_xor_sync(0xFFFFFFFFu, acc[t], o);
  }
}

// The epilogue of row tg.r: bias, then the previous contents when accumulating.
template <int NT>
__device__ __forceinline__ void Store(const float (&acc)[NT], int nv, const Target& tg) {
  const float b = tg.bias != nullptr ? tg.bias[tg.r] : 0.0f;
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    if (t < nv) {
      float* p = tg.y + static_cast<size_t>(t) * tg.rows + tg.r;
      const float v = tg.bias != nullptr ? acc[t] + b : acc[t];
      *p = tg.accumulate ? __ldca(p) + v : v;  // coherent load: see pdl.cuh
    }
  }
}

template <int NT>
__device__ __forceinline__ void WarpReduceAndStore(float (&acc)[NT], int lane, int nv,
                                                   const Target& tg) {
  WarpReduce(acc);
  if (lane == 0) Store(acc, nv, tg);
}

// True when p (possibly null) is a multiple of `a` bytes (a power of two).
inline bool Aligned(const void* p, uintptr_t a) {
  return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0;
}

// The input transforms, four elements at a time, with the float operations of SiluMulKernel and
// RmsNormKernel so that the fused paths compute what the separate kernels would.
__device__ __forceinline__ float4 SiluMul4(float4 v, float4 u) {
  v.x = v.x / (1.0f + expf(-v.x)) * u.x;
  v.y = v.y / (1.0f + expf(-v.y)) * u.y;
  v.z = v.z / (1.0f + expf(-v.z)) * u.z;
  v.w = v.w / (1.0f + expf(-v.w)) * u.w;
  return v;
}
__device__ __forceinline__ float4 RmsScale4(float4 v, float inv_rms, float4 g) {
  v.x = v.x * inv_rms * g.x;
  v.y = v.y * inv_rms * g.y;
  v.z = v.z * inv_rms * g.z;
  v.w = v.w * inv_rms * g.w;
  return v;
}

// The end of a row split over `split` warps of a block (split 1: the warp's lane 0 stores): the
// warps' reduced sums meet in `partial` (kRowsPerBlock x NT floats) and the row's first warp
// stores. Called by every thread of the block (it synchronizes when split > 1).
template <int NT>
__device__ __forceinline__ void FinishRow(float (&acc)[NT], float (*partial)[NT], int warp,
                                          int lane, int part, int split, bool active, int nv,
                                          const Target& tg) {
  if (split == 1) {
    if (active && lane == 0) Store(acc, nv, tg);
    return;
  }
  if (lane == 0) {
#pragma unroll
    for (int t = 0; t < NT; ++t) partial[warp][t] = acc[t];
  }
  __syncthreads();
  if (active && part == 0 && lane == 0) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      float v = partial[warp][t];
      for (int k = 1; k < split; ++k) v += partial[warp + k][t];
      acc[t] = v;
    }
    Store(acc, nv, tg);
  }
}

// The launch's OutSet for `rows_per_block` rows per block; *blocks gets the grid size.
inline OutSet MakeOutSet(const MatVecOut* outs, int n_outs, int rows_per_block, int* blocks) {
  OutSet set{};
  set.count = n_outs;
  *blocks = 0;
  for (int i = 0; i < n_outs; ++i) {
    set.w[i] = outs[i].w;
    set.row_bytes[i] = outs[i].row_bytes;
    set.rows[i] = outs[i].rows;
    set.y[i] = outs[i].y;
    set.bias[i] = outs[i].bias;
    set.accumulate[i] = outs[i].accumulate ? 1 : 0;
    *blocks += (outs[i].rows + rows_per_block - 1) / rows_per_block;
    set.block_end[i] = *blocks;
  }
  return set;
}

}  // namespace
}  // namespace trueno::cuda::internal
