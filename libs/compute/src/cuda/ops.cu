// Element-wise CUDA kernels of a transformer layer: RMSNorm, residual / bias add, SwiGLU, RoPE,
// and the KV-pool store. All memory-bound: bytes moved are the inputs read once and the output
// written once; none of them does more than a few FLOPs per byte.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <string>

#include "context_impl.h"
#include "cuda_check.h"
#include "pdl.cuh"
#include "trueno/cuda_ops.h"

namespace trueno::cuda {
namespace {

using internal::LaunchPdl;
using internal::PdlLaunchDependents;
using internal::PdlWait;

constexpr int kThreads = 256;

int Blocks(int64_t n, int per_block = kThreads) {
  int64_t b = (n + per_block - 1) / per_block;
  return static_cast<int>(b < 65535 * 64 ? b : 65535 * 64);
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One block per row; float4 loads when n is a multiple of 4 (the usual case).
__global__ void RmsNormKernel(const float* __restrict__ x, const float* __restrict__ w, int n,
                              float eps, float* out) {
  const float* xr = x + static_cast<size_t>(blockIdx.x) * n;
  float* yr = out + static_cast<size_t>(blockIdx.x) * n;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
  __shared__ float part[32];
  ss = WarpSum(ss);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0.0f;
    v = WarpSum(v);
    if (threadIdx.x == 0) part[0] = v;
  }
  __syncthreads();
  const float inv = rsqrtf(part[0] / static_cast<float>(n) + eps);
  for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] = xr[i] * inv * w[i];
}

__global__ void AddKernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = a[i] + b[i];
  }
}

__global__ void AddBiasKernel(float* x, const float* __restrict__ bias, int64_t total, int n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    x[i] += bias[i % n];
  }
}

__global__ void SiluMulKernel(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

// Rotates pair i of one head vector v. The angle is computed in double like the CPU reference:
// positions reach tens of thousands and theta^(-2i/n) spans many decades, where float angles
// drift. Reports the pair's element indices.
__device__ __forceinline__ void RotatePair(float* v, int i, int half, int n_rot, int neox,
                                           float theta, float freq_scale, int pos, int* i0_out,
                                           int* i1_out) {
  const double angle =
      static_cast<double>(pos) * freq_scale * pow(static_cast<double>(theta), -2.0 * i / n_rot);
  double s, c;
  sincos(angle, &s, &c);
  const int i0 = neox ? i : 2 * i;
  const int i1 = neox ? i + half : 2 * i + 1;
  const double a = v[i0], b = v[i1];
  v[i0] = static_cast<float>(a * c - b * s);
  v[i1] = static_cast<float>(a * s + b * c);
  *i0_out = i0;
  *i1_out = i1;
}

// One thread per rotated pair.
__global__ void RopeKernel(float* x, int rows, int n_heads, int head_dim, int n_rot, int neox,
                           float theta, float freq_scale, const int32_t* __restrict__ positions) {
  const int half = n_rot / 2;
  const int64_t total = static_cast<int64_t>(rows) * n_heads * half;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int i = static_cast<int>(idx % half);
    const int64_t rh = idx / half;  // row * n_heads + head
    const int r = static_cast<int>(rh / n_heads);
    int i0, i1;
    RotatePair(x + rh * head_dim, i, half, n_rot, neox, theta, freq_scale, positions[r], &i0, &i1);
  }
}

template <typename T>
__device__ __forceinline__ T FromFloat(float f);
template <>
__device__ __forceinline__ float FromFloat<float>(float f) {
  return f;
}
template <>
__device__ __forceinline__ __half FromFloat<__half>(float f) {
  return __float2half_rn(f);
}

