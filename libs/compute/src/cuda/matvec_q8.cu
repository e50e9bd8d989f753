// Decode and small batches (n_tokens <= 8) for the K types Q4_K and Q6_K with 8-bit activations:
// the input (after its RMSNorm or SwiGLU) is quantized once per call to blocks of 32 (int8 q,
// scale d = max|x| / 127, and d * sum(q) for the Q4_K min term), and the matvec multiplies the
// raw 4/6-bit quants with the int8 activations four at a time (dp4a), converting to float once per
// 8-16 products instead of once per weight. This is what keeps the kernel at the weight stream:
// the float kernels of matvec.cu spend ~5 instructions per weight (see docs/perf-notes.md, GPU §7).
//
// Eight lanes share one 256-element super-block, a warp covers four, for two rows at once (each
// activation load serves both); each lane issues its super-block loads (16-byte for Q4_K,
// 4-byte for Q6_K whose 210-byte blocks are only 2-byte aligned) for two groups of four of both
// rows before it computes either, so every warp has ~2 KB in flight. Rows of many groups are
// split over 2 or 4 warps as in matvec.cu.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cuda_check.h"
#include "dequant.cuh"
#include "matmul_internal.h"
#include "matvec_common.cuh"
#include "pdl.cuh"

namespace trueno::cuda::internal {
namespace {

constexpr int kQ8Block = 32;
constexpr uint32_t kNibbles = 0x0F0F0F0Fu;

// APR_CUDA_Q8=0 turns the path off (A/B runs with one binary); SetMatVecQ8 overrides.
std::atomic<int> g_q8_enabled{-1};

bool Q8Enabled() {
  int v = g_q8_enabled.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* e = std::getenv("APR_CUDA_Q8");
    v = (e != nullptr && std::strcmp(e, "0") == 0) ? 0 : 1;
    g_q8_enabled.store(v, std::memory_order_relaxed);
  }
  return v != 0;
}

float2* Q8Scales(void* scratch, int cols, int n_tokens) {
  return reinterpret_cast<float2*>(static_cast<char*>(scratch) + Q8ScalesOffset(cols, n_tokens));
}

// Grid (ceil(cols / 1024), n_tokens), 256 threads of 4 elements each: 8 threads per block of 32.
// The RMSNorm sum of squares is recomputed by every block of a token (the row is a few KB in L2)
// so that one launch does the whole job.
__global__ void __launch_bounds__(256)
    QuantizeQ8Kernel(const float* __restrict__ x, const float* __restrict__ up,
                     const float* __restrict__ rms_weight, float rms_eps, int cols,
                     int8_t* __restrict__ xq, float2* __restrict__ xs) {
  PdlLaunchDependents();
  PdlWait();
  const int t = blockIdx.y, n4 = cols / 4;
  const float4* x4 = reinterpret_cast<const float4*>(x + static_cast<size_t>(t) * cols);
  float inv_rms = 1.0f;
  if (rms_weight != nullptr) {
    __shared__ float red[8];
    float ss = 0.0f;
    for (int q = threadIdx.x; q < n4; q += blockDim.x) {
      const float4 v = __ldca(x4 + q);
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xFFFFFFFFu, ss, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = ss;
    __syncthreads();
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < 8; ++w) total += red[w];
    inv_rms = rsqrtf(total / static_cast<float>(cols) + rms_eps);
  }
  // cols % 32 == 0, so the 8 threads of a block of 32 are in or out of range together; every
  // thread still takes part in the shuffles.
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  const bool in = q < n4;
  float4 v = in ? __ldca(x4 + q) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  if (in && up != nullptr) {
    v = SiluMul4(v,
                 __ldca(reinterpret_cast<const float4*>(up + static_cast<size_t>(t) * cols) + q));
  } else if (in && rms_weight != nullptr) {
    v = RmsScale4(v, inv_rms, __ldg(reinterpret_cast<const float4*>(rms_weight) + q));
  }
  float amax = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
#pragma unroll
  for (int o = 1; o < 8; o <<= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  const float d = amax / 127.0f;
  const float id = d > 0.0f ? 1.0f / d : 0.0f;
  const int q0 = __float2int_rn(v.x * id), q1 = __float2int_rn(v.y * id);
  const int q2 = __float2int_rn(v.z * id), q3 = __float2int_rn(v.w * id);
  int sum = q0 + q1 + q2 + q3;
#pragma unroll
  for (int o = 1; o < 8; o <<= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
  if (!in) return;
  const uint32_t packed =
      (static_cast<uint32_t>(q0) & 0xFFu) | ((static_cast<uint32_t>(q1) & 0xFFu) << 8) |
      ((static_cast<uint32_t>(q2) & 0xFFu) << 16) | (static_cast<uint32_t>(q3) << 24);
  reinterpret_cast<uint32_t*>(xq + static_cast<size_t>(t) * cols)[q] = packed;
  if ((threadIdx.x & 7) == 0) {
    xs[static_cast<size_t>(t) * (cols / kQ8Block) + q / 8] =
        make_float2(d, d * static_cast<float>(sum));
  }
}

__device__ __forceinline__ int Dp4a(uint32_t a, int b, int c) {
  return __dp4a(static_cast<int>(a), b, c);
}

// Eight bytes from a 2-byte aligned address inside a weight buffer: two or three aligned words
// joined with funnel shifts (the third word, read only when misaligned, never passes the end of
// a Q6_K block for the offsets used below).
__device__ __forceinline__ uint2 Ld64a2(const uint8_t* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uint32_t* w = reinterpret_cast<const uint32_t*>(a & ~static_cast<uintptr_t>(3));
  const uint32_t shift = static_cast<uint32_t>(a & 2u) * 8u;
  const uint32_t w0 = __ldg(w), w1 = __ldg(w + 1);
  const uint32_t w2 = shift != 0 ? __ldg(w + 2) : 0u;
  return make_uint2(__funnelshift_r(w0, w1, shift), __funnelshift_r(w1, w2, shift));
}

// Per-lane work on one super-block: Load the lane's raw bytes, Decode them (per row), then Dot
// the decoded rows with NT tokens' activations (xq: n_tokens x cols int8, xs: n_tokens x cols/32
// {d, d*sum(q)}). Dot loads each activation once for all R rows of the warp: the activation
// loads, not the weight bytes, were what the L1 spent its time on with one row per warp. A row
// whose Raw stayed zero (past the end of the matrix) decodes to scale 0 and adds nothing.
template <DType T>
struct Q8Dot;

// Q4_K (144 bytes: d, dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles). Lane `sub`
// (0..7) takes qs bytes [16 sub, 16 sub + 16): group j = sub / 2 of 64 elements, half h = sub % 2:
// low nibbles are elements 64j + 16h + [0, 16) (sub-block 2j), high nibbles the same + 32
// (sub-block 2j + 1). The min term of a sub-block needs its whole 32-element sum: lane h == 0
// adds it.
template <>
struct Q8Dot<DType::kQ4_K> {
  static constexpr int kBytes = 144;
  struct Raw {
    uint4 hdr, qs;
  };
  struct Dec {
    uint32_t lo[4], hi[4];
    float sc0, sc1, m0, m1;
  };
  __device__ static Raw Load(const uint8_t* blk, int sub) {
    return Raw{Ld128(blk), Ld128(blk + 16 + 16 * sub)};
  }
  __device__ static Dec Decode(const Raw& r, int sub) {
    const int j = sub >> 1, h = sub & 1;
    const uint32_t sh = static_cast<uint32_t>(j & 1) * 16u;
    // Scales/mins of sub-blocks 2j, 2j+1 as byte pairs (the 6-bit packing of ScaleMinK4).
    const uint32_t a = (r.hdr.y >> sh) & 0xFFFFu, bm = (r.hdr.z >> sh) & 0xFFFFu;
    const uint32_t c = (r.hdr.w >> sh) & 0xFFFFu;
    const uint32_t scp = j < 2 ? (a & 0x3F3Fu) : ((c & 0x0F0Fu) | ((a >> 2) & 0x3030u));
    const uint32_t mp = j < 2 ? (bm & 0x3F3Fu) : (((c >> 4) & 0x0F0Fu) | ((bm >> 2) & 0x3030u));
    const float d = HalfBits(static_cast<uint16_t>(r.hdr.x & 0xFFFFu));
    const float dmin = HalfBits(static_cast<uint16_t>(r.hdr.x >> 16));
    Dec w;
    w.sc0 = d * static_cast<float>(scp & 0xFFu);
    w.sc1 = d * static_cast<float>(scp >> 8);
    w.m0 = h == 0 ? dmin * static_cast<float>(mp & 0xFFu) : 0.0f;
    w.m1 = h == 0 ? dmin * static_cast<float>(mp >> 8) : 0.0f;
    const uint32_t q[4] = {r.qs.x, r.qs.y, r.qs.z, r.qs.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w.lo[i] = q[i] & kNibbles;
      w.hi[i] = (q[i] >> 4) & kNibbles;
    }
    return w;
  }
  template <int NT, int R>
  __device__ static void Dot(const Dec (&w)[R], int sub, int b, int nv,
                             const int8_t* __restrict__ xq, const float2* __restrict__ xs, int cols,
                             float (&acc)[R][NT]) {
    const int j = sub >> 1, h = sub & 1;
    const int e0 = 256 * b + 64 * j + 16 * h, s0 = 8 * b + 2 * j;
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      if (t < nv) {
        const int8_t* xt = xq + static_cast<size_t>(t) * cols + e0;
        const int4 xl = __ldca(reinterpret_cast<const int4*>(xt));
        const int4 xh = __ldca(reinterpret_cast<const int4*>(xt + 32));
        // {d, s} of sub-blocks 2j and 2j + 1 in one 16-byte load (s0 is even).
        const float4 f = __ldca(
            reinterpret_cast<const float4*>(xs + static_cast<size_t>(t) * (cols / kQ8Block) + s0));
#pragma unroll
        for (int rr = 0; rr < R; ++rr) {
          int dl = Dp4a(w[rr].lo[0], xl.x, 0);
          dl = Dp4a(w[rr].lo[1], xl.y, dl);
          dl = Dp4a(w[rr].lo[2], xl.z, dl);
          dl = Dp4a(w[rr].lo[3], xl.w, dl);
          int dh = Dp4a(w[rr].hi[0], xh.x, 0);
          dh = Dp4a(w[rr].hi[1], xh.y, dh);
          dh = Dp4a(w[rr].hi[2], xh.z, dh);
          dh = Dp4a(w[rr].hi[3], xh.w, dh);
          acc[rr][t] += w[rr].sc0 * f.x * static_cast<float>(dl) +
                        w[rr].sc1 * f.z * static_cast<float>(dh) -
                        (w[rr].m0 * f.y + w[rr].m1 * f.w);
        }
      }
    }
  }
};

// Q6_K (210 bytes: ql[128], qh[64], int8 scales[16], d). Element 128n + 32g + l (n, g in 0..3,
// l < 32) has its low nibble in ql[64n + 32(g & 1) + l] (high nibble for g >= 2), bits 4-5 in bits
// 2g of qh[32n + l], scale scales[8n + 2g + l / 16]. Lane `sub` takes n = sub / 4 and
// l in [8k, 8k + 8) with k = sub % 4, for all four g: 32 elements, 8 per activation block.
template <>
struct Q8Dot<DType::kQ6_K> {
  static constexpr int kBytes = 210;
  struct Raw {
    uint2 lo, hi, qh, sc;
    uint16_t d;
  };
  struct Dec {
    uint32_t qv[4][2];  // q - 32 as signed bytes, per group g and word (elements +4w .. +4w+3)
    float sc[4];
  };
  __device__ static Raw Load(const uint8_t* blk, int sub) {
    const int n = sub >> 2, k = sub & 3;
    return Raw{Ld64a2(blk + 64 * n + 8 * k), Ld64a2(blk + 64 * n + 32 + 8 * k),
               Ld64a2(blk + 128 + 32 * n + 8 * k), Ld64a2(blk + 192 + 8 * n), Ld16(blk + 208)};
  }
  __device__ static Dec Decode(const Raw& r, int sub) {
    const int k = sub & 3;
    const float d = HalfBits(r.d);
    const uint32_t sb = static_cast<uint32_t>(k >> 1) * 8u;
    Dec w;
    w.sc[0] = d * static_cast<float>(static_cast<int8_t>((r.sc.x >> sb) & 0xFFu));
    w.sc[1] = d * static_cast<float>(static_cast<int8_t>((r.sc.x >> (sb + 16u)) & 0xFFu));
    w.sc[2] = d * static_cast<float>(static_cast<int8_t>((r.sc.y >> sb) & 0xFFu));
    w.sc[3] = d * static_cast<float>(static_cast<int8_t>((r.sc.y >> (sb + 16u)) & 0xFFu));
    const uint32_t lo[2] = {r.lo.x, r.lo.y}, hi[2] = {r.hi.x, r.hi.y}, qh[2] = {r.qh.x, r.qh.y};
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      w.qv[0][i] = __vsub4((lo[i] & kNibbles) | ((qh[i] << 4) & 0x30303030u), 0x20202020u);
      w.qv[1][i] = __vsub4((hi[i] & kNibbles) | ((qh[i] << 2) & 0x30303030u), 0x20202020u);
      w.qv[2][i] = __vsub4(((lo[i] >> 4) & kNibbles) | (qh[i] & 0x30303030u), 0x20202020u);
      w.qv[3][i] = __vsub4(((hi[i] >> 4) & kNibbles) | ((qh[i] >> 2) & 0x30303030u), 0x20202020u);
    }
    return w;
  }
  template <int NT, int R>
  __device__ static void Dot(const Dec (&w)[R], int sub, int b, int nv,
                             const int8_t* __restrict__ xq, const float2* __restrict__ xs, int cols,
                             float (&acc)[R][NT]) {
    const int n = sub >> 2, k = sub & 3;
    const int e0 = 256 * b + 128 * n + 8 * k, s0 = 8 * b + 4 * n;
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      if (t < nv) {
        const int8_t* xt = xq + static_cast<size_t>(t) * cols + e0;
        // {d, s} of the four activation blocks g = 0..3 in two 16-byte loads (s0 % 4 == 0).
        const float4* st =
            reinterpret_cast<const float4*>(xs + static_cast<size_t>(t) * (cols / kQ8Block) + s0);
        const float4 fa = __ldca(st), fb = __ldca(st + 1);
        const float dx[4] = {fa.x, fa.z, fb.x, fb.z};
        int2 xg[4];
#pragma unroll
        for (int g = 0; g < 4; ++g) xg[g] = __ldca(reinterpret_cast<const int2*>(xt + 32 * g));
#pragma unroll
        for (int rr = 0; rr < R; ++rr) {
          float v = 0.0f;
#pragma unroll
          for (int g = 0; g < 4; ++g) {
            const int sum = Dp4a(w[rr].qv[g][1], xg[g].y, Dp4a(w[rr].qv[g][0], xg[g].x, 0));
            v = fmaf(w[rr].sc[g] * dx[g], static_cast<float>(sum), v);
          }
          acc[rr][t] += v;
        }
      }
    }
  }
};

