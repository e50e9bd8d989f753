// Attention over the paged KV pool.
//
// Decode (AttentionDecode): one block per (row, KV head, chunk of 16 positions). The block's four
// warps walk the chunk's positions; every key/value row is read once for the whole group of
// query heads sharing that KV head (GQA), each warp keeps an online softmax per query head, and
// the warps' states are merged in shared memory. Long contexts are split into chunks so that a
// single sequence still fills the GPU; the chunks' (max, sum, unnormalised output) are merged by a
// second kernel. Bytes per row: the row's K and V once (2 * ctx * kv_dim * elem); FLOPs
// 4 * ctx * n_heads * head_dim — memory-bound.
//
// Prefill (AttentionPrefill): flash-attention style. One block per (tile of 16 query rows, query
// head): it streams 32-position key/value tiles of the causal prefix through shared memory with an
// online softmax, so the rows x positions score matrix is never materialised. FP32 CUDA cores.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
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

constexpr int kMaxGroup = 8;    // query heads per KV head handled by one decode block
constexpr int kMaxPerLane = 8;  // head_dim <= 256 in the decode kernel
constexpr int kDecodeWarps = 4;
constexpr int kQTile = 16;  // prefill query rows per block
constexpr int kKTile = 32;  // prefill key positions per tile
constexpr int kPrefillThreads = 128;
constexpr int kMaxOutPerThread = 32;  // head_dim / 8 in the prefill kernel
constexpr int kMaxHeadDim = 256;
constexpr int kScratchSlot = 3;   // Context scratch slot of the split-decode partials
constexpr int kDecodeChunk = 16;  // positions per decode block (4 per warp)
constexpr int kMaxSplits = 1024;
constexpr size_t kMaxPartialBytes = size_t{256} << 20;

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// grid (n_kv_heads, rows, splits); block kDecodeWarps * 32 threads.
// Shared memory: q of the group (group * head_dim floats) then the warps' states.
template <typename T>
__global__ void DecodeKernel(const T* kpool, const T* vpool, const float* q, int n_heads,
                             int n_kv_heads, int head_dim, int block_size, float scale,
                             const int32_t* __restrict__ tables, int max_blocks,
                             const int32_t* __restrict__ row_table,
                             const int32_t* __restrict__ positions, int chunk,
                             float* __restrict__ out, float* __restrict__ partial) {
  extern __shared__ float smem[];
  PdlLaunchDependents();
  PdlWait();
  const int kvh = blockIdx.x, r = blockIdx.y, split = blockIdx.z;
  const int splits = gridDim.z;
  const int group = n_heads / n_kv_heads;
  const int kv_dim = n_kv_heads * head_dim;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float* sq = smem;                         // [group][head_dim]
  float* sm = sq + group * head_dim;        // [warps][group]
  float* sl = sm + kDecodeWarps * group;    // [warps][group]
  float* sacc = sl + kDecodeWarps * group;  // [warps][group][head_dim]

  const int n_ctx = positions[r] + 1;
  const int begin = split * chunk;
  const int end = min(n_ctx, begin + chunk);
  if (begin >= end) {
    // A chunk past this row's context (max_position bounds every row, so a captured graph can
    // serve any position): mark it empty for the merge and leave.
    if (splits > 1 && threadIdx.x < group) {
      partial[((static_cast<int64_t>(r) * n_heads + kvh * group + threadIdx.x) * splits + split) *
                  (head_dim + 2) +
              head_dim] = -INFINITY;
    }
    return;
  }
  const float* qr = q + (static_cast<int64_t>(r) * n_heads + kvh * group) * head_dim;
  for (int i = threadIdx.x; i < group * head_dim; i += blockDim.x) sq[i] = qr[i] * scale;
  __syncthreads();
  const int32_t* table = tables + static_cast<int64_t>(row_table[r]) * max_blocks;

  float m[kMaxGroup], l[kMaxGroup], acc[kMaxGroup][kMaxPerLane];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) acc[g][j] = 0.0f;
  }
  for (int p = begin + warp; p < end; p += kDecodeWarps) {
    const int64_t row =
        (static_cast<int64_t>(table[p / block_size]) * block_size + p % block_size) * kv_dim +
        static_cast<int64_t>(kvh) * head_dim;
    // K and V of the position are requested together: the loop is latency-bound (a chunk has few
    // positions per warp), so one memory round trip per position instead of two.
    float kv[kMaxPerLane], vv[kMaxPerLane];
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) {
      const int d = lane + 32 * j;
      kv[j] = d < head_dim ? ToFloat(kpool[row + d]) : 0.0f;
      vv[j] = d < head_dim ? ToFloat(vpool[row + d]) : 0.0f;
    }
    float pw[kMaxGroup];
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g) {
      if (g >= group) break;
      float s = 0.0f;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) {
        const int d = lane + 32 * j;
        if (d < head_dim) s += sq[g * head_dim + d] * kv[j];
      }
      s = WarpSum(s);
      const float m_new = fmaxf(m[g], s);
      const float alpha = __expf(m[g] - m_new);
      pw[g] = __expf(s - m_new);
      l[g] = l[g] * alpha + pw[g];
      m[g] = m_new;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) acc[g][j] *= alpha;
    }
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g) {
      if (g >= group) break;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) acc[g][j] += pw[g] * vv[j];
    }
  }
  // Merge the warps' states.
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    if (g >= group) break;
    if (lane == 0) {
      sm[warp * group + g] = m[g];
      sl[warp * group + g] = l[g];
    }
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) {
      const int d = lane + 32 * j;
      if (d < head_dim) sacc[(warp * group + g) * head_dim + d] = acc[g][j];
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < group * head_dim; i += blockDim.x) {
    const int g = i / head_dim, d = i % head_dim;
    float mx = -INFINITY;
    for (int w = 0; w < kDecodeWarps; ++w) mx = fmaxf(mx, sm[w * group + g]);
    float lsum = 0.0f, o = 0.0f;
    if (mx != -INFINITY) {
      for (int w = 0; w < kDecodeWarps; ++w) {
        const float f = __expf(sm[w * group + g] - mx);
        lsum += sl[w * group + g] * f;
        o += sacc[(w * group + g) * head_dim + d] * f;
      }
    }
    const int head = kvh * group + g;
    if (splits == 1) {
      out[(static_cast<int64_t>(r) * n_heads + head) * head_dim + d] = o / lsum;
    } else {
      // partial layout: [rows][n_heads][splits][head_dim + 2]
      float* pp =
          partial + ((static_cast<int64_t>(r) * n_heads + head) * splits + split) * (head_dim + 2);
      pp[d] = o;
      if (d == 0) {
        pp[head_dim] = mx;
        pp[head_dim + 1] = lsum;
      }
    }
  }
}