// One thread per element of the rows x kv_dim K and V.
template <typename T>
__global__ void KvStoreKernel(T* kpool, T* vpool, const float* __restrict__ k,
                              const float* __restrict__ v, int rows, int kv_dim, int block_size,
                              const int32_t* __restrict__ tables, int max_blocks,
                              const int32_t* __restrict__ row_table,
                              const int32_t* __restrict__ positions) {
  const int64_t total = static_cast<int64_t>(rows) * kv_dim;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int r = static_cast<int>(idx / kv_dim), d = static_cast<int>(idx % kv_dim);
    const int pos = positions[r];
    const int block = tables[static_cast<int64_t>(row_table[r]) * max_blocks + pos / block_size];
    const int64_t off = (static_cast<int64_t>(block) * block_size + pos % block_size) * kv_dim + d;
    kpool[off] = FromFloat<T>(k[idx]);
    vpool[off] = FromFloat<T>(v[idx]);
  }
}

// RoPE of q and k and the store of K and V, one launch. Threads [0, rows * n_heads * half) rotate
// q pairs as RopeKernel does; the rest serve (row, KV head, slot j < head_dim / 2): slot j < half
// rotates k's pair j, a later slot takes a pair of dimensions past n_rot unrotated, and both
// store their two K elements (rotated) and the same two V elements into the pool, as
// KvStoreKernel does.
template <typename T>
__global__ void RopeKvStoreKernel(float* q, float* k, const float* v, T* kpool, T* vpool, int rows,
                                  int n_heads, int n_kv_heads, int head_dim, int n_rot, int neox,
                                  float theta, float freq_scale, int block_size,
                                  const int32_t* __restrict__ tables, int max_blocks,
                                  const int32_t* __restrict__ row_table,
                                  const int32_t* __restrict__ positions) {
  PdlLaunchDependents();
  PdlWait();
  const int half = n_rot / 2, slots = head_dim / 2;
  const int64_t q_work = static_cast<int64_t>(rows) * n_heads * half;
  const int64_t total = q_work + static_cast<int64_t>(rows) * n_kv_heads * slots;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    int i0, i1;
    if (idx < q_work) {
      const int i = static_cast<int>(idx % half);
      const int64_t rh = idx / half;
      const int r = static_cast<int>(rh / n_heads);
      RotatePair(q + rh * head_dim, i, half, n_rot, neox, theta, freq_scale, positions[r], &i0,
                 &i1);
      continue;
    }
    const int64_t kidx = idx - q_work;
    const int j = static_cast<int>(kidx % slots);
    const int64_t rh = kidx / slots;  // row * n_kv_heads + kv head
    const int r = static_cast<int>(rh / n_kv_heads);
    const int pos = positions[r];
    float* kr = k + rh * head_dim;
    if (j < half) {
      RotatePair(kr, j, half, n_rot, neox, theta, freq_scale, pos, &i0, &i1);
    } else {
      i0 = n_rot + 2 * (j - half);
      i1 = i0 + 1;
    }
    const int kv_dim = n_kv_heads * head_dim;
    const int block = tables[static_cast<int64_t>(row_table[r]) * max_blocks + pos / block_size];
    const int64_t base = (static_cast<int64_t>(block) * block_size + pos % block_size) * kv_dim +
                         (rh % n_kv_heads) * head_dim;
    const float* vr = v + rh * head_dim;
    kpool[base + i0] = FromFloat<T>(kr[i0]);
    kpool[base + i1] = FromFloat<T>(kr[i1]);
    vpool[base + i0] = FromFloat<T>(vr[i0]);
    vpool[base + i1] = FromFloat<T>(vr[i1]);
  }
}

absl::Status Bad(const std::string& what) { return absl::InvalidArgumentError(what); }

}  // namespace

