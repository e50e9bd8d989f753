// Per-type row kernels behind trueno/quantize.h. Every function handles `nblocks` whole blocks;
// the public entry points check sizes and dispatch on DType.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace trueno::quant {

// Unaligned block access: GGUF tensor data is only byte-aligned for odd block sizes.
template <typename Block>
inline Block LoadBlock(const uint8_t* src, size_t i) {
  Block b;
  std::memcpy(&b, src + i * sizeof(Block), sizeof(Block));
  return b;
}
template <typename Block>
inline void StoreBlock(const Block& b, uint8_t* dst, size_t i) {
  std::memcpy(dst + i * sizeof(Block), &b, sizeof(Block));
}

// Dequantize (dequantize.cpp, dequantize_k.cpp).
void DequantizeQ4_0(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ4_1(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ5_0(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ5_1(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ8_0(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ8_1(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ2_K(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ3_K(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ4_K(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ5_K(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ6_K(const uint8_t* src, float* dst, size_t nblocks);
void DequantizeQ8_K(const uint8_t* src, float* dst, size_t nblocks);

// Quantize (quantize_legacy.cpp, quantize_k.cpp).
void QuantizeQ4_0(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ4_1(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ5_0(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ5_1(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ8_0(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ8_1(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ2_K(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ3_K(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ4_K(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ5_K(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ6_K(const float* src, uint8_t* dst, size_t nblocks);
void QuantizeQ8_K(const float* src, uint8_t* dst, size_t nblocks);

}  // namespace trueno::quant
