// Scalar reference dequantization. The arithmetic order (float products, then the offset) follows
// the published GGML reference so results are bit-identical with llama.cpp's dequantizer.
#include <cstring>

#include "quant/k_scales.h"
#include "quant/quant_internal.h"
#include "trueno/half.h"
#include "trueno/quant_blocks.h"
#include "trueno/quantize.h"
#include "trueno/str_cat.h"

namespace trueno {
namespace quant {

// Normal numbers (the common case for weights) by rebiasing the exponent; zeros, subnormals,
// Inf and NaN through the general conversion. Bit-identical to Fp16ToFp32.
inline float HalfToFloat(uint16_t h) {
  const uint32_t exp = h & 0x7C00u;
  if (exp == 0 || exp == 0x7C00u) return Fp16ToFp32(h);
  const uint32_t bits = (static_cast<uint32_t>(h & 0x8000u) << 16) |
                        ((static_cast<uint32_t>(h & 0x7FFFu) << 13) + ((127u - 15u) << 23));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {

inline uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

}  // namespace

void DequantizeQ4_0(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQK) {
    const auto b = LoadBlock<BlockQ4_0>(src, i);
    const float d = Fp16ToFp32(b.d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>((b.qs[j] & 0xF) - 8) * d;
      dst[j + kQK / 2] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
    }
  }
}

void DequantizeQ4_1(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQK) {
    const auto b = LoadBlock<BlockQ4_1>(src, i);
    const float d = Fp16ToFp32(b.d);
    const float m = Fp16ToFp32(b.m);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>(b.qs[j] & 0xF) * d + m;
      dst[j + kQK / 2] = static_cast<float>(b.qs[j] >> 4) * d + m;
    }
  }
}

void DequantizeQ5_0(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQK) {
    const auto b = LoadBlock<BlockQ5_0>(src, i);
    const float d = Fp16ToFp32(b.d);
    const uint32_t qh = LoadU32(b.qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int hi0 = static_cast<int>((qh >> j) & 1u) << 4;
      const int hi1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      dst[j] = static_cast<float>(((b.qs[j] & 0xF) | hi0) - 16) * d;
      dst[j + kQK / 2] = static_cast<float>(((b.qs[j] >> 4) | hi1) - 16) * d;
    }
  }
}

void DequantizeQ5_1(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQK) {
    const auto b = LoadBlock<BlockQ5_1>(src, i);
    const float d = Fp16ToFp32(b.d);
    const float m = Fp16ToFp32(b.m);
    const uint32_t qh = LoadU32(b.qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int hi0 = static_cast<int>((qh >> j) & 1u) << 4;
      const int hi1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      dst[j] = static_cast<float>((b.qs[j] & 0xF) | hi0) * d + m;
      dst[j + kQK / 2] = static_cast<float>((b.qs[j] >> 4) | hi1) * d + m;
    }
  }
}

void DequantizeQ8_0(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQK) {
    const auto b = LoadBlock<BlockQ8_0>(src, i);
    const float d = Fp16ToFp32(b.d);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(b.qs[j]) * d;
  }
}

void DequantizeQ8_1(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQK) {
    const auto b = LoadBlock<BlockQ8_1>(src, i);
    const float d = Fp16ToFp32(b.d);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(b.qs[j]) * d;
  }
}

// Q2_K: element e = 128h + 32g + l of the super-block takes bits 2g of qs[32h + l]; its
// sub-block is e/16.
void DequantizeQ2_K(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQKK) {
    const auto b = LoadBlock<BlockQ2_K>(src, i);
    const float d = Fp16ToFp32(b.d);
    const float dmin = Fp16ToFp32(b.dmin);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = b.qs + 32 * h;
      for (int g = 0; g < 4; ++g) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = b.scales[8 * h + 2 * g + half];
          const float dl = d * static_cast<float>(sc & 0xF);
          const float ml = dmin * static_cast<float>(sc >> 4);
          float* y = dst + 128 * h + 32 * g + 16 * half;
          const uint8_t* qq = q + 16 * half;
          for (int l = 0; l < 16; ++l) y[l] = dl * static_cast<float>((qq[l] >> (2 * g)) & 3) - ml;
        }
      }
    }
  }
}