// APR_CUDA_Q8_SPLIT=1|2|4 forces one split for every shape (tuning runs).
inline int Q8SplitFor(int n_groups) {
  static const int forced = [] {
    const char* e = std::getenv("APR_CUDA_Q8_SPLIT");
    const int v = e != nullptr ? std::atoi(e) : 0;
    return v == 1 || v == 2 || v == 4 ? v : 0;
  }();
  if (forced != 0) return forced;
  return n_groups >= 16 ? 4 : (n_groups >= 8 ? 2 : 1);
}

// Rows per warp: the activations a lane loads serve this many rows.
constexpr int kQ8Rows = 2;

template <DType T, int NT>
__global__ void __launch_bounds__(kThreads)
    MatVecQ8Kernel(const OutSet outs, int cols, const int8_t* __restrict__ xq,
                   const float2* __restrict__ xs, int nv, int split) {
  using D = Q8Dot<T>;
  constexpr int R = kQ8Rows;
  __shared__ float partial[kRowsPerBlock][NT];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int part = warp % split, rows_per_block = R * (kRowsPerBlock / split);
  Target tg[R];
  bool on[R];
#pragma unroll
  for (int rr = 0; rr < R; ++rr) {
    tg[rr] = Locate(outs, R * (warp / split) + rr, rows_per_block);
    on[rr] = tg[rr].r < tg[rr].rows;  // whole warps: no shuffle sees a missing lane
  }
  float acc[R][NT];
#pragma unroll
  for (int rr = 0; rr < R; ++rr) {
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[rr][t] = 0.0f;
  }
  const int nb = cols / 256, sub = lane & 7, step = 4 * split;
  bool waited = false;
  if (on[0]) {
    for (int b = 4 * part + (lane >> 3); b < nb; b += 2 * step) {
      const int b1 = b + step;
      typename D::Raw r0[R] = {}, r1[R] = {};
#pragma unroll
      for (int rr = 0; rr < R; ++rr) {
        if (on[rr]) {
          r0[rr] = D::Load(tg[rr].row + static_cast<size_t>(b) * D::kBytes, sub);
          if (b1 < nb) r1[rr] = D::Load(tg[rr].row + static_cast<size_t>(b1) * D::kBytes, sub);
        }
      }
      // The first weights are requested before waiting for the previous kernel (the producer
      // of xq / xs and of the rows accumulated into): weights are never written.
      if (!waited) {
        PdlLaunchDependents();
        PdlWait();
        waited = true;
      }
      typename D::Dec w[R];
#pragma unroll
      for (int rr = 0; rr < R; ++rr) w[rr] = D::Decode(r0[rr], sub);
      D::template Dot<NT, R>(w, sub, b, nv, xq, xs, cols, acc);
      if (b1 < nb) {
#pragma unroll
        for (int rr = 0; rr < R; ++rr) w[rr] = D::Decode(r1[rr], sub);
        D::template Dot<NT, R>(w, sub, b1, nv, xq, xs, cols, acc);
      }
    }
#pragma unroll
    for (int rr = 0; rr < R; ++rr) WarpReduce(acc[rr]);
  }
  if (!waited) {  // lanes past the row's super-blocks, inactive warps
    PdlLaunchDependents();
    PdlWait();
  }
#pragma unroll
  for (int rr = 0; rr < R; ++rr) {
    if (rr > 0 && split > 1) __syncthreads();  // `partial` is reused
    FinishRow<NT>(acc[rr], partial, warp, lane, part, split, on[rr], nv, tg[rr]);
  }
}

