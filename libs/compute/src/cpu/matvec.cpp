// MatVec/MatMul: activation quantization, row partitioning over the thread arena, and dynamic
// dispatch to the per-target bodies in matvec-inl.h.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/matvec.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "cpu/matvec-inl.h"
#include "hwy/highway.h"

#if HWY_ONCE
#include "cpu/act_quant.h"
#include "cpu/matvec_lowk.h"
#include "cpu/threading.h"
#include "trueno/kernels.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace trueno {

HWY_EXPORT(MatMulRows);

bool MatVecSupports(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ2_K:
    case DType::kQ3_K:
      return true;
    default:
      return false;
  }
}

namespace {

absl::Status CheckProduct(const char* what, DType wtype, const uint8_t* w, int rows, int cols,
                          const float* X, int n_tokens, const float* Y) {
  if (!MatVecSupports(wtype)) {
    return absl::UnimplementedError(
        Concat(what, ": weight type ", DTypeName(wtype),
               " is not supported (supported: f32, f16, bf16, q8_0, "
               "q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K)"));
  }
  if (rows <= 0 || cols <= 0 || n_tokens <= 0 || w == nullptr || X == nullptr || Y == nullptr) {
    return absl::InvalidArgumentError(Concat(what, ": invalid shape rows=", rows, " cols=", cols,
                                             " n_tokens=", n_tokens, " or null pointer"));
  }
  const DTypeTraits& tr = Traits(wtype);
  if (cols % static_cast<int>(tr.block_elems) != 0) {
    return absl::InvalidArgumentError(Concat(what, ": cols=", cols, " is not a multiple of the ",
                                             tr.name, " block size ", tr.block_elems));
  }
  return absl::OkStatus();
}

// The activation format a weight type's integer dot products read.
enum class ActFormat { kFloat = 0, kQ8_0 = 1, kQ8_K = 2 };

ActFormat FormatOf(DType wtype) {
  const DTypeTraits& tr = Traits(wtype);
  if (tr.quantized && tr.block_elems == kQK) return ActFormat::kQ8_0;  // legacy block types
  if (tr.quantized && tr.block_elems == kQKK) {                        // K types
    return ActFormat::kQ8_K;
  }
  return ActFormat::kFloat;
}

struct Activations {
  const uint8_t* data = nullptr;
  size_t stride = 0;  // bytes per token
};

// Quantizes the n_tokens rows of X once for every weight row that reads `format`. The buffer is
// per calling thread and per format, reused across calls.
Activations PrepareActivations(ActFormat format, const float* X, int cols, int n_tokens) {
  if (format == ActFormat::kFloat) {
    return {reinterpret_cast<const uint8_t*>(X), static_cast<size_t>(cols) * sizeof(float)};
  }
  thread_local std::vector<uint8_t> buffers[3];
  std::vector<uint8_t>& buf = buffers[static_cast<int>(format)];
  Activations a;
  if (format == ActFormat::kQ8_0) {
    a.stride = static_cast<size_t>(cols / kQK) * sizeof(cpu::ActQ8_0);
  } else {
    a.stride = static_cast<size_t>(cols / kQKK) * sizeof(BlockQ8_K);
  }
  if (buf.size() < a.stride * n_tokens) buf.resize(a.stride * n_tokens);
  uint8_t* out = buf.data();
  const size_t stride = a.stride;
  cpu::ParallelFor(n_tokens, 16, [&](int begin, int end) {
    for (int t = begin; t < end; ++t) {
      const float* x = X + static_cast<size_t>(t) * cols;
      if (format == ActFormat::kQ8_0) {
        cpu::QuantizeActQ8_0(x, cols, reinterpret_cast<cpu::ActQ8_0*>(out + t * stride));
      } else {
        cpu::QuantizeActQ8_K(x, cols, reinterpret_cast<BlockQ8_K*>(out + t * stride));
      }
    }
  });
  a.data = out;
  return a;
}

size_t RowBytes(DType wtype, int cols) {
  const DTypeTraits& tr = Traits(wtype);
  return static_cast<size_t>(cols) / tr.block_elems * tr.block_bytes;
}

}  // namespace

absl::Status MatMul(DType wtype, const uint8_t* w, int rows, int cols, const float* X, int n_tokens,
                    float* Y) {
  const MatMulJob job{wtype, w, rows, Y};
  return MatMulMulti(std::span<const MatMulJob>(&job, 1), cols, X, n_tokens);
}

