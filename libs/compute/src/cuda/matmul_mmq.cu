// Batches of 9..16 rows by default (up to kMmqMaxTokens = 64 with SetMatMulInt8MaxTokens; the
// server's decode steps) for Q4_K and Q6_K weights: an integer tensor-core product on the stored
// quants. The activations are the same 8-bit blocks of 32 as the dp4a matvec's (matvec_q8.cu, one
// LaunchQuantizeQ8 per MatMulMulti); each mma.sync.m16n8k32 (Q4_K) or m16n8k16 (Q6_K) multiplies 16
// weight rows by 8 tokens over one weight sub-block, whose int32 sums are then scaled in float by
// the sub-block's scale and the activation block's d (and, for Q4_K, the min term uses the block's
// d * sum(q)). Before this, 9+ rows dequantized every weight matrix to f16 tiles for cuBLAS on
// every step: ~4.6 bytes of traffic per weight against the 0.56 / 0.82 bytes the quants take
// (docs/perf-notes.md, GPU §13).
//
// A block has four warps; a warp owns 16 rows (two groups of 8: lane g = lane / 4 serves rows g
// and g + 8) and all NT tokens (NT / 8 tiles: lane t = lane % 4 holds tokens 2t, 2t + 1 of each).
// Which k index of an mma holds which element is free as long as both operands agree: lane t
// feeds elements [8t, 8t + 8) of a 32-element sub-block (Q4_K: one 8-byte load of nibbles per
// 64-element group and row) and [4t, 4t + 4) of a 16-element one (Q6_K: 4-byte words of its
// 2-byte-aligned blocks). Few rows (q/o/k/v, down) split each row group's super-blocks over 2 or
// 4 warps so that the grid still fills the GPU; their partial sums meet in shared memory.
#include <cuda_runtime.h>

#include <algorithm>
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

constexpr int kMmqWarps = 4;
constexpr int kMmqThreads = 32 * kMmqWarps;
constexpr uint32_t kLowNibbles = 0x0F0F0F0Fu;

// APR_CUDA_MMQ=0 keeps the f16 + cuBLAS path for every batch above 8 rows (A/B runs).
bool MmqEnabled() {
  static const bool on = [] {
    const char* e = std::getenv("APR_CUDA_MMQ");
    return !(e != nullptr && std::strcmp(e, "0") == 0);
  }();
  return on;
}

__device__ __forceinline__ void Mma16x8x32(const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                                           int (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};"
      : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "r"(0), "r"(0), "r"(0),
        "r"(0));
}

__device__ __forceinline__ void Mma16x8x16(uint32_t a0, uint32_t a1, uint32_t b0, int (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, "
      "{%7,%8,%9,%10};"
      : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
      : "r"(a0), "r"(a1), "r"(b0), "r"(0), "r"(0), "r"(0), "r"(0));
}

// The activation tokens a lane reads: token tiles past the batch re-read its last token (valid
// memory; their results are never stored).
template <int NTILES>
struct Tokens {
  int b[NTILES];     // the B-operand token (8 * tile + g)
  int c[NTILES][2];  // the two output tokens (8 * tile + 2t, + 1)
  __device__ Tokens(int g, int t, int nv) {
#pragma unroll
    for (int i = 0; i < NTILES; ++i) {
      b[i] = min(8 * i + g, nv - 1);
      c[i][0] = min(8 * i + 2 * t, nv - 1);
      c[i][1] = min(8 * i + 2 * t + 1, nv - 1);
    }
  }
};

// {d, d * sum(q)} of token `tok`'s 8 activation blocks of super-block b (coherent loads: pdl.cuh).
__device__ __forceinline__ void BlockScales(const float2* __restrict__ xs, int tok, int nblk, int b,
                                            float2 (&out)[8]) {
  const float4* p = reinterpret_cast<const float4*>(xs + static_cast<size_t>(tok) * nblk + 8 * b);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float4 v = __ldca(p + k);
    out[2 * k] = make_float2(v.x, v.y);
    out[2 * k + 1] = make_float2(v.z, v.w);
  }
}

