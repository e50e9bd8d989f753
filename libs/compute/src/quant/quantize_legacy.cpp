// Quantizers for the 32-element block types, plus the public QuantizeRow/CanQuantize dispatch.
// The legacy types use the classic closed-form scale (the value of largest magnitude maps onto
// the end of the integer range), which is what every GGUF consumer expects from them.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/k_search.h"
#include "quant/quant_internal.h"
#include "trueno/half.h"
#include "trueno/quant_blocks.h"
#include "trueno/quantize.h"
#include "trueno/str_cat.h"

namespace trueno {
namespace quant {
namespace {

// The signed element of largest magnitude (first one on ties) and its magnitude.
void SignedAbsMax(const float* x, int n, float* max, float* amax) {
  *amax = 0.0f;
  *max = 0.0f;
  for (int j = 0; j < n; ++j) {
    const float a = std::fabs(x[j]);
    if (a > *amax) {
      *amax = a;
      *max = x[j];
    }
  }
}

void MinMax(const float* x, int n, float* min, float* max) {
  *min = x[0];
  *max = x[0];
  for (int j = 1; j < n; ++j) {
    *min = std::min(*min, x[j]);
    *max = std::max(*max, x[j]);
  }
}

// Symmetric nb-bit block: d = max / -(2^(bits-1)), q = clamp(floor(x/d + 2^(bits-1) + 0.5)).
template <int kHalf>
void QuantizeSymmetric32(const float* x, float* d_out, uint8_t* q) {
  float max, amax;
  SignedAbsMax(x, kQK, &max, &amax);
  const float d = max / -static_cast<float>(kHalf);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  *d_out = d;
  for (int j = 0; j < kQK; ++j) {
    q[j] = static_cast<uint8_t>(
        std::clamp(FloorInt(x[j] * id + static_cast<float>(kHalf) + 0.5f), 0, 2 * kHalf - 1));
  }
}

// Affine nb-bit block: x = d*q + min, d = (max-min)/(2^bits - 1).
template <int kLevels>
void QuantizeAffine32(const float* x, float* d_out, float* m_out, uint8_t* q) {
  float min, max;
  MinMax(x, kQK, &min, &max);
  const float d = (max - min) / static_cast<float>(kLevels - 1);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  *d_out = d;
  *m_out = min;
  for (int j = 0; j < kQK; ++j) {
    q[j] = static_cast<uint8_t>(std::clamp(FloorInt((x[j] - min) * id + 0.5f), 0, kLevels - 1));
  }
}

void PackNibbles(const uint8_t* q, uint8_t* qs) {
  for (int j = 0; j < kQK / 2; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + kQK / 2] & 0xF) << 4));
  }
}

void PackHighBits(const uint8_t* q, uint8_t* qh) {
  uint32_t bits = 0;
  for (int j = 0; j < kQK; ++j) bits |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(bits >> (8 * k));
}

}  // namespace

void QuantizeQ4_0(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQK) {
    BlockQ4_0 b{};
    float d;
    uint8_t q[kQK];
    QuantizeSymmetric32<8>(src, &d, q);
    b.d = Fp32ToFp16(d);
    PackNibbles(q, b.qs);
    StoreBlock(b, dst, i);
  }
}

void QuantizeQ4_1(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQK) {
    BlockQ4_1 b{};
    float d, m;
    uint8_t q[kQK];
    QuantizeAffine32<16>(src, &d, &m, q);
    b.d = Fp32ToFp16(d);
    b.m = Fp32ToFp16(m);
    PackNibbles(q, b.qs);
    StoreBlock(b, dst, i);
  }
}

void QuantizeQ5_0(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQK) {
    BlockQ5_0 b{};
    float d;
    uint8_t q[kQK];
    QuantizeSymmetric32<16>(src, &d, q);
    b.d = Fp32ToFp16(d);
    PackNibbles(q, b.qs);
    PackHighBits(q, b.qh);
    StoreBlock(b, dst, i);
  }
}

void QuantizeQ5_1(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQK) {
    BlockQ5_1 b{};
    float d, m;
    uint8_t q[kQK];
    QuantizeAffine32<32>(src, &d, &m, q);
    b.d = Fp32ToFp16(d);
    b.m = Fp32ToFp16(m);
    PackNibbles(q, b.qs);
    PackHighBits(q, b.qh);
    StoreBlock(b, dst, i);
  }
}

namespace {

// Q8_0/Q8_1 share the body: d = amax/127, q = round(x/d).
float QuantizeQ8Block(const float* x, int8_t* qs) {
  float max, amax;
  SignedAbsMax(x, kQK, &max, &amax);
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kQK; ++j)
    qs[j] = static_cast<int8_t>(std::clamp(NearestInt(x[j] * id), -127, 127));
  return d;
}

}  // namespace

void QuantizeQ8_0(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQK) {
    BlockQ8_0 b{};
    b.d = Fp32ToFp16(QuantizeQ8Block(src, b.qs));
    StoreBlock(b, dst, i);
  }
}

void QuantizeQ8_1(const float* src, uint8_t* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, src += kQK) {
    BlockQ8_1 b{};
    const float d = QuantizeQ8Block(src, b.qs);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += b.qs[j];
    b.d = Fp32ToFp16(d);
    b.s = Fp32ToFp16(static_cast<float>(sum) * d);
    StoreBlock(b, dst, i);
  }
}

}  // namespace quant

bool CanQuantize(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ8_1:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ8_K:
      return true;
    default:
      return false;
  }
}

absl::Status QuantizeRow(DType type, const float* src, uint8_t* dst, size_t n) {
  if (!CanQuantize(type)) {
    return absl::UnimplementedError(Concat(
        "QuantizeRow: quantizing to ", DTypeName(type), " (type id ", static_cast<uint32_t>(type),
        ") is not implemented; pick a type CanQuantize accepts"));
  }
  const auto& traits = Traits(type);
  if (n % traits.block_elems != 0) {
    return absl::InvalidArgumentError(Concat("QuantizeRow: ", n,
                                             " elements is not a multiple of the ", traits.name,
                                             " block size ", traits.block_elems));
  }
  if (n == 0) return absl::OkStatus();
  if (src == nullptr || dst == nullptr) {
    return absl::InvalidArgumentError("QuantizeRow: null source or destination");
  }
  const size_t nb = n / traits.block_elems;
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      break;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = Fp32ToFp16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      break;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = Fp32ToBf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      break;
    case DType::kQ4_0:
      quant::QuantizeQ4_0(src, dst, nb);
      break;
    case DType::kQ4_1:
      quant::QuantizeQ4_1(src, dst, nb);
      break;
    case DType::kQ5_0:
      quant::QuantizeQ5_0(src, dst, nb);
      break;
    case DType::kQ5_1:
      quant::QuantizeQ5_1(src, dst, nb);
      break;
    case DType::kQ8_0:
      quant::QuantizeQ8_0(src, dst, nb);
      break;
    case DType::kQ8_1:
      quant::QuantizeQ8_1(src, dst, nb);
      break;
    case DType::kQ2_K:
      quant::QuantizeQ2_K(src, dst, nb);
      break;
    case DType::kQ3_K:
      quant::QuantizeQ3_K(src, dst, nb);
      break;
    case DType::kQ4_K:
      quant::QuantizeQ4_K(src, dst, nb);
      break;
    case DType::kQ5_K:
      quant::QuantizeQ5_K(src, dst, nb);
      break;
    case DType::kQ6_K:
      quant::QuantizeQ6_K(src, dst, nb);
      break;
    case DType::kQ8_K:
      quant::QuantizeQ8_K(src, dst, nb);
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

}  // namespace trueno
