// Packing of the K-quant sub-block scales, shared by the quantizers and dequantizers so both sides
// agree on one definition of each bit layout.
#pragma once

#include <cstdint>

namespace trueno::quant {

// Q4_K / Q5_K: eight 6-bit scales and eight 6-bit mins in 12 bytes. Sub-blocks 0..3 keep scale
// and min in the low 6 bits of bytes j and j+4; sub-blocks 4..7 keep their low 4 bits in the
// nibbles of byte j+4 and their top 2 bits in the top 2 bits of bytes j-4 (scale) and j (min).
inline void UnpackScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Inverse of UnpackScaleMinK4; `scales` and `mins` are in [0, 63].
inline void PackScaleMinK4(const uint8_t* scales, const uint8_t* mins, uint8_t* q) {
  for (int i = 0; i < 12; ++i) q[i] = 0;
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = scales[j];
      q[j + 4] = mins[j];
    } else {
      q[j + 4] = static_cast<uint8_t>((scales[j] & 0xF) | ((mins[j] & 0xF) << 4));
      q[j - 4] |= static_cast<uint8_t>((scales[j] >> 4) << 6);
      q[j] |= static_cast<uint8_t>((mins[j] >> 4) << 6);
    }
  }
}

// Q3_K: sixteen 6-bit scales (stored biased by +32) in 12 bytes. Scale i keeps its low 4 bits in
// byte i (i < 8, low nibble) or byte i-8 (high nibble), and its top 2 bits at bit 2*(i/4) of
// byte 8 + i%4.
inline int UnpackScaleQ3K(int i, const uint8_t* q) {
  const int low = i < 8 ? (q[i] & 0xF) : (q[i - 8] >> 4);
  const int high = (q[8 + i % 4] >> (2 * (i / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// Inverse of UnpackScaleQ3K; `biased` values are in [0, 63].
inline void PackScalesQ3K(const uint8_t* biased, uint8_t* q) {
  for (int i = 0; i < 12; ++i) q[i] = 0;
  for (int i = 0; i < 16; ++i) {
    const uint8_t low = biased[i] & 0xF;
    const uint8_t high = static_cast<uint8_t>(biased[i] >> 4);
    if (i < 8) {
      q[i] |= low;
    } else {
      q[i - 8] |= static_cast<uint8_t>(low << 4);
    }
    q[8 + i % 4] |= static_cast<uint8_t>(high << (2 * (i / 4)));
  }
}

}  // namespace trueno::quant
