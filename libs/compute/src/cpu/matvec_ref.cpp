// Scalar reference for MatVec/MatMul.
#include <cstring>
#include <vector>

#include "cpu/act_quant.h"
#include "cpu/kernels_ref.h"
#include "quant/k_scales.h"
#include "trueno/half.h"
#include "trueno/quant_blocks.h"

namespace trueno::ref {
namespace {

uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

template <class Block>
const Block& BlockAt(const uint8_t* row, int index) {
  return reinterpret_cast<const Block*>(row)[index];
}

}  // namespace

double WeightElement(DType wtype, const uint8_t* row, int e) {
  switch (wtype) {
    case DType::kF32: {
      float v;
      std::memcpy(&v, row + 4 * static_cast<size_t>(e), 4);
      return v;
    }
    case DType::kF16:
      return Fp16ToFp32(LoadU16(row + 2 * static_cast<size_t>(e)));
    case DType::kBF16:
      return Bf16ToFp32(LoadU16(row + 2 * static_cast<size_t>(e)));
    case DType::kQ8_0: {
      const auto& b = BlockAt<BlockQ8_0>(row, e / kQK);
      return static_cast<double>(Fp16ToFp32(b.d)) * b.qs[e % kQK];
    }
    case DType::kQ4_0: {
      const auto& b = BlockAt<BlockQ4_0>(row, e / kQK);
      const int l = e % kQK;
      const int q = l < 16 ? (b.qs[l] & 0xF) : (b.qs[l - 16] >> 4);
      return static_cast<double>(Fp16ToFp32(b.d)) * (q - 8);
    }
    case DType::kQ4_1: {
      const auto& b = BlockAt<BlockQ4_1>(row, e / kQK);
      const int l = e % kQK;
      const int q = l < 16 ? (b.qs[l] & 0xF) : (b.qs[l - 16] >> 4);
      return static_cast<double>(Fp16ToFp32(b.d)) * q + Fp16ToFp32(b.m);
    }
    case DType::kQ5_0:
    case DType::kQ5_1: {
      // Same layout after the scale(s): qh (bit l = fifth bit of element l), then qs as Q4_0.
      const bool has_min = wtype == DType::kQ5_1;
      const uint8_t* blk =
          row + static_cast<size_t>(e / kQK) * (has_min ? sizeof(BlockQ5_1) : sizeof(BlockQ5_0));
      const int l = e % kQK;
      const uint8_t* qh = blk + (has_min ? 4 : 2);
      const uint8_t* qs = qh + 4;
      const int low = l < 16 ? (qs[l] & 0xF) : (qs[l - 16] >> 4);
      const int q = low | (((qh[l / 8] >> (l % 8)) & 1) << 4);
      const double d = Fp16ToFp32(LoadU16(blk));
      return has_min ? d * q + Fp16ToFp32(LoadU16(blk + 2)) : d * (q - 16);
    }
    case DType::kQ4_K: {
      const auto& b = BlockAt<BlockQ4_K>(row, e / kQKK);
      const int i = e % kQKK, sub = i / 32, j = i / 64, l = i % 32;
      const bool high = (i % 64) >= 32;
      const int q = high ? (b.qs[32 * j + l] >> 4) : (b.qs[32 * j + l] & 0xF);
      uint8_t sc, m;
      cpu::ScaleMinK4(sub, b.scales, &sc, &m);
      return static_cast<double>(Fp16ToFp32(b.d)) * sc * q -
             static_cast<double>(Fp16ToFp32(b.dmin)) * m;
    }
    case DType::kQ5_K: {
      const auto& b = BlockAt<BlockQ5_K>(row, e / kQKK);
      const int i = e % kQKK, sub = i / 32, j = i / 64, l = i % 32;
      const int high = (i % 64) >= 32 ? 1 : 0;
      const int low = high ? (b.qs[32 * j + l] >> 4) : (b.qs[32 * j + l] & 0xF);
      const int bit = (b.qh[l] >> (2 * j + high)) & 1;
      uint8_t sc, m;
      cpu::ScaleMinK4(sub, b.scales, &sc, &m);
      return static_cast<double>(Fp16ToFp32(b.d)) * sc * (low + 16 * bit) -
             static_cast<double>(Fp16ToFp32(b.dmin)) * m;
    }
    case DType::kQ6_K: {
      const auto& b = BlockAt<BlockQ6_K>(row, e / kQKK);
      const int i = e % kQKK, half = i / 128, r = i % 128, k = r / 32, l = r % 32;
      const uint8_t lbyte = b.ql[64 * half + l + (k & 1) * 32];
      const int low = k < 2 ? (lbyte & 0xF) : (lbyte >> 4);
      const int high = (b.qh[32 * half + l] >> (2 * k)) & 3;
      const int q = low | (high << 4);
      const int scale = b.scales[8 * half + l / 16 + 2 * k];
      return static_cast<double>(Fp16ToFp32(b.d)) * scale * (q - 32);
    }
    case DType::kQ2_K: {
      const auto& b = BlockAt<BlockQ2_K>(row, e / kQKK);
      const int i = e % kQKK, h = i / 128, g = (i % 128) / 32, l = i % 32;
      const int q = (b.qs[32 * h + l] >> (2 * g)) & 3;
      const uint8_t sc = b.scales[i / 16];
      return static_cast<double>(Fp16ToFp32(b.d)) * (sc & 0xF) * q -
             static_cast<double>(Fp16ToFp32(b.dmin)) * (sc >> 4);
    }
    case DType::kQ3_K: {
      const auto& b = BlockAt<BlockQ3_K>(row, e / kQKK);
      const int i = e % kQKK, h = i / 128, g = (i % 128) / 32, l = i % 32;
      const int low = (b.qs[32 * h + l] >> (2 * g)) & 3;
      const int q = low - (((b.hmask[l] >> (4 * h + g)) & 1) ? 0 : 4);
      return static_cast<double>(Fp16ToFp32(b.d)) * quant::UnpackScaleQ3K(i / 16, b.scales) * q;
    }
    default:
      return 0.0;
  }
}

absl::Status MatMulRef(DType wtype, const uint8_t* w, int rows, int cols, const float* X,
                       int n_tokens, float* Y) {
  if (!MatVecSupports(wtype)) return absl::UnimplementedError("MatMulRef: unsupported type");
  const DTypeTraits& tr = Traits(wtype);
  if (cols % static_cast<int>(tr.block_elems) != 0) {
    return absl::InvalidArgumentError("MatMulRef: cols not a multiple of the block size");
  }
  const size_t row_bytes = static_cast<size_t>(cols) / tr.block_elems * tr.block_bytes;
  for (int t = 0; t < n_tokens; ++t) {
    // The activation each weight element is multiplied with, as the SIMD path sees it.
    std::vector<double> a(static_cast<size_t>(cols));
    const float* x = X + static_cast<size_t>(t) * cols;
    if (Traits(wtype).block_elems == kQK) {  // legacy types: Q8_0-style activations
      std::vector<cpu::ActQ8_0> q(static_cast<size_t>(cols) / kQK);
      cpu::QuantizeActQ8_0(x, cols, q.data());
      for (int c = 0; c < cols; ++c)
        a[c] = static_cast<double>(q[c / kQK].d) * q[c / kQK].qs[c % kQK];
    } else if (Traits(wtype).quantized && Traits(wtype).block_elems == kQKK) {
      std::vector<BlockQ8_K> q(static_cast<size_t>(cols) / kQKK);
      cpu::QuantizeActQ8_K(x, cols, q.data());
      for (int c = 0; c < cols; ++c) {
        a[c] = static_cast<double>(q[c / kQKK].d) * q[c / kQKK].qs[c % kQKK];
      }
    } else {
      for (int c = 0; c < cols; ++c) a[c] = x[c];
    }
    for (int r = 0; r < rows; ++r) {
      const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
      double sum = 0.0;
      for (int c = 0; c < cols; ++c) sum += WeightElement(wtype, row, c) * a[c];
      Y[static_cast<size_t>(t) * rows + r] = static_cast<float>(sum);
    }
  }
  return absl::OkStatus();
}

}  // namespace trueno::ref