absl::Status MatMulMulti(std::span<const MatMulJob> jobs, int cols, const float* X, int n_tokens) {
  if (jobs.empty()) return absl::OkStatus();
  const char* what = jobs.size() == 1 ? "MatMul" : "MatMulMulti";
  bool needs[3] = {false, false, false};
  int total_rows = 0;
  size_t total_bytes = 0;
  for (const MatMulJob& j : jobs) {
    APR_RETURN_IF_ERROR(CheckProduct(what, j.wtype, j.w, j.rows, cols, X, n_tokens, j.Y));
    if (total_rows > (1 << 30) - j.rows) {
      return absl::InvalidArgumentError(Concat(what, ": more than 2^30 rows in one call"));
    }
    needs[static_cast<int>(FormatOf(j.wtype))] = true;
    total_rows += j.rows;
    total_bytes += RowBytes(j.wtype, cols) * static_cast<size_t>(j.rows);
  }
  Activations acts[3];
  for (int f = 0; f < 3; ++f) {
    if (needs[f]) acts[f] = PrepareActivations(static_cast<ActFormat>(f), X, cols, n_tokens);
  }
  // The Q5_0 / Q8_0 kernels read the activations packed per token (cpu::ActQ8_0Pack): built
  // here once instead of per weight row.
  const cpu::ActQ8_0Pack* packs = nullptr;
  if (needs[static_cast<int>(ActFormat::kQ8_0)]) {
    thread_local std::vector<uint8_t> pack_buf;
    thread_local std::vector<cpu::ActQ8_0Pack> pack_list;
    const int nb = cols / kQK;
    const size_t bytes = cpu::ActQ8_0PackBytes(nb);
    if (pack_buf.size() < bytes * n_tokens) pack_buf.resize(bytes * n_tokens);
    if (pack_list.size() < static_cast<size_t>(n_tokens)) pack_list.resize(n_tokens);
    const Activations& a = acts[static_cast<int>(ActFormat::kQ8_0)];
    uint8_t* buf = pack_buf.data();
    cpu::ActQ8_0Pack* list = pack_list.data();
    cpu::ParallelFor(n_tokens, 16, [&](int begin, int end) {
      for (int t = begin; t < end; ++t) {
        list[t] = cpu::PackActQ8_0(
            reinterpret_cast<const cpu::ActQ8_0*>(a.data + static_cast<size_t>(t) * a.stride), nb,
            buf + static_cast<size_t>(t) * bytes);
      }
    });
    packs = list;
  }

  // Enough rows per chunk that a chunk reads at least ~16 KiB of weights.
  const size_t mean_row_bytes = total_bytes / static_cast<size_t>(total_rows);
  const int grain = static_cast<int>(
      std::max<size_t>(1, 16384 / (mean_row_bytes * static_cast<size_t>(n_tokens) + 1)));
  const auto body = HWY_DYNAMIC_DISPATCH(MatMulRows);
  cpu::ParallelFor(total_rows, grain, [&](int begin, int end) {
    int first = 0;  // first row of the current job in the concatenation
    for (const MatMulJob& j : jobs) {
      const int b = std::max(begin, first), e = std::min(end, first + j.rows);
      if (b < e) {
        const Activations& a = acts[static_cast<int>(FormatOf(j.wtype))];
        const bool low_k = j.wtype == DType::kQ2_K || j.wtype == DType::kQ3_K;
        if (low_k) {
          cpu::MatMulRowsLowK(j.wtype, j.w, RowBytes(j.wtype, cols), b - first, e - first, cols,
                              a.data, a.stride, n_tokens, j.Y, j.rows);
        } else {
          body(j.wtype, j.w, RowBytes(j.wtype, cols), b - first, e - first, cols, a.data, a.stride,
               n_tokens, j.Y, j.rows, FormatOf(j.wtype) == ActFormat::kQ8_0 ? packs : nullptr);
        }
      }
      first += j.rows;
      if (first >= end) break;
    }
  });
  return absl::OkStatus();
}

absl::Status MatVec(DType wtype, const uint8_t* w, int rows, int cols, const float* x, float* y) {
  return MatMul(wtype, w, rows, cols, x, 1, y);
}

}  // namespace trueno
#endif  // HWY_ONCE
