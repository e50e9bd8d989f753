// Independent float64 decoders for every GGML block type, written from the published layouts in
// the reference loop form (pointer walks and 32-bit masks), deliberately unlike the per-element
// index arithmetic of the library, so a shared misreading is unlikely.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "trueno/half.h"

namespace quant_test {

inline double H(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return trueno::Fp16ToFp32(h);
}

// Each decoder returns the 32 or 256 values of one block.
inline std::vector<double> RefQ4_0(const uint8_t* b) {
  std::vector<double> y(32);
  const double d = H(b);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * ((b[2 + j] & 0x0F) - 8);
    y[j + 16] = d * ((b[2 + j] >> 4) - 8);
  }
  return y;
}

inline std::vector<double> RefQ4_1(const uint8_t* b) {
  std::vector<double> y(32);
  const double d = H(b), m = H(b + 2);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * (b[4 + j] & 0x0F) + m;
    y[j + 16] = d * (b[4 + j] >> 4) + m;
  }
  return y;
}

inline uint32_t U32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline std::vector<double> RefQ5_0(const uint8_t* b) {
  std::vector<double> y(32);
  const double d = H(b);
  const uint32_t qh = U32(b + 2);
  for (int j = 0; j < 16; ++j) {
    const int x0 = (b[6 + j] & 0x0F) | (((qh >> j) << 4) & 0x10);
    const int x1 = (b[6 + j] >> 4) | ((qh >> (j + 12)) & 0x10);
    y[j] = d * (x0 - 16);
    y[j + 16] = d * (x1 - 16);
  }
  return y;
}

inline std::vector<double> RefQ5_1(const uint8_t* b) {
  std::vector<double> y(32);
  const double d = H(b), m = H(b + 2);
  const uint32_t qh = U32(b + 4);
  for (int j = 0; j < 16; ++j) {
    const int x0 = (b[8 + j] & 0x0F) | (((qh >> j) << 4) & 0x10);
    const int x1 = (b[8 + j] >> 4) | ((qh >> (j + 12)) & 0x10);
    y[j] = d * x0 + m;
    y[j + 16] = d * x1 + m;
  }
  return y;
}

inline std::vector<double> RefQ8_0(const uint8_t* b) {
  std::vector<double> y(32);
  for (int j = 0; j < 32; ++j) y[j] = H(b) * static_cast<int8_t>(b[2 + j]);
  return y;
}

inline std::vector<double> RefQ8_1(const uint8_t* b) {
  std::vector<double> y(32);
  for (int j = 0; j < 32; ++j) y[j] = H(b) * static_cast<int8_t>(b[4 + j]);
  return y;
}

inline std::vector<double> RefQ2_K(const uint8_t* b) {
  std::vector<double> y;
  const uint8_t* scales = b;
  const uint8_t* q = b + 16;
  const double d = H(b + 80), dmin = H(b + 82);
  int is = 0;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = scales[is++];
        for (int l = 0; l < 16; ++l) {
          y.push_back(d * (sc & 0xF) * ((q[l + 16 * half] >> shift) & 3) - dmin * (sc >> 4));
        }
      }
    }
    q += 32;
  }
  return y;
}

inline std::vector<double> RefQ3_K(const uint8_t* b) {
  std::vector<double> y;
  const uint8_t* hm = b;
  const uint8_t* q = b + 32;
  const double d_all = H(b + 108);
  // The 12 scale bytes as three little-endian words, unpacked with 32-bit masks into 16 bytes.
  uint32_t aux[4];
  std::memcpy(aux, b + 96, 12);
  const uint32_t k1 = 0x03030303u, k2 = 0x0f0f0f0fu;
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4);
  aux[3] = ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4);
  aux[0] = (aux[0] & k2) | (((tmp >> 0) & k1) << 4);
  aux[1] = (aux[1] & k2) | (((tmp >> 2) & k1) << 4);
  uint8_t sc[16];
  std::memcpy(sc, aux, 16);
  int is = 0;
  uint8_t m = 1;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const double dl = d_all * (static_cast<int>(sc[is++]) - 32);
        for (int l = 16 * half; l < 16 * half + 16; ++l) {
          y.push_back(dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4)));
        }
      }
      m = static_cast<uint8_t>(m << 1);
    }
    q += 32;
  }
  return y;
}

// 6-bit scale/min j of the Q4_K/Q5_K 12-byte field.
inline void ScaleMin(int j, const uint8_t* q, int* s, int* m) {
  if (j < 4) {
    *s = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *s = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

inline std::vector<double> RefQ4_K(const uint8_t* b) {
  std::vector<double> y(256);
  const double d = H(b), dmin = H(b + 2);
  const uint8_t* q = b + 16;
  int is = 0;
  for (int j = 0; j < 256; j += 64) {
    int s1, m1, s2, m2;
    ScaleMin(is, b + 4, &s1, &m1);
    ScaleMin(is + 1, b + 4, &s2, &m2);
    for (int l = 0; l < 32; ++l) {
      y[j + l] = d * s1 * (q[l] & 0xF) - dmin * m1;
      y[j + l + 32] = d * s2 * (q[l] >> 4) - dmin * m2;
    }
    q += 32;
    is += 2;
  }
  return y;
}

inline std::vector<double> RefQ5_K(const uint8_t* b) {
  std::vector<double> y(256);
  const double d = H(b), dmin = H(b + 2);
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  int is = 0;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 256; j += 64) {
    int s1, m1, s2, m2;
    ScaleMin(is, b + 4, &s1, &m1);
    ScaleMin(is + 1, b + 4, &s2, &m2);
    for (int l = 0; l < 32; ++l) {
      y[j + l] = d * s1 * ((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - dmin * m1;
      y[j + l + 32] = d * s2 * ((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - dmin * m2;
    }
    ql += 32;
    is += 2;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
  return y;
}

inline std::vector<double> RefQ6_K(const uint8_t* b) {
  std::vector<double> y(256);
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const double d = H(b + 208);
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[n + l] = d * sc[is + 0] * q1;
      y[n + l + 32] = d * sc[is + 2] * q2;
      y[n + l + 64] = d * sc[is + 4] * q3;
      y[n + l + 96] = d * sc[is + 6] * q4;
    }
    ql += 64;
    qh += 32;
    sc += 8;
  }
  return y;
}

inline std::vector<double> RefQ8_K(const uint8_t* b) {
  std::vector<double> y(256);
  float d;
  std::memcpy(&d, b, 4);
  for (int j = 0; j < 256; ++j) y[j] = static_cast<double>(d) * static_cast<int8_t>(b[4 + j]);
  return y;
}

}  // namespace quant_test
