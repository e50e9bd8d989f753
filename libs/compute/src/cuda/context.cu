// Device discovery, device buffers and the execution context (stream, cuBLAS, staging, graphs).
#include <cstring>
#include <string>
#include <utility>

#include "context_impl.h"
#include "cuda_check.h"
#include "trueno/cuda.h"

namespace trueno::cuda {
namespace {

constexpr size_t kPinnedBytes = size_t{64} << 20;  // staging chunk for uploads

std::string MiB(size_t bytes) { return std::to_string((bytes + (1u << 19)) >> 20) + " MiB"; }

}  // namespace

bool Compiled() { return true; }

int DeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

absl::StatusOr<DeviceInfo> QueryDevice(int index) {
  int n = DeviceCount();
  if (index < 0 || index >= n) {
    return absl::FailedPreconditionError(
        n == 0 ? std::string("no CUDA device found (driver missing or no GPU); run with --no-gpu")
               : "CUDA device " + std::to_string(index) + " does not exist (" + std::to_string(n) +
                     " found)");
  }
  cudaDeviceProp prop;
  TRUENO_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, index));
  DeviceInfo info;
  info.index = index;
  info.name = prop.name;
  info.sm_major = prop.major;
  info.sm_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.total_bytes = prop.totalGlobalMem;
  info.mem_bus_bits = prop.memoryBusWidth;
  int clk = 0;
  if (cudaDeviceGetAttribute(&clk, cudaDevAttrClockRate, index) == cudaSuccess) {
    info.sm_clock_mhz = clk / 1000;
  }
  if (cudaDeviceGetAttribute(&clk, cudaDevAttrMemoryClockRate, index) == cudaSuccess) {
    info.mem_clock_mhz = clk / 1000;
  }
  cudaGetLastError();
  TRUENO_CUDA_RETURN_IF_ERROR(cudaDriverGetVersion(&info.driver_version));
  TRUENO_CUDA_RETURN_IF_ERROR(cudaRuntimeGetVersion(&info.runtime_version));
  int prev = 0;
  TRUENO_CUDA_RETURN_IF_ERROR(cudaGetDevice(&prev));
  TRUENO_CUDA_RETURN_IF_ERROR(cudaSetDevice(index));
  size_t free_b = 0, total_b = 0;
  cudaError_t err = cudaMemGetInfo(&free_b, &total_b);
  cudaSetDevice(prev);
  TRUENO_CUDA_RETURN_IF_ERROR(err);
  info.free_bytes = free_b;
  return info;
}

// ---- DeviceBuffer ------------------------------------------------------------------------

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes, const std::string& what) {
  DeviceBuffer buf;
  if (bytes == 0) return buf;
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaGetLastError();
    if (err == cudaErrorMemoryAllocation) {
      return absl::ResourceExhaustedError("GPU out of memory allocating " + what + ": needs " +
                                          MiB(bytes) + ", " + MiB(free_b) + " free of " +
                                          MiB(total_b));
    }
    return internal::CudaError(err, ("cudaMalloc for " + what).c_str(), __FILE__, __LINE__);
  }
  buf.ptr_ = p;
  buf.bytes_ = bytes;
  return buf;
}

// ---- PinnedBuffer ------------------------------------------------------------------------

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFreeHost(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_ != nullptr) cudaFreeHost(ptr_);
}

absl::StatusOr<PinnedBuffer> PinnedBuffer::Allocate(size_t bytes) {
  PinnedBuffer buf;
  if (bytes == 0) return buf;
  void* p = nullptr;
  cudaError_t err = cudaMallocHost(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (err == cudaErrorMemoryAllocation) {
      return absl::ResourceExhaustedError("cannot lock " + MiB(bytes) + " of host memory");
    }
    return internal::CudaError(err, "cudaMallocHost", __FILE__, __LINE__);
  }
  buf.ptr_ = p;
  buf.bytes_ = bytes;
  return buf;
}

// ---- Context ------------------------------------------------------------------------------

