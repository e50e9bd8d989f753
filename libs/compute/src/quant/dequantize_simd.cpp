// Runtime dispatch of the Highway dequantize kernels (dequantize_simd-inl.h) behind
// DequantizeRowFast; every other type goes to the scalar reference.
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/dequantize_simd-inl.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "quant/dequantize_simd-inl.h"

#if HWY_ONCE
#include "trueno/quantize.h"

namespace trueno {
namespace quant {

HWY_EXPORT(DequantizeF16Simd);
HWY_EXPORT(DequantizeBF16Simd);
HWY_EXPORT(DequantizeQ8_0Simd);
HWY_EXPORT(DequantizeQ4_0Simd);
HWY_EXPORT(DequantizeQ4_KSimd);
HWY_EXPORT(DequantizeQ5_KSimd);
HWY_EXPORT(DequantizeQ6_KSimd);

}  // namespace quant

absl::Status DequantizeRowFast(DType type, const uint8_t* src, float* dst, size_t n) {
  const auto traits = GetDTypeTraits(static_cast<uint32_t>(type));
  if (!traits || n == 0 || src == nullptr || dst == nullptr || n % traits->block_elems != 0) {
    return DequantizeRow(type, src, dst, n);  // reports the error, or does nothing for n == 0
  }
  const size_t nb = n / traits->block_elems;
  switch (type) {
    case DType::kF16:
      HWY_DYNAMIC_DISPATCH(quant::DequantizeF16Simd)(src, dst, n);
      break;
    case DType::kBF16:
      HWY_DYNAMIC_DISPATCH(quant::DequantizeBF16Simd)(src, dst, n);
      break;
    case DType::kQ8_0:
      HWY_DYNAMIC_DISPATCH(quant::DequantizeQ8_0Simd)(src, dst, nb);
      break;
    case DType::kQ4_0:
      HWY_DYNAMIC_DISPATCH(quant::DequantizeQ4_0Simd)(src, dst, nb);
      break;
    case DType::kQ4_K:
      HWY_DYNAMIC_DISPATCH(quant::DequantizeQ4_KSimd)(src, dst, nb);
      break;
    case DType::kQ5_K:
      HWY_DYNAMIC_DISPATCH(quant::DequantizeQ5_KSimd)(src, dst, nb);
      break;
    case DType::kQ6_K:
      HWY_DYNAMIC_DISPATCH(quant::DequantizeQ6_KSimd)(src, dst, nb);
      break;
    default:
      return DequantizeRow(type, src, dst, n);
  }
  return absl::OkStatus();
}

}  // namespace trueno
#endif  // HWY_ONCE
