// CUDA backend of trueno: device discovery, device memory, a per-model execution context
// (stream + cuBLAS handle) and the kernels the model graph needs. Callers see no CUDA types.
// In a build without CUDA every entry point exists and fails with FailedPrecondition, so callers
// need no #ifdefs. All kernels are asynchronous on the context's stream and take device
// pointers; errors of a launch surface at the latest in Context::Synchronize.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trueno/dtype.h"
#include "trueno/kernels.h"

namespace trueno::cuda {

// True when this build contains the CUDA backend.
bool Compiled();

struct DeviceInfo {
  int index = 0;
  std::string name;
  int sm_major = 0, sm_minor = 0;
  int multiprocessors = 0;
  size_t total_bytes = 0, free_bytes = 0;
  int driver_version = 0, runtime_version = 0;  // CUDA's encoding: 13000 = 13.0
  int sm_clock_mhz = 0, mem_clock_mhz = 0, mem_bus_bits = 0;
};

// Number of usable devices (0 without a driver, without a device, or in a CPU-only build).
int DeviceCount();
// FailedPrecondition when the build has no CUDA or the device does not exist.
absl::StatusOr<DeviceInfo> QueryDevice(int index = 0);

// Owning device allocation (move-only). Freed in the destructor.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  // ResourceExhausted when the device cannot hold `bytes`; the message names `what`, the bytes
  // needed and the bytes free, so the caller can append which flag lowers the demand.
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes, const std::string& what);

  void* data() const { return ptr_; }
  size_t size() const { return bytes_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Owning page-locked host allocation (move-only): device -> host copies into it run as DMA at
// the bus rate instead of being staged through a driver buffer chunk by chunk (what copies to
// pageable memory do). For the per-step logits. Freed in the destructor.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();

  // ResourceExhausted when the host cannot lock `bytes` (the message names them).
  static absl::StatusOr<PinnedBuffer> Allocate(size_t bytes);

  void* data() const { return ptr_; }
  size_t size() const { return bytes_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// One stream, one cuBLAS handle and scratch space; one per model (not thread-safe).
class Context {
 public:
  static absl::StatusOr<std::unique_ptr<Context>> Create(int device = 0);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const;
  // Host -> device (through a pinned staging buffer; returns once `src` may be reused).
  [[nodiscard]] absl::Status Upload(void* dst, const void* src, size_t bytes);
  // Device -> host; waits for all queued work first.
  [[nodiscard]] absl::Status Download(void* dst, const void* src, size_t bytes);
  // Waits for queued work; returns the first asynchronous error (kernel fault, launch failure).
  [[nodiscard]] absl::Status Synchronize();

  // CUDA graphs: work enqueued between BeginCapture and EndCapture is recorded, not run, and
  // replayed by Replay(id). EndCapture returns an id valid for the context's lifetime.
  [[nodiscard]] absl::Status BeginCapture();
  absl::StatusOr<int> EndCapture();
  [[nodiscard]] absl::Status Replay(int graph_id);
  // Changes whenever a kernel scratch buffer is reallocated (a larger shape than any before ran
  // eagerly). Captured graphs hold the old addresses: capture again when it differs from the
  // value at capture time.
  uint64_t ScratchGeneration() const;

  struct Impl;  // CUDA types live in src/cuda only
  Impl& impl() { return *impl_; }

 private:
  explicit Context(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Matrix products (src/cuda/matmul*.cu) -------------------------------------------------
// Same layout and types as trueno::MatMul: W is `rows` rows of `cols` elements of `wtype`
// (quantized blocks as stored in GGUF, uploaded unchanged), X is n_tokens rows of `cols` floats,
// Y[t][r] = sum_c W[r][c] * X[t][c]. Small batches use fused dequantize+matvec kernels; large
// ones dequantize tiles to f16 and use cuBLAS. InvalidArgument / Unimplemented like the CPU one.
bool MatMulSupports(DType wtype);
[[nodiscard]] absl::Status MatMul(Context& ctx, DType wtype, const void* w, int rows, int cols,
                                  const float* x, int n_tokens, float* y);

// Several matrix products of one input, with the layer's element-wise work folded in: the input
// is X = x, X = RmsNorm(x) * rms_weight (per token, epsilon rms_eps), or X = silu(x) * up; each
// output gets Y = W X, plus bias[r] when set, added to Y's previous contents when accumulate.
// The same results as RmsNorm / SiluMul, MatMul per output, AddBias and Add run one after the
// other: at most 8 tokens it is one activation reorder per weight type and one kernel per type
// (outputs of one type share a launch), above that the transformed input is written once and
// each output goes through MatMul's cuBLAS path. Outputs must not overlap x, up or each other.
struct MatMulInput {
  const float* x = nullptr;  // n_tokens x cols
  const float* rms_weight = nullptr;
  float rms_eps = 1e-6f;
  const float* up = nullptr;  // SwiGLU's up projection (n_tokens x cols); not with rms_weight
};
struct MatMulOutput {
  DType wtype = DType::kF32;
  const void* w = nullptr;
  int rows = 0;
  float* y = nullptr;  // n_tokens x rows
  const float* bias = nullptr;
  bool accumulate = false;
};
[[nodiscard]] absl::Status MatMulMulti(Context& ctx, const MatMulInput& in, int cols, int n_tokens,
                                       const MatMulOutput* outs, int n_outs);

// Largest n_tokens MatMul serves with the fused dequantize+dot kernels (default and maximum 8);
// larger batches take the f16-tiles + cuBLAS path. Process-wide; for benchmarks and tuning.
void SetMatVecMaxTokens(int n);

// Q4_K and Q6_K weights at the fused kernels' batch sizes multiply 8-bit activations: the input
// (after its RmsNorm / SwiGLU) is quantized per block of 32 to int8 with scale max|x| / 127
// (round to nearest even), which adds a relative error of ~0.5% to each product in exchange for
// integer dot products on the raw quants. True when MatMul / MatMulMulti do that for `wtype` at
// n_tokens (16-byte aligned activations). SetMatVecQ8(false), or APR_CUDA_Q8=0 in the
// environment, keeps float activations everywhere (process-wide; for A/B runs and tests).
bool MatMulQuantizesActivations(DType wtype, int n_tokens);
void SetMatVecQ8(bool on);

// Batches of 9..N rows of Q4_K / Q6_K weights run integer tensor-core products (mma.sync int8)
// on the same 8-bit activations; larger ones take the f16-tiles + cuBLAS path. Default N = 16:
// up to there the tensor-core kernel measured faster than cuBLAS on every 7B product shape (H200,
// docs/benchmarks.md "GPU kernels"); N is clamped to [8, 64] (8 turns the kernel off;
// APR_CUDA_MMQ=0 in the environment does too). Process-wide; for benchmarks, tests and tuning.
void SetMatMulInt8MaxTokens(int n);

// out[i][:] = dequantized row ids[i] of `table` (n_rows rows of `dim` elements of `type`).
// Ids out of range produce zeros (the caller validates ids on the host first).
[[nodiscard]] absl::Status EmbedRows(Context& ctx, DType type, const void* table, int n_rows,
                                     int dim, const int32_t* ids, int n, float* out);

}  // namespace trueno::cuda