template <DType T>
cudaError_t LaunchQ8(const OutSet& set, dim3 grid, int cols, const int8_t* xq, const float2* xs,
                     int n_tokens, int split, cudaStream_t stream) {
  auto* kernel = n_tokens == 1   ? MatVecQ8Kernel<T, 1>
                 : n_tokens == 2 ? MatVecQ8Kernel<T, 2>
                 : n_tokens <= 4 ? MatVecQ8Kernel<T, 4>
                                 : MatVecQ8Kernel<T, 8>;
  return LaunchPdl(kernel, grid, dim3(kThreads), 0, stream, set, cols, xq, xs, n_tokens, split);
}

}  // namespace

void SetMatVecQ8Enabled(bool on) { g_q8_enabled.store(on ? 1 : 0, std::memory_order_relaxed); }

bool MatVecQ8Type(DType wtype, int n_tokens) {
  return (wtype == DType::kQ4_K || wtype == DType::kQ6_K) && n_tokens >= 1 &&
         n_tokens <= kMatVecMaxTokens && Q8Enabled();
}

bool MatVecQ8Enabled() { return Q8Enabled(); }

bool Q8Aligned(DType wtype, const uint8_t* w, int cols, const float* x, const ActTransform& tf) {
  return cols % 256 == 0 && Aligned(x, 16) && Aligned(tf.up, 16) && Aligned(tf.rms_weight, 16) &&
         Aligned(w, wtype == DType::kQ4_K ? 16 : 4);
}