// One super-block of the warp's 16 rows, per weight type: Load the lane's bytes of rows g and
// g + 8 (rows past the matrix read nothing and have scale 0), then Accumulate their products
// with every token tile.
template <DType T>
struct Mmq;

// Q4_K (144 bytes: d, dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles; group j of 64
// elements has sub-block 2j in the low nibbles of bytes 32j..32j+31, sub-block 2j + 1 in the high).
template <>
struct Mmq<DType::kQ4_K> {
  static constexpr int kBytes = 144;
  struct Raw {
    uint4 hdr;
    uint2 qs[4];  // bytes 32j + 8t .. + 8 of group j
  };
  __device__ static Raw Load(const uint8_t* blk, int t, bool on) {
    Raw r{};
    if (on) {
      r.hdr = Ld128(blk);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        r.qs[j] = __ldg(reinterpret_cast<const uint2*>(blk + 16 + 32 * j + 8 * t));
      }
    }
    return r;
  }
  template <int NTILES>
  __device__ static void Accumulate(const Raw (&w)[2], int b, int t, const Tokens<NTILES>& tok,
                                    const int8_t* __restrict__ xq, const float2* __restrict__ xs,
                                    int cols, float (&acc)[NTILES][4]) {
    float sc[2][8], mn[2][8];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float d = HalfBits(static_cast<uint16_t>(w[h].hdr.x & 0xFFFFu));
      const float dmin = HalfBits(static_cast<uint16_t>(w[h].hdr.x >> 16));
      const uint32_t s03 = w[h].hdr.y, m03 = w[h].hdr.z, hi = w[h].hdr.w;
#pragma unroll
      for (int s = 0; s < 4; ++s) {
        const uint32_t sb = (s03 >> (8 * s)) & 0xFFu, mb = (m03 >> (8 * s)) & 0xFFu;
        const uint32_t hb = (hi >> (8 * s)) & 0xFFu;
        sc[h][s] = d * static_cast<float>(sb & 63u);
        mn[h][s] = dmin * static_cast<float>(mb & 63u);
        sc[h][s + 4] = d * static_cast<float>((hb & 0xFu) | ((sb >> 6) << 4));
        mn[h][s + 4] = dmin * static_cast<float>((hb >> 4) | ((mb >> 6) << 4));
      }
    }
    const int nblk = cols / 32;
#pragma unroll
    for (int i = 0; i < NTILES; ++i) {
      // {d, d * sum(q)} of the tile's two output tokens for the super-block's 8 blocks.
      float2 x0[8], x1[8];
      BlockScales(xs, tok.c[i][0], nblk, b, x0);
      BlockScales(xs, tok.c[i][1], nblk, b, x1);
      const int8_t* xb = xq + static_cast<size_t>(tok.b[i]) * cols + 256 * b + 8 * t;
#pragma unroll
      for (int s = 0; s < 8; ++s) {
        const int j = s >> 1, sh = 4 * (s & 1);
        const uint32_t a[4] = {
            (w[0].qs[j].x >> sh) & kLowNibbles, (w[1].qs[j].x >> sh) & kLowNibbles,
            (w[0].qs[j].y >> sh) & kLowNibbles, (w[1].qs[j].y >> sh) & kLowNibbles};
        const uint2 bx = __ldca(reinterpret_cast<const uint2*>(xb + 32 * s));
        int c[4];
        Mma16x8x32(a, bx.x, bx.y, c);
        // c[0], c[1]: row g, tokens 2t, 2t + 1; c[2], c[3]: row g + 8.
        acc[i][0] += sc[0][s] * x0[s].x * static_cast<float>(c[0]) - mn[0][s] * x0[s].y;
        acc[i][1] += sc[0][s] * x1[s].x * static_cast<float>(c[1]) - mn[0][s] * x1[s].y;
        acc[i][2] += sc[1][s] * x0[s].x * static_cast<float>(c[2]) - mn[1][s] * x0[s].y;
        acc[i][3] += sc[1][s] * x1[s].x * static_cast<float>(c[3]) - mn[1][s] * x1[s].y;
      }
    }
  }
};