// grid rows * n_heads; block head_dim threads (rounded up to a warp). Only the chunks inside the
// row's context hold partials (the grid is sized for the longest context a graph may see).
__global__ void CombineKernel(const float* partial, int splits, int head_dim, int n_heads,
                              int chunk, const int32_t* __restrict__ positions,
                              float* __restrict__ out) {
  PdlLaunchDependents();
  PdlWait();
  const int64_t rh = blockIdx.x;
  const float* pp = partial + rh * splits * (head_dim + 2);
  const int d = threadIdx.x;
  if (d >= head_dim) return;
  const int used = min(splits, (positions[rh / n_heads] + chunk) / chunk);
  float mx = -INFINITY;
  for (int s = 0; s < used; ++s) mx = fmaxf(mx, pp[s * (head_dim + 2) + head_dim]);
  float lsum = 0.0f, o = 0.0f;
  for (int s = 0; s < used; ++s) {
    const float* ps = pp + s * (head_dim + 2);
    if (ps[head_dim] == -INFINITY) continue;
    const float f = __expf(ps[head_dim] - mx);
    lsum += ps[head_dim + 1] * f;
    o += ps[d] * f;
  }
  out[rh * head_dim + d] = o / lsum;
}

// One key tile of the prefill kernels' online softmax, for the 8 threads of a query row: masks
// the thread's raw scores s (columns sub + 8j of the tile starting at k0; causal, and rows past
// `rows`), writes the row's P values into p_row, updates the running max m and sum l and returns
// the factor the previous output must be scaled by.
__device__ __forceinline__ float SoftmaxTile(float (&s)[kKTile / 8], int sub, int k0, bool row_ok,
                                             int my_pos, float* p_row, float& m, float& l) {
  float tile_max = -INFINITY;
#pragma unroll
  for (int j = 0; j < kKTile / 8; ++j) {
    s[j] = row_ok && k0 + sub + 8 * j <= my_pos ? s[j] : -INFINITY;
    tile_max = fmaxf(tile_max, s[j]);
  }
  for (int off = 1; off < 8; off <<= 1) {
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, off));
  }
  const float m_new = fmaxf(m, tile_max);
  float psum = 0.0f;