bool MatVecQ8Ok(DType wtype, const uint8_t* w, int cols, int n_tokens, const float* x,
                const ActTransform& tf) {
  return MatVecQ8Type(wtype, n_tokens) && Q8Aligned(wtype, w, cols, x, tf);
}

size_t MatVecQ8ScratchBytes(int cols, int n_tokens) {
  return Q8ScalesOffset(cols, n_tokens) +
         static_cast<size_t>(n_tokens) * (cols / kQ8Block) * sizeof(float2);
}

absl::Status LaunchQuantizeQ8(const float* x, const ActTransform& tf, int cols, int n_tokens,
                              void* scratch, cudaStream_t stream) {
  auto* xq = static_cast<int8_t*>(scratch);
  float2* xs = Q8Scales(scratch, cols, n_tokens);
  const dim3 grid(static_cast<unsigned>((cols / 4 + 255) / 256), static_cast<unsigned>(n_tokens));
  TRUENO_CUDA_RETURN_IF_ERROR(LaunchPdl(QuantizeQ8Kernel, grid, dim3(256), 0, stream, x, tf.up,
                                        tf.rms_weight, tf.rms_eps, cols, xq, xs));
  return absl::OkStatus();
}

absl::Status LaunchMatVecQ8(DType wtype, const MatVecOut* outs, int n_outs, int cols,
                            const void* scratch, int n_tokens, cudaStream_t stream) {
  if (n_outs < 1 || n_outs > kMaxMatVecOuts) {
    return absl::InvalidArgumentError("CUDA MatVec: 1 to 4 outputs per launch");
  }
  const int split = Q8SplitFor((cols / 256 + 3) / 4);
  int blocks = 0;
  const OutSet set = MakeOutSet(outs, n_outs, kQ8Rows * (kRowsPerBlock / split), &blocks);
  const auto* xq = static_cast<const int8_t*>(scratch);
  const float2* xs = Q8Scales(const_cast<void*>(scratch), cols, n_tokens);
  const dim3 grid(static_cast<unsigned>(blocks));
  if (wtype == DType::kQ4_K) {
    TRUENO_CUDA_RETURN_IF_ERROR(
        LaunchQ8<DType::kQ4_K>(set, grid, cols, xq, xs, n_tokens, split, stream));
  } else if (wtype == DType::kQ6_K) {
    TRUENO_CUDA_RETURN_IF_ERROR(
        LaunchQ8<DType::kQ6_K>(set, grid, cols, xq, xs, n_tokens, split, stream));
  } else {
    return absl::InternalError("CUDA MatVec: 8-bit activations need Q4_K or Q6_K weights");
  }
  return absl::OkStatus();
}

}  // namespace trueno::cuda::internal
