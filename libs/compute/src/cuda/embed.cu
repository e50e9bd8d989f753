// EmbedRows: one block per requested id, threads stride over the row's elements.
#include <cuda_runtime.h>

#include "context_impl.h"
#include "cuda_check.h"
#include "dequant.cuh"
#include "trueno/str_cat.h"

namespace trueno::cuda {
namespace {

constexpr int kThreads = 256;

template <class C>
__global__ void __launch_bounds__(kThreads)
    EmbedKernel(const uint8_t* __restrict__ table, size_t row_bytes, int n_rows, int dim,
                const int32_t* __restrict__ ids, float* __restrict__ out) {
  const int32_t id = ids[blockIdx.x];
  float* o = out + static_cast<size_t>(blockIdx.x) * dim;
  const bool valid = id >= 0 && id < n_rows;
  const uint8_t* row = table + static_cast<size_t>(valid ? id : 0) * row_bytes;
  for (int j = threadIdx.x; j < dim; j += kThreads) o[j] = valid ? C::Elem(row, j) : 0.0f;
}

}  // namespace

absl::Status EmbedRows(Context& ctx, DType type, const void* table, int n_rows, int dim,
                       const int32_t* ids, int n, float* out) {
  if (!MatMulSupports(type)) {
    return absl::UnimplementedError(Concat("cuda::EmbedRows: table type ", DTypeName(type),
                                           " is not supported (supported: f32, f16, bf16, q8_0, "
                                           "q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K)"));
  }
  if (n_rows <= 0 || dim <= 0 || n < 0 || table == nullptr ||
      (n > 0 && (ids == nullptr || out == nullptr))) {
    return absl::InvalidArgumentError(Concat("cuda::EmbedRows: invalid shape n_rows=", n_rows,
                                             " dim=", dim, " n=", n, " or null pointer"));
  }
  const DTypeTraits& tr = Traits(type);
  if (dim % static_cast<int>(tr.block_elems) != 0) {
    return absl::InvalidArgumentError(Concat("cuda::EmbedRows: dim=", dim,
                                             " is not a multiple of the ", tr.name, " block size ",
                                             tr.block_elems));
  }
  if (n == 0) return absl::OkStatus();
  const size_t row_bytes = static_cast<size_t>(dim) / tr.block_elems * tr.block_bytes;
  Context::Impl& m = ctx.impl();
  TRUENO_CUDA_RETURN_IF_ERROR(cudaSetDevice(m.device));
  internal::DispatchType(type, [&](auto codec) {
    using C = decltype(codec);
    EmbedKernel<C><<<n, kThreads, 0, m.stream>>>(static_cast<const uint8_t*>(table), row_bytes,
                                                 n_rows, dim, ids, out);
  });
  TRUENO_CUDA_CHECK_LAUNCH();
  return absl::OkStatus();
}

}  // namespace trueno::cuda
