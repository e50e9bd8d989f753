// cuBLAS, loaded on first use. Linking libcublas costs every process that links trueno ~1 s and
// ~200 MB at start-up (libcublasLt is 500 MB of relocations), GPU or not; so trueno links only
// the static CUDA runtime and resolves the few cuBLAS entry points it calls with dlopen when a
// Context is created.
#pragma once

#include <cublas_v2.h>

#include "absl/status/statusor.h"

namespace trueno::cuda::internal {

struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
  // cublasGemmEx / ...BatchedEx are overloaded in C++; these are the cudaDataType forms.
  using GemmExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int,
                                      int, int, const void*, const void*, cudaDataType, int,
                                      const void*, cudaDataType, int, const void*, void*,
                                      cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  using GemmStridedBatchedExFn = cublasStatus_t (*)(
      cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*, const void*,
      cudaDataType, int, long long, const void*, cudaDataType, int, long long, const void*, void*,
      cudaDataType, int, long long, int, cublasComputeType_t, cublasGemmAlgo_t);
  GemmExFn gemm_ex = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  GemmStridedBatchedExFn gemm_strided_batched_ex = nullptr;
};

// The process-wide table; FailedPrecondition naming the library when it cannot be loaded.
absl::StatusOr<const CublasApi*> Cublas();

}  // namespace trueno::cuda::internal
