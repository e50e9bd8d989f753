// Error plumbing shared by the CUDA sources: every runtime / cuBLAS call is checked and turned
// into an absl::Status naming the call and the location.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "absl/status/status.h"

namespace trueno::cuda::internal {

inline absl::Status CudaError(cudaError_t err, const char* what, const char* file, int line) {
  std::string msg = std::string("CUDA error in ") + what + " (" + file + ":" +
                    std::to_string(line) + "): " + cudaGetErrorName(err) + ": " +
                    cudaGetErrorString(err);
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(msg);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    return absl::FailedPreconditionError(msg);
  }
  return absl::InternalError(msg);
}

inline absl::Status CublasError(cublasStatus_t st, const char* what, const char* file, int line) {
  return absl::InternalError(std::string("cuBLAS error in ") + what + " (" + file + ":" +
                             std::to_string(line) + "): status " + std::to_string(int(st)));
}

}  // namespace trueno::cuda::internal

// Returns a Status from the enclosing function when a CUDA runtime call fails.
#define TRUENO_CUDA_RETURN_IF_ERROR(call)                                                      \
  do {                                                                                         \
    cudaError_t trueno_cuda_err_ = (call);                                                     \
    if (trueno_cuda_err_ != cudaSuccess) {                                                     \
      return ::trueno::cuda::internal::CudaError(trueno_cuda_err_, #call, __FILE__, __LINE__); \
    }                                                                                          \
  } while (0)

#define TRUENO_CUBLAS_RETURN_IF_ERROR(call)                                                       \
  do {                                                                                            \
    cublasStatus_t trueno_cublas_st_ = (call);                                                    \
    if (trueno_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                                             \
      return ::trueno::cuda::internal::CublasError(trueno_cublas_st_, #call, __FILE__, __LINE__); \
    }                                                                                             \
  } while (0)

// After a kernel launch: reports a bad launch configuration at once.
#define TRUENO_CUDA_CHECK_LAUNCH() TRUENO_CUDA_RETURN_IF_ERROR(cudaGetLastError())