Context::Context(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Context::~Context() {
  if (!impl_) return;
  cudaSetDevice(impl_->device);
  if (impl_->stream != nullptr) cudaStreamSynchronize(impl_->stream);
  for (cudaGraphExec_t g : impl_->graphs) cudaGraphExecDestroy(g);
  impl_->scratch.clear();
  if (impl_->cublas != nullptr) impl_->blas->destroy(impl_->cublas);
  if (impl_->pinned != nullptr) cudaFreeHost(impl_->pinned);
  if (impl_->stream != nullptr) cudaStreamDestroy(impl_->stream);
}

absl::StatusOr<std::unique_ptr<Context>> Context::Create(int device) {
  absl::StatusOr<DeviceInfo> info = QueryDevice(device);
  if (!info.ok()) return info.status();
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  std::unique_ptr<Context> ctx(new Context(std::move(impl)));
  Impl& m = *ctx->impl_;
  TRUENO_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  TRUENO_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking));
  absl::StatusOr<const internal::CublasApi*> blas = internal::Cublas();
  if (!blas.ok()) return blas.status();
  m.blas = *blas;
  TRUENO_CUBLAS_RETURN_IF_ERROR(m.blas->create(&m.cublas));
  TRUENO_CUBLAS_RETURN_IF_ERROR(m.blas->set_stream(m.cublas, m.stream));
  TRUENO_CUDA_RETURN_IF_ERROR(cudaMallocHost(&m.pinned, kPinnedBytes));
  m.pinned_bytes = kPinnedBytes;
  return ctx;
}

int Context::device() const { return impl_->device; }
uint64_t Context::ScratchGeneration() const { return impl_->scratch_generation; }

absl::Status Context::Upload(void* dst, const void* src, size_t bytes) {
  TRUENO_CUDA_RETURN_IF_ERROR(cudaSetDevice(impl_->device));
  const auto* s = static_cast<const char*>(src);
  auto* d = static_cast<char*>(dst);
  // Chunks through the pinned buffer: each chunk is copied in, sent, and waited for before the
  // buffer is reused, so the caller's memory needs no pinning and may be an mmapped file.
  for (size_t off = 0; off < bytes; off += impl_->pinned_bytes) {
    size_t n = std::min(impl_->pinned_bytes, bytes - off);
    std::memcpy(impl_->pinned, s + off, n);
    TRUENO_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(d + off, impl_->pinned, n, cudaMemcpyHostToDevice, impl_->stream));
    TRUENO_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(impl_->stream));
  }
  return absl::OkStatus();
}

absl::Status Context::Download(void* dst, const void* src, size_t bytes) {
  TRUENO_CUDA_RETURN_IF_ERROR(cudaSetDevice(impl_->device));
  TRUENO_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, impl_->stream));
  TRUENO_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(impl_->stream));
  return absl::OkStatus();
}

absl::Status Context::Synchronize() {
  TRUENO_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(impl_->stream));
  TRUENO_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status Context::BeginCapture() {
  if (impl_->capturing) return absl::FailedPreconditionError("graph capture already active");
  TRUENO_CUDA_RETURN_IF_ERROR(
      cudaStreamBeginCapture(impl_->stream, cudaStreamCaptureModeThreadLocal));
  impl_->capturing = true;
  return absl::OkStatus();
}

absl::StatusOr<int> Context::EndCapture() {
  if (!impl_->capturing) return absl::FailedPreconditionError("no graph capture active");
  impl_->capturing = false;
  cudaGraph_t graph = nullptr;
  TRUENO_CUDA_RETURN_IF_ERROR(cudaStreamEndCapture(impl_->stream, &graph));
  cudaGraphExec_t exec = nullptr;
  cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  TRUENO_CUDA_RETURN_IF_ERROR(err);
  impl_->graphs.push_back(exec);
  return static_cast<int>(impl_->graphs.size()) - 1;
}

absl::Status Context::Replay(int graph_id) {
  if (graph_id < 0 || graph_id >= static_cast<int>(impl_->graphs.size())) {
    return absl::InvalidArgumentError("unknown CUDA graph id " + std::to_string(graph_id));
  }
  TRUENO_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(impl_->graphs[graph_id], impl_->stream));
  return absl::OkStatus();
}

absl::StatusOr<void*> Context::Impl::Scratch(size_t bytes, int slot) {
  if (slot < 0) return absl::InvalidArgumentError("negative scratch slot");
  if (scratch.size() <= static_cast<size_t>(slot)) scratch.resize(slot + 1);
  DeviceBuffer& buf = scratch[slot];
  if (buf.size() < bytes) {
    if (capturing) {
      return absl::FailedPreconditionError(
          "CUDA scratch must be grown before graph capture (warm up with the same shapes)");
    }
    TRUENO_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
    absl::StatusOr<DeviceBuffer> grown =
        DeviceBuffer::Allocate(bytes, "kernel scratch (" + std::to_string(bytes) + " bytes)");
    if (!grown.ok()) return grown.status();
    buf = std::move(*grown);
    ++scratch_generation;
  }
  return buf.data();
}

}  // namespace trueno::cuda
