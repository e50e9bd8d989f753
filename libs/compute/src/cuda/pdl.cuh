// Programmatic dependent launch (sm_90): a kernel launched with LaunchPdl may start while the
// kernel before it in the stream is still finishing, so its launch latency and its prologue (the
// matvec's first weight loads, which no kernel writes) overlap the previous kernel's tail. In a
// CUDA graph of a decode step, where ~12 short dependent kernels per layer run back to back, the
// kernel boundaries are a large share of the step (docs/perf-notes.md, GPU §8).
//
// The contract, for every kernel launched with LaunchPdl: PdlWait() before its first access to
// memory that an earlier kernel writes or reads (activations, KV cache, outputs: anything but the
// weights), in every block that touches such memory, and at least one block calls it (so that the
// kernel's completion still implies its predecessors'). PdlLaunchDependents() lets the next
// kernel start early; called at the top, it fires once every block of this grid has started.
// Anything an earlier kernel wrote is read with ordinary (coherent) loads — __ldca, or plain
// pointers without `const __restrict__` —, never __ldg / ld.global.nc: the compiler treats
// non-coherent loads as loads of memory that is constant for the kernel's lifetime and may move
// them ahead of griddepcontrol.wait, i.e. before the producer has finished. Measured: the
// 9..64-row tensor-core products read garbage with __ldg under PDL and correct values with
// __ldca / __ldcg or without PDL; __ldca keeps the L1 caching (__ldcg made the 8-bit matvec
// 2.3x slower). Weights, never written, keep __ldg (docs/perf-notes.md, GPU §13).
// APR_CUDA_PDL=0 in the environment launches everything plainly (A/B runs).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace trueno::cuda::internal {

__device__ __forceinline__ void PdlWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void PdlLaunchDependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

inline bool PdlEnabled() {
  static const bool on = [] {
    const char* e = std::getenv("APR_CUDA_PDL");
    return !(e != nullptr && std::strcmp(e, "0") == 0);
  }();
  return on;
}

// kernel<<<grid, block, smem, stream>>>(args...) with programmatic stream serialization.
template <typename... KArgs, typename... Args>
cudaError_t LaunchPdl(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                      cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = PdlEnabled() ? 1 : 0;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

}  // namespace trueno::cuda::internal
