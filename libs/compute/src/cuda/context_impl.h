// Context::Impl: what every kernel launch needs from the context.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cublas_api.h"
#include "trueno/cuda.h"

namespace trueno::cuda {

struct Context::Impl {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  const internal::CublasApi* blas = nullptr;  // call cuBLAS through this (see cublas_api.h)
  void* pinned = nullptr;                     // staging buffer for uploads
  size_t pinned_bytes = 0;
  std::vector<cudaGraphExec_t> graphs;
  bool capturing = false;

  // Scratch device memory for kernels (e.g. dequantized tiles for cuBLAS). Grows, never shrinks;
  // valid until the next call with a larger size. Not to be held across Synchronize-free reuse
  // by two kernels in flight at once — the stream orders them.
  absl::StatusOr<void*> Scratch(size_t bytes, int slot = 0);
  std::vector<DeviceBuffer> scratch;
  uint64_t scratch_generation = 0;  // bumped on every reallocation (see ScratchGeneration)
};

}  // namespace trueno::cuda