#pragma unroll
  for (int j = 0; j < kKTile / 8; ++j) {
    const float pj = m_new == -INFINITY ? 0.0f : __expf(s[j] - m_new);
    p_row[sub + 8 * j] = pj;
    psum += pj;
  }
  for (int off = 1; off < 8; off <<= 1) psum += __shfl_xor_sync(0xffffffffu, psum, off);
  const float alpha = m_new == -INFINITY ? 1.0f : __expf(m - m_new);
  l = l * alpha + psum;
  m = m_new;
  __syncwarp();  // the row's 8 threads share a warp: their P values are visible after this
  return alpha;
}

// grid (ceil(rows / kQTile), n_heads); block kPrefillThreads. Thread t serves query row
// t / 8 of the tile and, within it, score columns / output dims congruent to t % 8.
template <typename T>
__global__ void PrefillKernel(const T* __restrict__ kpool, const T* __restrict__ vpool,
                              const float* __restrict__ q, int rows, int n_heads, int n_kv_heads,
                              int head_dim, int block_size, float scale,
                              const int32_t* __restrict__ table, int start_pos,
                              float* __restrict__ out) {
  extern __shared__ float smem[];
  const int hd = head_dim, kstride = hd + 1;
  float* sq = smem;                   // [kQTile][hd]
  float* sk = sq + kQTile * hd;       // [kKTile][hd + 1]
  float* sv = sk + kKTile * kstride;  // [kKTile][hd]
  float* sp = sv + kKTile * hd;       // [kQTile][kKTile + 1]
  const int head = blockIdx.y, kvh = head / (n_heads / n_kv_heads);
  const int kv_dim = n_kv_heads * hd;
  const int row0 = blockIdx.x * kQTile;
  const int tr = threadIdx.x >> 3, sub = threadIdx.x & 7;
  const int my_row = row0 + tr;
  const int my_pos = start_pos + my_row;

  for (int i = threadIdx.x; i < kQTile * hd; i += blockDim.x) {
    const int rr = row0 + i / hd;
    sq[i] = rr < rows ? q[(static_cast<int64_t>(rr) * n_heads + head) * hd + i % hd] * scale : 0.0f;
  }
  float o[kMaxOutPerThread];
#pragma unroll
  for (int j = 0; j < kMaxOutPerThread; ++j) o[j] = 0.0f;
  float m = -INFINITY, l = 0.0f;

  const int last_pos = start_pos + min(rows, row0 + kQTile) - 1;  // causal limit of the tile
  for (int k0 = 0; k0 <= last_pos; k0 += kKTile) {
    __syncthreads();  // previous tile fully consumed (and sq written on the first pass)
    for (int i = threadIdx.x; i < kKTile * hd; i += blockDim.x) {
      const int c = i / hd, d = i % hd, p = k0 + c;
      float kval = 0.0f, vval = 0.0f;
      if (p <= last_pos) {
        const int64_t off =
            (static_cast<int64_t>(table[p / block_size]) * block_size + p % block_size) * kv_dim +
            static_cast<int64_t>(kvh) * hd + d;
        kval = ToFloat(kpool[off]);
        vval = ToFloat(vpool[off]);
      }
      sk[c * kstride + d] = kval;
      sv[c * hd + d] = vval;
    }
    __syncthreads();
    // Scores of my row for columns sub, sub + 8, sub + 16, sub + 24.
    float s[kKTile / 8];
#pragma unroll
    for (int j = 0; j < kKTile / 8; ++j) {
      const int c = sub + 8 * j;
      float dot = 0.0f;
      for (int d = 0; d < hd; ++d) dot += sq[tr * hd + d] * sk[c * kstride + d];
      s[j] = dot;
    }
    const float alpha =
        SoftmaxTile(s, sub, k0, my_row < rows, my_pos, sp + tr * (kKTile + 1), m, l);
#pragma unroll
    for (int j = 0; j < kMaxOutPerThread; ++j) {
      const int d = sub + 8 * j;
      if (d < hd) {
        float a = o[j] * alpha;
        for (int c = 0; c < kKTile; ++c) a += sp[tr * (kKTile + 1) + c] * sv[c * hd + d];
        o[j] = a;
      }
    }
  }
  if (my_row < rows) {
    float* orow = out + (static_cast<int64_t>(my_row) * n_heads + head) * hd;
#pragma unroll
    for (int j = 0; j < kMaxOutPerThread; ++j) {
      const int d = sub + 8 * j;
      if (d < hd) orow[d] = o[j] / l;
    }
  }
}

