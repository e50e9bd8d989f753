// The CUDA entry points of a CPU-only build: they exist so callers need no #ifdefs, and fail
// with FailedPrecondition naming the reason.
#include "trueno/cuda.h"
#include "trueno/cuda_ops.h"

#if !defined(TRUENO_HAVE_CUDA)

namespace trueno::cuda {
namespace {
absl::Status NotBuilt() {
  return absl::FailedPreconditionError(
      "this apr build has no CUDA backend (configured without nvcc); run on the CPU (--no-gpu) "
      "or rebuild with the CUDA toolkit installed");
}
}  // namespace

bool Compiled() { return false; }
int DeviceCount() { return 0; }
absl::StatusOr<DeviceInfo> QueryDevice(int) { return NotBuilt(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&&) noexcept {}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&&) noexcept { return *this; }
DeviceBuffer::~DeviceBuffer() = default;
absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t, const std::string&) {
  return NotBuilt();
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&&) noexcept {}
PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&&) noexcept { return *this; }
PinnedBuffer::~PinnedBuffer() = default;
absl::StatusOr<PinnedBuffer> PinnedBuffer::Allocate(size_t) { return NotBuilt(); }

struct Context::Impl {};
Context::Context(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Context::~Context() = default;
absl::StatusOr<std::unique_ptr<Context>> Context::Create(int) { return NotBuilt(); }
int Context::device() const { return -1; }
uint64_t Context::ScratchGeneration() const { return 0; }
absl::Status Context::Upload(void*, const void*, size_t) { return NotBuilt(); }
absl::Status Context::Download(void*, const void*, size_t) { return NotBuilt(); }
absl::Status Context::Synchronize() { return NotBuilt(); }
absl::Status Context::BeginCapture() { return NotBuilt(); }
absl::StatusOr<int> Context::EndCapture() { return NotBuilt(); }
absl::Status Context::Replay(int) { return NotBuilt(); }

bool MatMulSupports(DType) { return false; }
void SetMatVecMaxTokens(int) {}
bool MatMulQuantizesActivations(DType, int) { return false; }
void SetMatVecQ8(bool) {}
void SetMatMulInt8MaxTokens(int) {}
absl::Status MatMul(Context&, DType, const void*, int, int, const float*, int, float*) {
  return NotBuilt();
}
absl::Status MatMulMulti(Context&, const MatMulInput&, int, int, const MatMulOutput*, int) {
  return NotBuilt();
}
absl::Status EmbedRows(Context&, DType, const void*, int, int, const int32_t*, int, float*) {
  return NotBuilt();
}

absl::Status RmsNorm(Context&, const float*, const float*, int, int, float, float*) {
  return NotBuilt();
}
absl::Status Add(Context&, const float*, const float*, float*, int64_t) { return NotBuilt(); }
absl::Status AddBias(Context&, float*, const float*, int, int) { return NotBuilt(); }
absl::Status SiluMul(Context&, const float*, const float*, float*, int64_t) { return NotBuilt(); }
absl::Status Rope(Context&, float*, int, int, int, const int32_t*, const RopeConfig&) {
  return NotBuilt();
}
absl::Status KvStore(Context&, const PagedKvLayer&, const float*, const float*, int,
                     const RowMap&) {
  return NotBuilt();
}
absl::Status RopeKvStore(Context&, const PagedKvLayer&, float*, float*, const float*, int, int,
                         const RowMap&, const RopeConfig&) {
  return NotBuilt();
}
absl::Status AttentionDecode(Context&, const PagedKvLayer&, const float*, int, int, float,
                             const RowMap&, int, float*) {
  return NotBuilt();
}
absl::Status AttentionPrefill(Context&, const PagedKvLayer&, const float*, int, int, float,
                              const int32_t*, int, float*) {
  return NotBuilt();
}
absl::Status UploadAsync(Context&, void*, const void*, size_t) { return NotBuilt(); }
absl::StatusOr<double> MeasureCopyBandwidth(int, size_t, int) { return NotBuilt(); }

}  // namespace trueno::cuda

#endif  // !TRUENO_HAVE_CUDA
