#include "cublas_api.h"

#include <dlfcn.h>

#include <string>

namespace trueno::cuda::internal {
namespace {

template <typename Fn>
bool Resolve(void* lib, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(lib, name));
  return *out != nullptr;
}

absl::StatusOr<const CublasApi*> Load() {
  static CublasApi api;
  // The soname of the toolkit we compiled against first, then the unversioned development link.
  const std::string versioned = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* lib = dlopen(versioned.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) lib = dlopen("libcublas.so", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return absl::FailedPreconditionError(
        "cannot load cuBLAS (" + versioned + "): " + (why ? why : "not found") +
        "; install the CUDA toolkit's cuBLAS or add its lib directory to LD_LIBRARY_PATH");
  }
  bool ok = Resolve(lib, "cublasCreate_v2", &api.create) &&
            Resolve(lib, "cublasDestroy_v2", &api.destroy) &&
            Resolve(lib, "cublasSetStream_v2", &api.set_stream) &&
            Resolve(lib, "cublasSetMathMode", &api.set_math_mode) &&
            Resolve(lib, "cublasSetWorkspace_v2", &api.set_workspace) &&
            Resolve(lib, "cublasGemmEx", &api.gemm_ex) &&
            Resolve(lib, "cublasSgemm_v2", &api.sgemm) &&
            Resolve(lib, "cublasGemmStridedBatchedEx", &api.gemm_strided_batched_ex);
  if (!ok) {
    return absl::FailedPreconditionError("cuBLAS (" + versioned +
                                         ") lacks an entry point apr needs: " + dlerror());
  }
  return &api;
}

}  // namespace

absl::StatusOr<const CublasApi*> Cublas() {
  static const absl::StatusOr<const CublasApi*> result = Load();  // thread-safe, once
  return result;
}

}  // namespace trueno::cuda::internal