// Q6_K (210 bytes: ql[128], qh[64], int8 scales[16], d). Element 128n + 32g + l (n < 2, g < 4,
// l < 32): low nibble in ql[64n + 32(g & 1) + l] (the high nibble for g >= 2), bits 4-5 in bits
// 2g of qh[32n + l], scale scales[8n + 2g + l / 16]. A 16-element sub-block (n, g, h = l / 16)
// is one m16n8k16 product; lane t feeds l = 16h + 4t + [0, 4): the ql word at byte
// 64n + 32(g & 1) + 16h + 4t and the qh word at 128 + 32n + 16h + 4t — words 16 bytes apart.
template <>
struct Mmq<DType::kQ6_K> {
  static constexpr int kBytes = 210;
  struct Raw {
    uint32_t ql[8];  // word m = 4n + 2(g & 1) + h
    uint32_t qh[4];  // word 2n + h
    uint32_t sc[4];  // the 16 int8 scales
    uint16_t d;
  };
  __device__ static Raw Load(const uint8_t* blk, int t, bool on) {
    Raw r{};
    if (on) {
#pragma unroll
      for (int m = 0; m < 8; ++m) r.ql[m] = Ld32a2(blk + 16 * m + 4 * t);
#pragma unroll
      for (int m = 0; m < 4; ++m) r.qh[m] = Ld32a2(blk + 128 + 16 * m + 4 * t);
#pragma unroll
      for (int m = 0; m < 4; ++m) r.sc[m] = Ld32a2(blk + 192 + 4 * m);
      r.d = Ld16(blk + 208);
    }
    return r;
  }
  template <int NTILES>
  __device__ static void Accumulate(const Raw (&w)[2], int b, int t, const Tokens<NTILES>& tok,
                                    const int8_t* __restrict__ xq, const float2* __restrict__ xs,
                                    int cols, float (&acc)[NTILES][4]) {
    float sc[2][16];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float d = HalfBits(w[h].d);
#pragma unroll
      for (int k = 0; k < 16; ++k) {
        sc[h][k] =
            d * static_cast<float>(static_cast<int8_t>((w[h].sc[k / 4] >> (8 * (k % 4))) & 0xFFu));
      }
    }
    const int nblk = cols / 32;
#pragma unroll
    for (int i = 0; i < NTILES; ++i) {
      float2 x0[8], x1[8];  // {d, -} of the tile's output tokens for the super-block's 8 blocks
      BlockScales(xs, tok.c[i][0], nblk, b, x0);
      BlockScales(xs, tok.c[i][1], nblk, b, x1);
      const int8_t* xb = xq + static_cast<size_t>(tok.b[i]) * cols + 256 * b + 4 * t;
#pragma unroll
      for (int n = 0; n < 2; ++n) {
#pragma unroll
        for (int g = 0; g < 4; ++g) {
          const int blk = 4 * n + g;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int m = 4 * n + 2 * (g & 1) + h, mh = 2 * n + h, k = 8 * n + 2 * g + h;
            const uint32_t shl = 4 * (g >> 1), shh = 2 * g;
            uint32_t a[2];
#pragma unroll
            for (int r = 0; r < 2; ++r) {
              const uint32_t q =
                  ((w[r].ql[m] >> shl) & kLowNibbles) | (((w[r].qh[mh] >> shh) & 0x03030303u) << 4);
              a[r] = __vsub4(q, 0x20202020u);
            }
            const uint32_t bx =
                __ldca(reinterpret_cast<const uint32_t*>(xb + 128 * n + 32 * g + 16 * h));
            int c[4];
            Mma16x8x16(a[0], a[1], bx, c);
            acc[i][0] += sc[0][k] * x0[blk].x * static_cast<float>(c[0]);
            acc[i][1] += sc[0][k] * x1[blk].x * static_cast<float>(c[1]);
            acc[i][2] += sc[1][k] * x0[blk].x * static_cast<float>(c[2]);
            acc[i][3] += sc[1][k] * x1[blk].x * static_cast<float>(c[3]);
          }
        }
      }
    }
  }
};

