// MatMul dispatch: fused dequantize+dot kernels for n_tokens <= 8 (matvec.cu); larger batches
// dequantize row tiles of W to f16 in scratch and run cublasGemmEx (f16 inputs, f32 accumulate)
// with the activations converted to f16 once. F32 and F16 weights go to cuBLAS without a copy.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "context_impl.h"
#include "cuda_check.h"
#include "dequant.cuh"
#include "matmul_internal.h"
#include "trueno/cuda_ops.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace trueno::cuda {
namespace internal {
namespace {

constexpr int kThreads = 256;
// Elements of W dequantized per cuBLAS call (64 MiB of f16 scratch).
constexpr size_t kTileElems = size_t{32} << 20;

// One thread per chunk. kThreads consecutive chunks cover one contiguous run of the output (rows
// are contiguous and a K-type super-block's 4 chunks stay in one block), so the block decodes into
// shared memory and then writes the run with coalesced 16-byte stores. A 16-byte pad after every
// kPadEvery halves spreads the lanes' shared-memory stores over the banks.
template <class C>
__global__ void __launch_bounds__(kThreads)
    DequantHalfKernel(const uint8_t* __restrict__ w, size_t row_bytes, int n_rows, int cols,
                      __half* __restrict__ out) {
  constexpr int kPadEvery = C::kElems < 64 ? C::kElems : 64;
  constexpr int kRun = kThreads * C::kElems;  // halves per block iteration
  __shared__ __align__(16) __half tile[kRun + kRun / kPadEvery * 8];
  const int nch = cols / C::kElems;
  const size_t total = static_cast<size_t>(n_rows) * nch;
  for (size_t base = static_cast<size_t>(blockIdx.x) * kThreads; base < total;
       base += static_cast<size_t>(gridDim.x) * kThreads) {
    const size_t idx = base + threadIdx.x;
    const size_t first = base * C::kElems;  // flat output element of this run's start
    if (idx < total) {
      const size_t r = idx / nch;
      const int ch = static_cast<int>(idx % nch);
      const size_t row_start = r * cols;
      auto emit = [&](int i, float w0, float w1, float w2, float w3) {
        const int local = static_cast<int>(row_start + i - first);
        __half2* p = reinterpret_cast<__half2*>(tile + local + local / kPadEvery * 8);
        p[0] = __floats2half2_rn(w0, w1);
        p[1] = __floats2half2_rn(w2, w3);
      };
      C::Values(w + r * row_bytes, ch, emit);
    }
    __syncthreads();
    const size_t chunks = total - base < kThreads ? total - base : kThreads;
    const int n16 = static_cast<int>(chunks * C::kElems / 8);
    for (int v = threadIdx.x; v < n16; v += kThreads) {
      const int local = 8 * v;
      reinterpret_cast<uint4*>(out + first)[v] =
          *reinterpret_cast<const uint4*>(tile + local + local / kPadEvery * 8);
    }
    __syncthreads();
  }
}

template <class C>
__global__ void __launch_bounds__(kThreads)
    DequantHalfElemKernel(const uint8_t* __restrict__ w, size_t row_bytes, int n_rows, int cols,
                          __half* __restrict__ out) {
  const size_t total = static_cast<size_t>(n_rows) * cols;
  for (size_t idx = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t r = idx / cols;
    const int j = static_cast<int>(idx % cols);
    out[idx] = __float2half_rn(C::Elem(w + r * row_bytes, j));
  }
}

__global__ void __launch_bounds__(kThreads)
    FloatToHalfKernel(const float* __restrict__ x, size_t n, __half* __restrict__ out) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2half_rn(x[i]);
  }
}

unsigned GridFor(size_t work) {
  return static_cast<unsigned>(std::min<size_t>((work + kThreads - 1) / kThreads, 65536));
}

}  // namespace