// Q3_K: as Q2_K for the low 2 bits; the high bit of element e is bit e/32 of hmask[e%32], and a
// clear bit means 4 is subtracted.
void DequantizeQ3_K(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQKK) {
    const auto b = LoadBlock<BlockQ3_K>(src, i);
    const float d_all = Fp16ToFp32(b.d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = b.qs + 32 * h;
      for (int g = 0; g < 4; ++g) {
        const int bit = 4 * h + g;
        for (int half = 0; half < 2; ++half) {
          const int sub = 8 * h + 2 * g + half;
          const float dl = d_all * static_cast<float>(UnpackScaleQ3K(sub, b.scales));
          float* y = dst + 16 * sub;
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int low = (q[l] >> (2 * g)) & 3;
            const int sub4 = ((b.hmask[l] >> bit) & 1) ? 0 : 4;
            y[l - 16 * half] = dl * static_cast<float>(low - sub4);
          }
        }
      }
    }
  }
}

// Q4_K: 64-element chunk c uses qs[32c..32c+31]: low nibbles are sub-block 2c, high nibbles 2c+1.
void DequantizeQ4_K(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQKK) {
    const auto b = LoadBlock<BlockQ4_K>(src, i);
    const float d = Fp16ToFp32(b.d);
    const float dmin = Fp16ToFp32(b.dmin);
    for (int c = 0; c < 4; ++c) {
      uint8_t sc0, m0, sc1, m1;
      UnpackScaleMinK4(2 * c, b.scales, &sc0, &m0);
      UnpackScaleMinK4(2 * c + 1, b.scales, &sc1, &m1);
      const float d0 = d * static_cast<float>(sc0), min0 = dmin * static_cast<float>(m0);
      const float d1 = d * static_cast<float>(sc1), min1 = dmin * static_cast<float>(m1);
      const uint8_t* q = b.qs + 32 * c;
      float* y = dst + 64 * c;
      for (int l = 0; l < 32; ++l) {
        y[l] = d0 * static_cast<float>(q[l] & 0xF) - min0;
        y[l + 32] = d1 * static_cast<float>(q[l] >> 4) - min1;
      }
    }
  }
}

// Q5_K: as Q4_K; the 5th bit of sub-block s (= 2c or 2c+1) element l is bit s of qh[l].
void DequantizeQ5_K(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQKK) {
    const auto b = LoadBlock<BlockQ5_K>(src, i);
    const float d = Fp16ToFp32(b.d);
    const float dmin = Fp16ToFp32(b.dmin);
    for (int c = 0; c < 4; ++c) {
      uint8_t sc0, m0, sc1, m1;
      UnpackScaleMinK4(2 * c, b.scales, &sc0, &m0);
      UnpackScaleMinK4(2 * c + 1, b.scales, &sc1, &m1);
      const float d0 = d * static_cast<float>(sc0), min0 = dmin * static_cast<float>(m0);
      const float d1 = d * static_cast<float>(sc1), min1 = dmin * static_cast<float>(m1);
      const uint8_t* q = b.qs + 32 * c;
      float* y = dst + 64 * c;
      for (int l = 0; l < 32; ++l) {
        const int h0 = ((b.qh[l] >> (2 * c)) & 1) << 4;
        const int h1 = ((b.qh[l] >> (2 * c + 1)) & 1) << 4;
        y[l] = d0 * static_cast<float>((q[l] & 0xF) + h0) - min0;
        y[l + 32] = d1 * static_cast<float>((q[l] >> 4) + h1) - min1;
      }
    }
  }
}