// Four consecutive pool elements as floats (16-byte / 8-byte loads; `p` is 4-element aligned).
__device__ __forceinline__ float4 Load4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ float4 Load4(const __half* p) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&u.x));
  const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&u.y));
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ float Dot4(float4 a, float4 b, float acc) {
  return fmaf(a.w, b.w, fmaf(a.z, b.z, fmaf(a.y, b.y, fmaf(a.x, b.x, acc))));
}

constexpr int kMaxGroups4 = kMaxHeadDim / 32;  // float4 output groups per thread

// PrefillKernel for head_dim % 4 == 0, with 16-byte shared-memory traffic: a thread's score
// loop reads one float4 of its q row for four float4s of keys (16 FMAs per 5 loads instead of 1
// per 2), and its P*V loop one P value for its four float4 groups of V (dims 4 sub + 32 jj + 0..3,
// so the 8 threads of a row read 128 contiguous bytes). K rows are padded to head_dim + 4 floats:
// the 8 key rows a warp reads at once start on 8 different 4-bank groups. Same tiles, mask and
// online softmax as PrefillKernel.
template <typename T>
__global__ void PrefillKernel4(const T* __restrict__ kpool, const T* __restrict__ vpool,
                               const float* __restrict__ q, int rows, int n_heads, int n_kv_heads,
                               int head_dim, int block_size, float scale,
                               const int32_t* __restrict__ table, int start_pos,
                               float* __restrict__ out) {
  extern __shared__ __align__(16) float smem4[];
  const int hd = head_dim, ks = hd + 4, hd4 = hd / 4;
  float* sq = smem4;             // [kQTile][hd]
  float* sk = sq + kQTile * hd;  // [kKTile][hd + 4]
  float* sv = sk + kKTile * ks;  // [kKTile][hd]
  float* sp = sv + kKTile * hd;  // [kQTile][kKTile + 1]
  const int head = blockIdx.y, kvh = head / (n_heads / n_kv_heads);
  const int kv_dim = n_kv_heads * hd;
  const int row0 = blockIdx.x * kQTile;
  const int tr = threadIdx.x >> 3, sub = threadIdx.x & 7;
  const int my_row = row0 + tr;
  const int my_pos = start_pos + my_row;

  for (int i = threadIdx.x; i < kQTile * hd4; i += blockDim.x) {
    const int rr = row0 + i / hd4, d = 4 * (i % hd4);
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (rr < rows) {
      v = *reinterpret_cast<const float4*>(q + (static_cast<int64_t>(rr) * n_heads + head) * hd +
                                           d);
      v = make_float4(v.x * scale, v.y * scale, v.z * scale, v.w * scale);
    }
    *reinterpret_cast<float4*>(sq + 4 * i) = v;
  }
  float4 o[kMaxGroups4];
#pragma unroll
  for (int j = 0; j < kMaxGroups4; ++j) o[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  float m = -INFINITY, l = 0.0f;

  const int last_pos = start_pos + min(rows, row0 + kQTile) - 1;  // causal limit of the tile
  for (int k0 = 0; k0 <= last_pos; k0 += kKTile) {
    __syncthreads();  // previous tile fully consumed (and sq written on the first pass)
    for (int i = threadIdx.x; i < kKTile * hd4; i += blockDim.x) {
      const int c = i / hd4, d = 4 * (i % hd4), p = k0 + c;
      float4 kval = make_float4(0.0f, 0.0f, 0.0f, 0.0f), vval = kval;
      if (p <= last_pos) {
        const int64_t off =
            (static_cast<int64_t>(table[p / block_size]) * block_size + p % block_size) * kv_dim +
            static_cast<int64_t>(kvh) * hd + d;
        kval = Load4(kpool + off);
        vval = Load4(vpool + off);
      }
      *reinterpret_cast<float4*>(sk + c * ks + d) = kval;
      *reinterpret_cast<float4*>(sv + c * hd + d) = vval;
    }
    __syncthreads();
    float s[kKTile / 8] = {};
    const float4* q4 = reinterpret_cast<const float4*>(sq + tr * hd);
    for (int d4 = 0; d4 < hd4; ++d4) {
      const float4 qv = q4[d4];
#pragma unroll
      for (int j = 0; j < kKTile / 8; ++j) {
        s[j] = Dot4(qv, *reinterpret_cast<const float4*>(sk + (sub + 8 * j) * ks + 4 * d4), s[j]);
      }
    }
    const float alpha =
        SoftmaxTile(s, sub, k0, my_row < rows, my_pos, sp + tr * (kKTile + 1), m, l);
#pragma unroll
    for (int j = 0; j < kMaxGroups4; ++j) {
      o[j] = make_float4(o[j].x * alpha, o[j].y * alpha, o[j].z * alpha, o[j].w * alpha);
    }
    for (int c = 0; c < kKTile; ++c) {
      const float pc = sp[tr * (kKTile + 1) + c];
#pragma unroll
      for (int j = 0; j < kMaxGroups4; ++j) {
        const int d = 4 * sub + 32 * j;
        if (d < hd) {
          const float4 vv = *reinterpret_cast<const float4*>(sv + c * hd + d);
          o[j] = make_float4(fmaf(pc, vv.x, o[j].x), fmaf(pc, vv.y, o[j].y), fmaf(pc, vv.z, o[j].z),
                             fmaf(pc, vv.w, o[j].w));
        }
      }
    }
  }
  if (my_row < rows) {
    float* orow = out + (static_cast<int64_t>(my_row) * n_heads + head) * hd;
    const float inv = 1.0f / l;
#pragma unroll
    for (int j = 0; j < kMaxGroups4; ++j) {
      const int d = 4 * sub + 32 * j;
      if (d < hd) {
        *reinterpret_cast<float4*>(orow + d) =
            make_float4(o[j].x * inv, o[j].y * inv, o[j].z * inv, o[j].w * inv);
      }
    }
  }
}

absl::Status CheckLayer(const PagedKvLayer& layer, int n_heads, const char* who) {
  if (layer.n_kv_heads <= 0 || layer.head_dim <= 0 || layer.block_size <= 0 || n_heads <= 0 ||
      n_heads % layer.n_kv_heads != 0) {
    return absl::InvalidArgumentError(std::string(who) +
                                      ": bad geometry (heads must be a positive multiple of "
                                      "kv_heads; head_dim and block_size positive)");
  }
  if (layer.head_dim > kMaxHeadDim) {
    return absl::UnimplementedError(std::string(who) + ": head_dim " +
                                    std::to_string(layer.head_dim) + " exceeds 256");
  }
  if (layer.type != DType::kF32 && layer.type != DType::kF16) {
    return absl::UnimplementedError(std::string(who) + ": KV pool type must be f32 or f16");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AttentionDecode(Context& ctx, const PagedKvLayer& layer, const float* q, int rows,
                             int n_heads, float scale, const RowMap& map, int max_position,
                             float* out) {
  absl::Status st = CheckLayer(layer, n_heads, "cuda::AttentionDecode");
  if (!st.ok()) return st;
  const int group = n_heads / layer.n_kv_heads;
  if (group > kMaxGroup) {
    return absl::UnimplementedError("cuda::AttentionDecode: more than 8 query heads per KV head");
  }
  if (rows < 0 || max_position < 0 || map.max_blocks <= 0) {
    return absl::InvalidArgumentError("cuda::AttentionDecode: bad rows / max_position / table");
  }
  if (rows == 0) return absl::OkStatus();
  Context::Impl& impl = ctx.impl();
  const int n_ctx = max_position + 1;
  // Short chunks (kDecodeChunk positions, a few per warp): the walk over a chunk is a chain of
  // dependent loads, so its length, not the bytes, sets the time. Chunks past a row's context
  // leave at once, so a graph captured for the longest context costs little at short ones. The
  // partials are capped at kMaxPartialBytes (longer chunks for long contexts and big batches).
  const size_t per_split =
      static_cast<size_t>(rows) * n_heads * (layer.head_dim + 2) * sizeof(float);
  const int max_splits = static_cast<int>(
      std::clamp<size_t>(kMaxPartialBytes / per_split, 1, static_cast<size_t>(kMaxSplits)));
  int splits = std::min((n_ctx + kDecodeChunk - 1) / kDecodeChunk, max_splits);
  const int chunk = (n_ctx + splits - 1) / splits;
  splits = (n_ctx + chunk - 1) / chunk;
  float* partial = nullptr;
  if (splits > 1) {
    const size_t bytes =
        static_cast<size_t>(rows) * n_heads * splits * (layer.head_dim + 2) * sizeof(float);
    absl::StatusOr<void*> sp = impl.Scratch(bytes, kScratchSlot);
    if (!sp.ok()) return sp.status();
    partial = static_cast<float*>(*sp);
  }
  const size_t smem = (static_cast<size_t>(group) * layer.head_dim * (1 + kDecodeWarps) +
                       2 * kDecodeWarps * group) *
                      sizeof(float);
  const dim3 grid(layer.n_kv_heads, rows, splits);
  const dim3 block(kDecodeWarps * 32);
  if (layer.type == DType::kF16) {
    TRUENO_CUDA_RETURN_IF_ERROR(LaunchPdl(
        DecodeKernel<__half>, grid, block, smem, impl.stream, static_cast<const __half*>(layer.k),
        static_cast<const __half*>(layer.v), q, n_heads, layer.n_kv_heads, layer.head_dim,
        layer.block_size, scale, map.block_tables, map.max_blocks, map.row_table, map.positions,
        chunk, out, partial));
  } else {
    TRUENO_CUDA_RETURN_IF_ERROR(LaunchPdl(
        DecodeKernel<float>, grid, block, smem, impl.stream, static_cast<const float*>(layer.k),
        static_cast<const float*>(layer.v), q, n_heads, layer.n_kv_heads, layer.head_dim,
        layer.block_size, scale, map.block_tables, map.max_blocks, map.row_table, map.positions,
        chunk, out, partial));
  }
  if (splits > 1) {
    const int threads = (layer.head_dim + 31) / 32 * 32;
    TRUENO_CUDA_RETURN_IF_ERROR(LaunchPdl(CombineKernel, dim3(rows * n_heads), dim3(threads), 0,
                                          impl.stream, partial, splits, layer.head_dim, n_heads,
                                          chunk, map.positions, out));
  }
  return absl::OkStatus();
}

absl::Status AttentionPrefill(Context& ctx, const PagedKvLayer& layer, const float* q, int rows,
                              int n_heads, float scale, const int32_t* block_table, int start_pos,
                              float* out) {
  absl::Status st = CheckLayer(layer, n_heads, "cuda::AttentionPrefill");
  if (!st.ok()) return st;
  if (rows < 0 || start_pos < 0) {
    return absl::InvalidArgumentError("cuda::AttentionPrefill: negative rows or start_pos");
  }
  if (rows == 0) return absl::OkStatus();
  Context::Impl& impl = ctx.impl();
  const int hd = layer.head_dim;
  const dim3 grid((rows + kQTile - 1) / kQTile, n_heads);
  const bool vec = hd % 4 == 0;  // 16-byte rows: PrefillKernel4
  const size_t smem =
      (static_cast<size_t>(kQTile) * hd + static_cast<size_t>(kKTile) * (hd + (vec ? 4 : 1)) +
       static_cast<size_t>(kKTile) * hd + kQTile * (kKTile + 1)) *
      sizeof(float);
  auto launch = [&](auto kernel, const auto* kpool, const auto* vpool) -> absl::Status {
    if (smem > 48 * 1024) {
      TRUENO_CUDA_RETURN_IF_ERROR(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    }
    kernel<<<grid, kPrefillThreads, smem, impl.stream>>>(kpool, vpool, q, rows, n_heads,
                                                         layer.n_kv_heads, hd, layer.block_size,
                                                         scale, block_table, start_pos, out);
    TRUENO_CUDA_CHECK_LAUNCH();
    return absl::OkStatus();
  };
  const auto* kh = static_cast<const __half*>(layer.k);
  const auto* vh = static_cast<const __half*>(layer.v);
  const auto* kf = static_cast<const float*>(layer.k);
  const auto* vf = static_cast<const float*>(layer.v);
  if (layer.type == DType::kF16) {
    if (vec) return launch(PrefillKernel4<__half>, kh, vh);
    return launch(PrefillKernel<__half>, kh, vh);
  }
  if (vec) return launch(PrefillKernel4<float>, kf, vf);
  return launch(PrefillKernel<float>, kf, vf);
}

}  // namespace trueno::cuda
