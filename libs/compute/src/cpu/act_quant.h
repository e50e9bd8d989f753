// Activation quantization shared by the SIMD matvec bodies and their scalar reference: both
// see bit-identical int8 activations, so they differ only in float summation order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trueno/quant_blocks.h"

namespace trueno::cpu {

// A Q8_0-shaped activation block with a float scale (more precise than GGML's fp16 scale) and
// the sum of its quants, which turns Q4_0's "q - 8" into one subtraction per block.
struct ActQ8_0 {
  float d;
  int32_t sum;
  int8_t qs[kQK];
};

// Symmetric round-to-nearest: q = round(x / d), d = max|x| / 127, q in [-127, 127].
void QuantizeActQ8_0(const float* x, int n, ActQ8_0* out);    // n % 32 == 0
void QuantizeActQ8_K(const float* x, int n, BlockQ8_K* out);  // n % 256 == 0

// One token's ActQ8_0 blocks laid out for the single-token (decode) kernels, built once per
// MatMul call instead of once per weight row: the quants of all nb blocks contiguous (block b at
// qs + 32 b, 64-byte aligned), the integer bias of each block pair (lanes 0-7: -2 sum of block
// 2p, lanes 8-15: -2 sum of block 2p + 1, at bias + 16 p; the Q5_0 kernel's -16 sum spread over a
// block's 8 int32 lanes) and the block scales contiguous (d[b], zero up to a multiple of 16).
struct ActQ8_0Pack {
  const int8_t* qs = nullptr;
  const int32_t* bias = nullptr;
  const float* d = nullptr;
};
size_t ActQ8_0PackBytes(int nb);  // buffer size for PackActQ8_0, alignment slack included
ActQ8_0Pack PackActQ8_0(const ActQ8_0* a, int nb, uint8_t* buf);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block.
inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// The fifth bits of a Q5_0/Q5_1 block (bit j of the 32-bit qh = element j) spread to bytes:
// kQhBytes[b] holds 0x10 in byte k when bit k of b is set, so four lookups give the 32 bytes to
// OR onto the low nibbles.
struct QhByteTable {
  uint64_t v[256];
};
constexpr QhByteTable MakeQhByteTable() {
  QhByteTable t{};
  for (int b = 0; b < 256; ++b) {
    for (int k = 0; k < 8; ++k) {
      if ((b >> k) & 1) t.v[b] |= uint64_t{0x10} << (8 * k);
    }
  }
  return t;
}
inline constexpr QhByteTable kQhBytes = MakeQhByteTable();

}  // namespace trueno::cpu
