// MatVec/MatMul: activation quantization, row partitioning over the thread arena, and dynamic
// dispatch to the per-target bodies in matvec-inl.h.
#include <cstddef>
#include <cstdint>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/matvec.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "cpu/matvec-inl.h"
#include "hwy/highway.h"

#if HWY_ONCE
#include "cpu/act_quant.h"
#include "cpu/threading.h"
#include "trueno/kernels.h"
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
      return true;
    default:
      return false;
  }
}

absl::Status MatMul(DType wtype, const uint8_t* w, int rows, int cols, const float* X, int n_tokens,
                    float* Y) {
  if (!MatVecSupports(wtype)) {
    return absl::UnimplementedError(Concat("MatMul: weight type ", DTypeName(wtype),
                                           " is not supported (supported: f32, f16, bf16, q8_0, "
                                           "q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K)"));
  }
  if (rows <= 0 || cols <= 0 || n_tokens <= 0 || w == nullptr || X == nullptr || Y == nullptr) {
    return absl::InvalidArgumentError(Concat("MatMul: invalid shape rows=", rows, " cols=", cols,
                                             " n_tokens=", n_tokens, " or null pointer"));
  }
  const DTypeTraits& tr = Traits(wtype);
  if (cols % static_cast<int>(tr.block_elems) != 0) {
    return absl::InvalidArgumentError(Concat("MatMul: cols=", cols, " is not a multiple of the ",
                                             tr.name, " block size ", tr.block_elems));
  }
  const size_t row_bytes = static_cast<size_t>(cols) / tr.block_elems * tr.block_bytes;

  // Quantize the activations once per token; every weight row reuses them.
  std::vector<uint8_t> quantized;
  const uint8_t* act = reinterpret_cast<const uint8_t*>(X);
  size_t act_stride = static_cast<size_t>(cols) * sizeof(float);
  if (tr.quantized && tr.block_elems == kQK) {  // legacy block types
    act_stride = static_cast<size_t>(cols / kQK) * sizeof(cpu::ActQ8_0);
    quantized.resize(act_stride * n_tokens);
    cpu::ParallelFor(n_tokens, 16, [&](int begin, int end) {
      for (int t = begin; t < end; ++t) {
        cpu::QuantizeActQ8_0(X + static_cast<size_t>(t) * cols, cols,
                             reinterpret_cast<cpu::ActQ8_0*>(quantized.data() + t * act_stride));
      }
    });
    act = quantized.data();
  } else if (wtype == DType::kQ4_K || wtype == DType::kQ5_K || wtype == DType::kQ6_K) {
    act_stride = static_cast<size_t>(cols / kQKK) * sizeof(BlockQ8_K);
    quantized.resize(act_stride * n_tokens);
    cpu::ParallelFor(n_tokens, 16, [&](int begin, int end) {
      for (int t = begin; t < end; ++t) {
        cpu::QuantizeActQ8_K(X + static_cast<size_t>(t) * cols, cols,
                             reinterpret_cast<BlockQ8_K*>(quantized.data() + t * act_stride));
      }
    });
    act = quantized.data();
  }

  // Enough rows per chunk that a chunk reads at least ~16 KiB of weights.
  const int grain = static_cast<int>(
      std::max<size_t>(1, 16384 / (row_bytes * static_cast<size_t>(n_tokens) + 1)));
  const auto body = HWY_DYNAMIC_DISPATCH(MatMulRows);
  cpu::ParallelFor(rows, grain, [&](int begin, int end) {
    body(wtype, w, row_bytes, begin, end, cols, act, act_stride, n_tokens, Y, rows);
  });
  return absl::OkStatus();
}

absl::Status MatVec(DType wtype, const uint8_t* w, int rows, int cols, const float* x, float* y) {
  return MatMul(wtype, w, rows, cols, x, 1, y);
}

}  // namespace trueno
#endif  // HWY_ONCE