// Grid: one block per 16 * (kMmqWarps / split) rows of the launch's outputs; warp w serves row
// group w / split and every split-th super-block from w % split.
template <DType T, int NTILES>
__global__ void __launch_bounds__(kMmqThreads)
    MmqKernel(const OutSet outs, int cols, const int8_t* __restrict__ xq,
              const float2* __restrict__ xs, int nv, int split) {
  using M = Mmq<T>;
  extern __shared__ float partial[];  // split > 1: kMmqWarps x NTILES * 4 x 32
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int part = warp % split, rows_per_block = 16 * (kMmqWarps / split);
  const Target tg = Locate(outs, 16 * (warp / split), rows_per_block);
  const int r0 = tg.r + g, r1 = tg.r + g + 8;
  const bool on0 = r0 < tg.rows, on1 = r1 < tg.rows;
  const size_t row_bytes = static_cast<size_t>(cols / 256) * M::kBytes;
  const uint8_t* w0 = tg.row + static_cast<size_t>(g) * row_bytes;
  const uint8_t* w1 = w0 + 8 * row_bytes;
  const Tokens<NTILES> tok(g, t, nv);
  float acc[NTILES][4];
#pragma unroll
  for (int i = 0; i < NTILES; ++i) {
#pragma unroll
    for (int k = 0; k < 4; ++k) acc[i][k] = 0.0f;
  }
  const int nb = cols / 256;
  bool waited = false;
  for (int b = part; b < nb; b += split) {
    const typename M::Raw w[2] = {M::Load(w0 + static_cast<size_t>(b) * M::kBytes, t, on0),
                                  M::Load(w1 + static_cast<size_t>(b) * M::kBytes, t, on1)};
    // The first weights are requested before waiting for the previous kernel (the producer of
    // xq / xs and of the rows accumulated into): weights are never written.
    if (!waited) {
      PdlLaunchDependents();
      PdlWait();
      waited = true;
    }
    M::template Accumulate<NTILES>(w, b, t, tok, xq, xs, cols, acc);
  }
  if (!waited) {
    PdlLaunchDependents();
    PdlWait();
  }
  if (split > 1) {
    float* mine = partial + (static_cast<size_t>(warp) * NTILES * 4) * 32;
#pragma unroll
    for (int i = 0; i < NTILES; ++i) {
#pragma unroll
      for (int k = 0; k < 4; ++k) mine[(4 * i + k) * 32 + lane] = acc[i][k];
    }
    __syncthreads();
    if (part != 0) return;
#pragma unroll
    for (int i = 0; i < NTILES; ++i) {
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        for (int p = 1; p < split; ++p)
          acc[i][k] += mine[(static_cast<size_t>(p) * NTILES * 4 + 4 * i + k) * 32 + lane];
      }
    }
  }
  const float bias0 = tg.bias != nullptr && on0 ? tg.bias[r0] : 0.0f;
  const float bias1 = tg.bias != nullptr && on1 ? tg.bias[r1] : 0.0f;
#pragma unroll
  for (int i = 0; i < NTILES; ++i) {
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int token = 8 * i + 2 * t + (k & 1);
      const bool hi = k >= 2;
      if (token >= nv || !(hi ? on1 : on0)) continue;
      float* p = tg.y + static_cast<size_t>(token) * tg.rows + (hi ? r1 : r0);
      const float v = acc[i][k] + (hi ? bias1 : bias0);
      *p = tg.accumulate ? __ldca(p) + v : v;  // coherent load: see pdl.cuh
    }
  }
}