absl::Status RmsNorm(Context& ctx, const float* x, const float* weight, int rows, int n, float eps,
                     float* out) {
  if (rows < 0 || n <= 0) return Bad("cuda::RmsNorm: rows must be >= 0 and n > 0");
  if (rows == 0) return absl::OkStatus();
  const int threads = n >= 1024 ? 1024 : (n >= 256 ? 256 : 128);
  RmsNormKernel<<<rows, threads, 0, ctx.impl().stream>>>(x, weight, n, eps, out);
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

absl::Status Add(Context& ctx, const float* a, const float* b, float* out, int64_t n) {
  if (n < 0) return Bad("cuda::Add: negative length");
  if (n == 0) return absl::OkStatus();
  AddKernel<<<Blocks(n), kThreads, 0, ctx.impl().stream>>>(a, b, out, n);
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

absl::Status AddBias(Context& ctx, float* x, const float* bias, int rows, int n) {
  if (rows < 0 || n <= 0) return Bad("cuda::AddBias: rows must be >= 0 and n > 0");
  const int64_t total = static_cast<int64_t>(rows) * n;
  if (total == 0) return absl::OkStatus();
  AddBiasKernel<<<Blocks(total), kThreads, 0, ctx.impl().stream>>>(x, bias, total, n);
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

absl::Status SiluMul(Context& ctx, const float* gate, const float* up, float* out, int64_t n) {
  if (n < 0) return Bad("cuda::SiluMul: negative length");
  if (n == 0) return absl::OkStatus();
  SiluMulKernel<<<Blocks(n), kThreads, 0, ctx.impl().stream>>>(gate, up, out, n);
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

absl::Status Rope(Context& ctx, float* x, int rows, int n_heads, int head_dim,
                  const int32_t* positions, const RopeConfig& params) {
  const int n_rot = params.n_rot > 0 ? params.n_rot : head_dim;
  if (rows < 0 || n_heads <= 0 || head_dim <= 0 || n_rot > head_dim || n_rot % 2 != 0) {
    return Bad("cuda::Rope: need rows >= 0, n_heads > 0, an even n_rot <= head_dim");
  }
  const int64_t total = static_cast<int64_t>(rows) * n_heads * (n_rot / 2);
  if (total == 0) return absl::OkStatus();
  RopeKernel<<<Blocks(total), kThreads, 0, ctx.impl().stream>>>(x, rows, n_heads, head_dim, n_rot,
                                                                params.neox ? 1 : 0, params.theta,
                                                                params.freq_scale, positions);
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

absl::Status KvStore(Context& ctx, const PagedKvLayer& layer, const float* k, const float* v,
                     int rows, const RowMap& map) {
  const int kv_dim = layer.n_kv_heads * layer.head_dim;
  if (rows < 0 || kv_dim <= 0 || layer.block_size <= 0 || map.max_blocks <= 0) {
    return Bad("cuda::KvStore: bad layer geometry or block-table width");
  }
  const int64_t total = static_cast<int64_t>(rows) * kv_dim;
  if (total == 0) return absl::OkStatus();
  cudaStream_t s = ctx.impl().stream;
  if (layer.type == DType::kF16) {
    KvStoreKernel<__half><<<Blocks(total), kThreads, 0, s>>>(
        static_cast<__half*>(layer.k), static_cast<__half*>(layer.v), k, v, rows, kv_dim,
        layer.block_size, map.block_tables, map.max_blocks, map.row_table, map.positions);
  } else if (layer.type == DType::kF32) {
    KvStoreKernel<float><<<Blocks(total), kThreads, 0, s>>>(
        static_cast<float*>(layer.k), static_cast<float*>(layer.v), k, v, rows, kv_dim,
        layer.block_size, map.block_tables, map.max_blocks, map.row_table, map.positions);
  } else {
    return absl::UnimplementedError("cuda::KvStore: KV pool type must be f32 or f16");
  }
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

absl::Status RopeKvStore(Context& ctx, const PagedKvLayer& layer, float* q, float* k,
                         const float* v, int rows, int n_heads, const RowMap& map,
                         const RopeConfig& params) {
  const int hd = layer.head_dim;
  const int n_rot = params.n_rot > 0 ? params.n_rot : hd;
  if (rows < 0 || n_heads <= 0 || layer.n_kv_heads <= 0 || hd <= 0 || n_rot > hd ||
      n_rot % 2 != 0 || layer.block_size <= 0 || map.max_blocks <= 0) {
    return Bad(
        "cuda::RopeKvStore: need rows >= 0, heads > 0, an even n_rot <= head_dim and a "
        "valid pool geometry");
  }
  if (rows == 0) return absl::OkStatus();
  if (hd % 2 != 0) {  // the pair-per-thread store needs an even head_dim
    const absl::Status sq = Rope(ctx, q, rows, n_heads, hd, map.positions, params);
    if (!sq.ok()) return sq;
    const absl::Status sk = Rope(ctx, k, rows, layer.n_kv_heads, hd, map.positions, params);
    if (!sk.ok()) return sk;
    return KvStore(ctx, layer, k, v, rows, map);
  }
  const int64_t total =
      static_cast<int64_t>(rows) * (static_cast<int64_t>(n_heads) * (n_rot / 2) +
                                    static_cast<int64_t>(layer.n_kv_heads) * (hd / 2));
  cudaStream_t s = ctx.impl().stream;
  const int neox = params.neox ? 1 : 0;
  if (layer.type == DType::kF16) {
    TRUENO_CUDA_RETURN_IF_ERROR(LaunchPdl(
        RopeKvStoreKernel<__half>, dim3(Blocks(total)), dim3(kThreads), 0, s, q, k, v,
        static_cast<__half*>(layer.k), static_cast<__half*>(layer.v), rows, n_heads,
        layer.n_kv_heads, hd, n_rot, neox, params.theta, params.freq_scale, layer.block_size,
        map.block_tables, map.max_blocks, map.row_table, map.positions));
  } else if (layer.type == DType::kF32) {
    TRUENO_CUDA_RETURN_IF_ERROR(LaunchPdl(
        RopeKvStoreKernel<float>, dim3(Blocks(total)), dim3(kThreads), 0, s, q, k, v,
        static_cast<float*>(layer.k), static_cast<float*>(layer.v), rows, n_heads, layer.n_kv_heads,
        hd, n_rot, neox, params.theta, params.freq_scale, layer.block_size, map.block_tables,
        map.max_blocks, map.row_table, map.positions));
  } else {
    return absl::UnimplementedError("cuda::RopeKvStore: KV pool type must be f32 or f16");
  }
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

absl::Status UploadAsync(Context& ctx, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  TRUENO_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx.impl().stream));
  return absl::OkStatus();
}

absl::StatusOr<double> MeasureCopyBandwidth(int device, size_t bytes, int reps) {
  TRUENO_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  absl::StatusOr<DeviceBuffer> a = DeviceBuffer::Allocate(bytes, "bandwidth test source");
  if (!a.ok()) return a.status();
  absl::StatusOr<DeviceBuffer> b = DeviceBuffer::Allocate(bytes, "bandwidth test destination");
  if (!b.ok()) return b.status();
  TRUENO_CUDA_RETURN_IF_ERROR(cudaMemset(a->data(), 1, bytes));  // never time untouched memory
  cudaEvent_t start = nullptr, stop = nullptr;
  TRUENO_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  TRUENO_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  float best_ms = 0;
  cudaError_t err = cudaSuccess;
  for (int r = 0; r <= reps && err == cudaSuccess; ++r) {  // r == 0 warms up
    err = cudaEventRecord(start);
    if (err == cudaSuccess) err = cudaMemcpy(b->data(), a->data(), bytes, cudaMemcpyDeviceToDevice);
    if (err == cudaSuccess) err = cudaEventRecord(stop);
    if (err == cudaSuccess) err = cudaEventSynchronize(stop);
    float ms = 0;
    if (err == cudaSuccess) err = cudaEventElapsedTime(&ms, start, stop);
    if (r > 0 && (best_ms == 0 || ms < best_ms)) best_ms = ms;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  TRUENO_CUDA_RETURN_IF_ERROR(err);
  return best_ms > 0 ? 2.0 * static_cast<double>(bytes) / (best_ms * 1e-3) : 0.0;
}

}  // namespace trueno::cuda