// Q6_K: per 128-element half h, element 32k + l (k in 0..3) takes its low nibble from
// ql[64h + l + 32(k&1)] (low nibble for k<2, high for k>=2) and its top 2 bits from bits 2k of
// qh[32h + l]; its sub-block is (128h + 32k + l)/16.
void DequantizeQ6_K(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQKK) {
    const auto b = LoadBlock<BlockQ6_K>(src, i);
    const float d = Fp16ToFp32(b.d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qh = b.qh + 32 * h;
      for (int k = 0; k < 4; ++k) {
        const uint8_t* ql = b.ql + 64 * h + 32 * (k & 1);
        const int nib_shift = k < 2 ? 0 : 4;
        float* y = dst + 128 * h + 32 * k;
        const float d0 = d * static_cast<float>(b.scales[8 * h + 2 * k]);
        const float d1 = d * static_cast<float>(b.scales[8 * h + 2 * k + 1]);
        for (int l = 0; l < 32; ++l) {
          const int lo = (ql[l] >> nib_shift) & 0xF;
          const int hi = (qh[l] >> (2 * k)) & 3;
          y[l] = (l < 16 ? d0 : d1) * static_cast<float>((lo | (hi << 4)) - 32);
        }
      }
    }
  }
}

void DequantizeQ8_K(const uint8_t* src, float* dst, size_t nblocks) {
  for (size_t i = 0; i < nblocks; ++i, dst += kQKK) {
    const auto b = LoadBlock<BlockQ8_K>(src, i);
    for (int j = 0; j < kQKK; ++j) dst[j] = b.d * static_cast<float>(b.qs[j]);
  }
}

}  // namespace quant

namespace {

template <typename T>
void ConvertPlain(const uint8_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    dst[i] = static_cast<float>(v);
  }
}

}  // namespace

absl::Status DequantizeRow(DType type, const uint8_t* src, float* dst, size_t n) {
  const auto traits = GetDTypeTraits(static_cast<uint32_t>(type));
  if (!traits) {
    return absl::UnimplementedError(
        Concat("DequantizeRow: unknown tensor type id ", static_cast<uint32_t>(type)));
  }
  if (n % traits->block_elems != 0) {
    return absl::InvalidArgumentError(Concat("DequantizeRow: ", n,
                                             " elements is not a multiple of the ", traits->name,
                                             " block size ", traits->block_elems));
  }
  if (n == 0) return absl::OkStatus();
  if (src == nullptr || dst == nullptr) {
    return absl::InvalidArgumentError("DequantizeRow: null source or destination");
  }
  const size_t nb = n / traits->block_elems;
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      return absl::OkStatus();
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = quant::HalfToFloat(h);
      }
      return absl::OkStatus();
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = Bf16ToFp32(h);
      }
      return absl::OkStatus();
    case DType::kF64:
      ConvertPlain<double>(src, dst, n);
      return absl::OkStatus();
    case DType::kI8:
      ConvertPlain<int8_t>(src, dst, n);
      return absl::OkStatus();
    case DType::kI16:
      ConvertPlain<int16_t>(src, dst, n);
      return absl::OkStatus();
    case DType::kI32:
      ConvertPlain<int32_t>(src, dst, n);
      return absl::OkStatus();
    case DType::kI64:
      ConvertPlain<int64_t>(src, dst, n);
      return absl::OkStatus();
    case DType::kQ4_0:
      quant::DequantizeQ4_0(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ4_1:
      quant::DequantizeQ4_1(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ5_0:
      quant::DequantizeQ5_0(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ5_1:
      quant::DequantizeQ5_1(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ8_0:
      quant::DequantizeQ8_0(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ8_1:
      quant::DequantizeQ8_1(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ2_K:
      quant::DequantizeQ2_K(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ3_K:
      quant::DequantizeQ3_K(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ4_K:
      quant::DequantizeQ4_K(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ5_K:
      quant::DequantizeQ5_K(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ6_K:
      quant::DequantizeQ6_K(src, dst, nb);
      return absl::OkStatus();
    case DType::kQ8_K:
      quant::DequantizeQ8_K(src, dst, nb);
      return absl::OkStatus();
  }
  return absl::UnimplementedError(
      Concat("DequantizeRow: type ", traits->name, " is not supported"));
}

}  // namespace trueno