// Warps per row group: enough blocks for ~2 per SM on the largest GPUs.
int MmqSplitFor(int rows_total) {
  const int groups = (rows_total + 15) / 16;
  if (groups >= 4 * 264) return 1;
  if (groups >= 2 * 264) return 2;
  return 4;
}

template <DType T, int NTILES>
cudaError_t LaunchMmqTiles(const OutSet& set, dim3 grid, int cols, const int8_t* xq,
                           const float2* xs, int n_tokens, int split, cudaStream_t stream) {
  const size_t smem = split > 1 ? sizeof(float) * kMmqWarps * NTILES * 4 * 32 : 0;
  return LaunchPdl(MmqKernel<T, NTILES>, grid, dim3(kMmqThreads), smem, stream, set, cols, xq, xs,
                   n_tokens, split);
}

template <DType T>
cudaError_t LaunchMmqType(const OutSet& set, dim3 grid, int cols, const int8_t* xq,
                          const float2* xs, int n_tokens, int split, cudaStream_t stream) {
  if (n_tokens <= 16) return LaunchMmqTiles<T, 2>(set, grid, cols, xq, xs, n_tokens, split, stream);
  if (n_tokens <= 32) return LaunchMmqTiles<T, 4>(set, grid, cols, xq, xs, n_tokens, split, stream);
  return LaunchMmqTiles<T, 8>(set, grid, cols, xq, xs, n_tokens, split, stream);
}

}  // namespace

namespace {
std::atomic<int> g_mmq_max_tokens{kMmqDefaultMaxTokens};
}  // namespace

void SetMmqMaxTokens(int n) {
  g_mmq_max_tokens.store(std::clamp(n, kMatVecMaxTokens, kMmqMaxTokens), std::memory_order_relaxed);
}

bool MmqType(DType wtype, int n_tokens) {
  return (wtype == DType::kQ4_K || wtype == DType::kQ6_K) && n_tokens > kMatVecMaxTokens &&
         n_tokens <= g_mmq_max_tokens.load(std::memory_order_relaxed) && MmqEnabled() &&
         MatVecQ8Enabled();
}

absl::Status LaunchMmq(DType wtype, const MatVecOut* outs, int n_outs, int cols,
                       const void* scratch, int n_tokens, cudaStream_t stream) {
  if (n_outs < 1 || n_outs > kMaxMatVecOuts) {
    return absl::InvalidArgumentError("CUDA MMQ: 1 to 4 outputs per launch");
  }
  int rows_total = 0;
  for (int i = 0; i < n_outs; ++i) rows_total += outs[i].rows;
  const int split = MmqSplitFor(rows_total);
  int blocks = 0;
  const OutSet set = MakeOutSet(outs, n_outs, 16 * (kMmqWarps / split), &blocks);
  const auto* xq = static_cast<const int8_t*>(scratch);
  const float2* xs = Q8ScalesOf(scratch, cols, n_tokens);
  const dim3 grid(static_cast<unsigned>(blocks));
  if (wtype == DType::kQ4_K) {
    TRUENO_CUDA_RETURN_IF_ERROR(
        LaunchMmqType<DType::kQ4_K>(set, grid, cols, xq, xs, n_tokens, split, stream));
  } else if (wtype == DType::kQ6_K) {
    TRUENO_CUDA_RETURN_IF_ERROR(
        LaunchMmqType<DType::kQ6_K>(set, grid, cols, xq, xs, n_tokens, split, stream));
  } else {
    return absl::InternalError("CUDA MMQ: Q4_K or Q6_K weights only");
  }
  return absl::OkStatus();
}

}  // namespace trueno::cuda::internal