absl::Status LaunchDequantToHalf(DType wtype, const uint8_t* w, size_t row_bytes, int n_rows,
                                 int cols, void* out, cudaStream_t stream) {
  auto* o = static_cast<__half*>(out);
  const bool known = DispatchType(wtype, [&](auto codec) {
    using C = decltype(codec);
    const bool chunked = (reinterpret_cast<uintptr_t>(w) & 15u) == 0 && cols % C::kElems == 0 &&
                         (C::kElems != 8 || row_bytes % 16 == 0);
    if (chunked) {
      const size_t work = static_cast<size_t>(n_rows) * (cols / C::kElems);
      DequantHalfKernel<C><<<GridFor(work), kThreads, 0, stream>>>(w, row_bytes, n_rows, cols, o);
    } else {
      const size_t work = static_cast<size_t>(n_rows) * cols;
      DequantHalfElemKernel<C>
          <<<GridFor(work), kThreads, 0, stream>>>(w, row_bytes, n_rows, cols, o);
    }
  });
  if (!known) return absl::UnimplementedError("CUDA dequantize: unsupported weight type");
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

absl::Status LaunchFloatToHalf(const float* x, size_t n, void* out, cudaStream_t stream) {
  FloatToHalfKernel<<<GridFor(n), kThreads, 0, stream>>>(x, n, static_cast<__half*>(out));
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

}  // namespace internal

namespace {
std::atomic<int> g_matvec_max_tokens{internal::kMatVecMaxTokens};
}  // namespace

void SetMatVecMaxTokens(int n) {
  g_matvec_max_tokens.store(std::clamp(n, 0, internal::kMatVecMaxTokens));
}

void SetMatVecQ8(bool on) { internal::SetMatVecQ8Enabled(on); }

void SetMatMulInt8MaxTokens(int n) { internal::SetMmqMaxTokens(n); }

bool MatMulQuantizesActivations(DType wtype, int n_tokens) {
  return (n_tokens <= g_matvec_max_tokens.load(std::memory_order_relaxed) &&
          internal::MatVecQ8Type(wtype, n_tokens)) ||
         internal::MmqType(wtype, n_tokens);
}

bool MatMulSupports(DType wtype) {
  switch (wtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

namespace {

absl::Status CheckShape(DType wtype, const void* w, int rows, int cols, int n_tokens,
                        const float* x, const float* y, const char* who) {
  if (!MatMulSupports(wtype)) {
    return absl::UnimplementedError(Concat(who, ": weight type ", DTypeName(wtype),
                                           " is not supported (supported: f32, f16, bf16, q8_0, "
                                           "q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K)"));
  }
  if (rows <= 0 || cols <= 0 || n_tokens <= 0 || w == nullptr || x == nullptr || y == nullptr) {
    return absl::InvalidArgumentError(Concat(who, ": invalid shape rows=", rows, " cols=", cols,
                                             " n_tokens=", n_tokens, " or null pointer"));
  }
  const DTypeTraits& tr = Traits(wtype);
  if (cols % static_cast<int>(tr.block_elems) != 0) {
    return absl::InvalidArgumentError(Concat(who, ": cols=", cols, " is not a multiple of the ",
                                             tr.name, " block size ", tr.block_elems));
  }
  return absl::OkStatus();
}

size_t RowBytes(DType wtype, int cols) {
  const DTypeTraits& tr = Traits(wtype);
  return static_cast<size_t>(cols) / tr.block_elems * tr.block_bytes;
}

// The reorder reads the transform's vectors with 16-byte loads.
bool Aligned16OrNull(const float* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

bool UseFused(int n_tokens) {
  return n_tokens <= g_matvec_max_tokens.load(std::memory_order_relaxed);
}

// Outputs i.. of outs[i]'s weight type not yet `done` (at most kMaxMatVecOuts, in order) into
// `group` for one launch; marks them done and returns how many.
int GatherGroup(const MatMulOutput* outs, int n_outs, int cols, int i, std::vector<bool>& done,
                internal::MatVecOut* group) {
  int g = 0;
  for (int j = i; j < n_outs && g < internal::kMaxMatVecOuts; ++j) {
    const MatMulOutput& o = outs[j];
    if (done[j] || o.wtype != outs[i].wtype) continue;
    group[g++] = internal::MatVecOut{static_cast<const uint8_t*>(o.w),
                                     RowBytes(o.wtype, cols),
                                     o.rows,
                                     o.y,
                                     o.bias,
                                     o.accumulate};
    done[j] = true;
  }
  return g;
}

// The 8-bit activations both Q4_K/Q6_K paths read: x (after tf) quantized into the q8 scratch.
absl::StatusOr<void*> QuantizedInput(Context::Impl& m, const float* x,
                                     const internal::ActTransform& tf, int cols, int n_tokens) {
  APR_ASSIGN_OR_RETURN(
      void* xq, m.Scratch(internal::MatVecQ8ScratchBytes(cols, n_tokens), internal::kScratchActQ8));
  APR_RETURN_IF_ERROR(internal::LaunchQuantizeQ8(x, tf, cols, n_tokens, xq, m.stream));
  return xq;
}

bool MmqOk(DType wtype, const void* w, int cols, int n_tokens, const float* x,
           const internal::ActTransform& tf) {
  return internal::MmqType(wtype, n_tokens) &&
         internal::Q8Aligned(wtype, static_cast<const uint8_t*>(w), cols, x, tf);
}

// One product on an already transformed input. The fused and integer tensor-core kernels apply
// bias and accumulate; the cuBLAS path applies accumulate (beta = 1) and leaves the bias to the
// caller.
absl::Status MatMulOne(Context::Impl& m, const MatMulOutput& o, int cols, const float* x,
                       int n_tokens) {
  const size_t row_bytes = RowBytes(o.wtype, cols);
  const auto* wb = static_cast<const uint8_t*>(o.w);
  const internal::ActTransform none;
  const internal::MatVecOut out{wb, row_bytes, o.rows, o.y, o.bias, o.accumulate};
  if (MmqOk(o.wtype, wb, cols, n_tokens, x, none)) {
    APR_ASSIGN_OR_RETURN(void* xq, QuantizedInput(m, x, none, cols, n_tokens));
    return internal::LaunchMmq(o.wtype, &out, 1, cols, xq, n_tokens, m.stream);
  }
  if (UseFused(n_tokens)) {
    if (internal::MatVecQ8Ok(o.wtype, wb, cols, n_tokens, x, none)) {
      APR_ASSIGN_OR_RETURN(void* xq, QuantizedInput(m, x, none, cols, n_tokens));
      return internal::LaunchMatVecQ8(o.wtype, &out, 1, cols, xq, n_tokens, m.stream);
    }
    APR_ASSIGN_OR_RETURN(void* xp, m.Scratch(internal::MatVecScratchBytes(cols, n_tokens),
                                             internal::kScratchActPermuted));
    return internal::LaunchMatVec(o.wtype, &out, 1, cols, x, none, n_tokens,
                                  static_cast<float*>(xp), m.stream);
  }

  // Large batch: cuBLAS. Column-major view: C (rows x n) = W^T (rows x cols) * X (cols x n), W
  // stored as a cols x rows column-major matrix (lda = cols), X as cols x n (ldb = cols), Y as
  // rows x n (ldc = rows). beta = 1 adds the product to Y (the residual).
  const int rows = o.rows;
  float* y = o.y;
  const float alpha = 1.0f, beta = o.accumulate ? 1.0f : 0.0f;
  if (o.wtype == DType::kF32) {
    TRUENO_CUBLAS_RETURN_IF_ERROR(m.blas->gemm_ex(
        m.cublas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n_tokens, cols, &alpha, o.w, CUDA_R_32F, cols, x,
        CUDA_R_32F, cols, &beta, y, CUDA_R_32F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  } else {
    const size_t x_elems = static_cast<size_t>(n_tokens) * cols;
    APR_ASSIGN_OR_RETURN(void* xh, m.Scratch(x_elems * sizeof(__half), internal::kScratchActHalf));
    APR_RETURN_IF_ERROR(internal::LaunchFloatToHalf(x, x_elems, xh, m.stream));
    if (o.wtype == DType::kF16) {
      TRUENO_CUBLAS_RETURN_IF_ERROR(m.blas->gemm_ex(m.cublas, CUBLAS_OP_T, CUBLAS_OP_N, rows,
                                                    n_tokens, cols, &alpha, o.w, CUDA_R_16F, cols,
                                                    xh, CUDA_R_16F, cols, &beta, y, CUDA_R_32F,
                                                    rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    } else {
      int tile_rows = static_cast<int>(
          std::min<size_t>(rows, std::max<size_t>(1, internal::kTileElems / cols)));
      if (tile_rows >= 128 && tile_rows < rows) tile_rows -= tile_rows % 128;
      APR_ASSIGN_OR_RETURN(void* wh,
                           m.Scratch(static_cast<size_t>(tile_rows) * cols * sizeof(__half),
                                     internal::kScratchWeightTile));
      for (int r0 = 0; r0 < rows; r0 += tile_rows) {
        const int nr = std::min(tile_rows, rows - r0);
        APR_RETURN_IF_ERROR(internal::LaunchDequantToHalf(
            o.wtype, wb + static_cast<size_t>(r0) * row_bytes, row_bytes, nr, cols, wh, m.stream));
        TRUENO_CUBLAS_RETURN_IF_ERROR(
            m.blas->gemm_ex(m.cublas, CUBLAS_OP_T, CUBLAS_OP_N, nr, n_tokens, cols, &alpha, wh,
                            CUDA_R_16F, cols, xh, CUDA_R_16F, cols, &beta, y + r0, CUDA_R_32F, rows,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MatMul(Context& ctx, DType wtype, const void* w, int rows, int cols, const float* x,
                    int n_tokens, float* y) {
  APR_RETURN_IF_ERROR(CheckShape(wtype, w, rows, cols, n_tokens, x, y, "cuda::MatMul"));
  Context::Impl& m = ctx.impl();
  TRUENO_CUDA_RETURN_IF_ERROR(cudaSetDevice(m.device));
  MatMulOutput o;
  o.wtype = wtype;
  o.w = w;
  o.rows = rows;
  o.y = y;
  return MatMulOne(m, o, cols, x, n_tokens);
}

absl::Status MatMulMulti(Context& ctx, const MatMulInput& in, int cols, int n_tokens,
                         const MatMulOutput* outs, int n_outs) {
  if (n_outs <= 0 || outs == nullptr) {
    return absl::InvalidArgumentError("cuda::MatMulMulti: no outputs");
  }
  if (in.rms_weight != nullptr && in.up != nullptr) {
    return absl::InvalidArgumentError(
        "cuda::MatMulMulti: RmsNorm and SwiGLU inputs exclude "
        "each other");
  }
  for (int i = 0; i < n_outs; ++i) {
    const MatMulOutput& o = outs[i];
    APR_RETURN_IF_ERROR(
        CheckShape(o.wtype, o.w, o.rows, cols, n_tokens, in.x, o.y, "cuda::MatMulMulti"));
  }
  Context::Impl& m = ctx.impl();
  TRUENO_CUDA_RETURN_IF_ERROR(cudaSetDevice(m.device));
  const internal::ActTransform tf{in.rms_weight, in.rms_eps, in.up};

  // 9..SetMatMulInt8MaxTokens rows of K-type weights: one quantization (transform applied), one
  // tensor-core launch per weight type.
  bool mmq = true;
  for (int i = 0; i < n_outs && mmq; ++i) {
    mmq = MmqOk(outs[i].wtype, outs[i].w, cols, n_tokens, in.x, tf);
  }
  if (mmq) {
    APR_ASSIGN_OR_RETURN(void* xq, QuantizedInput(m, in.x, tf, cols, n_tokens));
    std::vector<bool> done(static_cast<size_t>(n_outs), false);
    for (int i = 0; i < n_outs; ++i) {
      if (done[i]) continue;
      internal::MatVecOut group[internal::kMaxMatVecOuts];
      const int g = GatherGroup(outs, n_outs, cols, i, done, group);
      APR_RETURN_IF_ERROR(
          internal::LaunchMmq(outs[i].wtype, group, g, cols, xq, n_tokens, m.stream));
    }
    return absl::OkStatus();
  }

  bool chunked = UseFused(n_tokens);
  for (int i = 0; i < n_outs && chunked; ++i) {
    chunked = internal::MatVecChunked(outs[i].wtype, static_cast<const uint8_t*>(outs[i].w),
                                      RowBytes(outs[i].wtype, cols), cols, in.x) &&
              Aligned16OrNull(in.up) && Aligned16OrNull(in.rms_weight);
  }
  if (chunked) {
    // Outputs of one weight type share the reorder and the launch.
    APR_ASSIGN_OR_RETURN(void* xp, m.Scratch(internal::MatVecScratchBytes(cols, n_tokens),
                                             internal::kScratchActPermuted));
    // The 8-bit activations serve every K-type group: quantized once, on first use.
    void* xq = nullptr;
    std::vector<bool> done(static_cast<size_t>(n_outs), false);
    for (int i = 0; i < n_outs; ++i) {
      if (done[i]) continue;
      internal::MatVecOut group[internal::kMaxMatVecOuts];
      const int g = GatherGroup(outs, n_outs, cols, i, done, group);
      bool q8 = true;
      for (int j = 0; j < g; ++j) {
        q8 = q8 && internal::MatVecQ8Ok(outs[i].wtype, group[j].w, cols, n_tokens, in.x, tf);
      }
      if (q8) {
        if (xq == nullptr) {
          APR_ASSIGN_OR_RETURN(xq, QuantizedInput(m, in.x, tf, cols, n_tokens));
        }
        APR_RETURN_IF_ERROR(
            internal::LaunchMatVecQ8(outs[i].wtype, group, g, cols, xq, n_tokens, m.stream));
        continue;
      }
      APR_RETURN_IF_ERROR(internal::LaunchMatVec(outs[i].wtype, group, g, cols, in.x, tf, n_tokens,
                                                 static_cast<float*>(xp), m.stream));
    }
    return absl::OkStatus();
  }

  // Write the transformed input once, then one product per output.
  const float* x = in.x;
  if (tf.any()) {
    const size_t elems = static_cast<size_t>(n_tokens) * cols;
    APR_ASSIGN_OR_RETURN(void* xt,
                         m.Scratch(elems * sizeof(float), internal::kScratchActTransformed));
    auto* xf = static_cast<float*>(xt);
    if (in.rms_weight != nullptr) {
      APR_RETURN_IF_ERROR(RmsNorm(ctx, in.x, in.rms_weight, n_tokens, cols, in.rms_eps, xf));
    } else {
      APR_RETURN_IF_ERROR(SiluMul(ctx, in.x, in.up, xf, static_cast<int64_t>(elems)));
    }
    x = xf;
  }
  for (int i = 0; i < n_outs; ++i) {
    const MatMulOutput& o = outs[i];
    if (!UseFused(n_tokens) && o.bias != nullptr) {
      MatMulOutput plain = o;
      plain.bias = nullptr;
      APR_RETURN_IF_ERROR(MatMulOne(m, plain, cols, x, n_tokens));
      APR_RETURN_IF_ERROR(AddBias(ctx, o.y, o.bias, n_tokens, o.rows));
    } else {
      APR_RETURN_IF_ERROR(MatMulOne(m, o, cols, x, n_tokens));
    }
  }
  return absl::OkStatus();
}

}  // namespace trueno::cuda
