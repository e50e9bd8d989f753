// Device-side dequantization of GGUF weight rows, shared by the matrix kernels (matvec, f16 tile
// dequantization for cuBLAS) and the embedding lookup. Layouts follow trueno/quant_blocks.h and
// the scalar reference in src/quant/dequantize.cpp; each kernel is tested against that reference.
//
// A row is cut into "chunks": the unit one thread dequantizes at a time. ChunkValues<T> calls
// emit(i, w0, w1, w2, w3) for the four consecutive elements i..i+3 (i a multiple of 4, relative
// to the start of the row), so a caller can dot them with four activations (one float4 load) or
// store them. Chunks of the K types cover 64 elements (the bytes that hold them are contiguous).
// Integer quants become floats through the exponent trick (2^23 + q has q in its mantissa), which
// costs one byte permute and one add instead of a slow integer->float conversion.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "trueno/dtype.h"

namespace trueno::cuda::internal {

// ---- small helpers ---------------------------------------------------------------------------

__device__ __forceinline__ float HalfBits(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ uint16_t Ld16(const uint8_t* p) {
  return __ldg(reinterpret_cast<const unsigned short*>(p));
}
// 4 bytes from a 2-byte aligned address.
__device__ __forceinline__ uint32_t Ld32a2(const uint8_t* p) {
  return static_cast<uint32_t>(Ld16(p)) | (static_cast<uint32_t>(Ld16(p + 2)) << 16);
}
__device__ __forceinline__ uint32_t Ld32(const uint8_t* p) {
  return __ldg(reinterpret_cast<const unsigned int*>(p));
}
__device__ __forceinline__ uint4 Ld128(const uint8_t* p) {
  return __ldg(reinterpret_cast<const uint4*>(p));
}
// Byte `i` (0..3) of v, an integer 0..255, as a float minus `off`: exact.
template <int kI>
__device__ __forceinline__ float ByteF(uint32_t v, float off) {
  return __int_as_float(__byte_perm(v, 0x4B000000u, 0x7540u | kI)) - (8388608.0f + off);
}

// Emits the 4 elements packed as bytes in `q` (byte j = element i+j, as unsigned 0..255):
// w = scale * (q - off) + bias.
template <class Emit>
__device__ __forceinline__ void Emit4(Emit& emit, int i, uint32_t q, float off, float scale,
                                      float bias) {
  emit(i, fmaf(scale, ByteF<0>(q, off), bias), fmaf(scale, ByteF<1>(q, off), bias),
       fmaf(scale, ByteF<2>(q, off), bias), fmaf(scale, ByteF<3>(q, off), bias));
}

// Spreads 4 bits (bit j -> bit `shift` of byte j).
__device__ __forceinline__ uint32_t SpreadBits(uint32_t h4, int shift) {
  const uint32_t s = (h4 & 1u) | ((h4 & 2u) << 7) | ((h4 & 4u) << 14) | ((h4 & 8u) << 21);
  return s << shift;
}

// Q4_K / Q5_K 6-bit scale and min of sub-block j from the 12 packed bytes (as 3 words).
__device__ __forceinline__ void ScaleMinK4(int j, const uint8_t* sc, float* scale, float* min) {
  uint8_t s, m;
  if (j < 4) {
    s = sc[j] & 63;
    m = sc[j + 4] & 63;
  } else {
    s = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((sc[j + 4] >> 4) | ((sc[j] >> 6) << 4));
  }
  *scale = static_cast<float>(s);
  *min = static_cast<float>(m);
}

// ---- per-type codecs -------------------------------------------------------------------------
// Codec<T>::kElems: elements per chunk (plain types need cols % 8 == 0 and 16-byte aligned rows
// for the chunked path; the caller checks and otherwise uses Elem). Values(row, ch, emit)
// decodes chunk `ch` of a row; Elem(row, j) decodes one element (embedding lookup, fallbacks).
template <DType T>
struct Codec;

template <>
struct Codec<DType::kF32> {
  static constexpr int kElems = 8;
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const float4* p = reinterpret_cast<const float4*>(row) + 2 * ch;
    const float4 a = __ldg(p), b = __ldg(p + 1);
    emit(8 * ch, a.x, a.y, a.z, a.w);
    emit(8 * ch + 4, b.x, b.y, b.z, b.w);
  }
  __device__ static float Elem(const uint8_t* row, int j) {
    return __ldg(reinterpret_cast<const float*>(row) + j);
  }
};

template <>
struct Codec<DType::kF16> {
  static constexpr int kElems = 8;
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const uint4 v = Ld128(row + 16 * ch);
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&v.x));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&v.y));
    const float2 c = __half22float2(*reinterpret_cast<const __half2*>(&v.z));
    const float2 d = __half22float2(*reinterpret_cast<const __half2*>(&v.w));
    emit(8 * ch, a.x, a.y, b.x, b.y);
    emit(8 * ch + 4, c.x, c.y, d.x, d.y);
  }
  __device__ static float Elem(const uint8_t* row, int j) { return HalfBits(Ld16(row + 2 * j)); }
};

template <>
struct Codec<DType::kBF16> {
  static constexpr int kElems = 8;
  __device__ static float Lo(uint32_t v) { return __uint_as_float(v << 16); }
  __device__ static float Hi(uint32_t v) { return __uint_as_float(v & 0xFFFF0000u); }
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const uint4 v = Ld128(row + 16 * ch);
    emit(8 * ch, Lo(v.x), Hi(v.x), Lo(v.y), Hi(v.y));
    emit(8 * ch + 4, Lo(v.z), Hi(v.z), Lo(v.w), Hi(v.w));
  }
  __device__ static float Elem(const uint8_t* row, int j) {
    return __uint_as_float(static_cast<uint32_t>(Ld16(row + 2 * j)) << 16);
  }
};

// Legacy 32-element blocks: element j < 16 in the low nibble of qs[j], j + 16 in the high one.
template <>
struct Codec<DType::kQ4_0> {
  static constexpr int kElems = 32, kBytes = 18;
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const uint8_t* b = row + kBytes * ch;
    const float d = HalfBits(Ld16(b));
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t v = Ld32a2(b + 2 + 4 * k);
      Emit4(emit, 32 * ch + 4 * k, v & 0x0F0F0F0Fu, 8.0f, d, 0.0f);
      Emit4(emit, 32 * ch + 16 + 4 * k, (v >> 4) & 0x0F0F0F0Fu, 8.0f, d, 0.0f);
    }
  }
  __device__ static float Elem(const uint8_t* row, int j) {
    const uint8_t* b = row + kBytes * (j / 32);
    const int l = j % 32;
    const int q = l < 16 ? (b[2 + l] & 0xF) : (b[2 + l - 16] >> 4);
    return static_cast<float>(q - 8) * HalfBits(Ld16(b));
  }
};

template <>
struct Codec<DType::kQ4_1> {
  static constexpr int kElems = 32, kBytes = 20;
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const uint8_t* b = row + kBytes * ch;
    const float d = HalfBits(Ld16(b)), m = HalfBits(Ld16(b + 2));
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t v = Ld32(b + 4 + 4 * k);
      Emit4(emit, 32 * ch + 4 * k, v & 0x0F0F0F0Fu, 0.0f, d, m);
      Emit4(emit, 32 * ch + 16 + 4 * k, (v >> 4) & 0x0F0F0F0Fu, 0.0f, d, m);
    }
  }
  __device__ static float Elem(const uint8_t* row, int j) {
    const uint8_t* b = row + kBytes * (j / 32);
    const int l = j % 32;
    const int q = l < 16 ? (b[4 + l] & 0xF) : (b[4 + l - 16] >> 4);
    return static_cast<float>(q) * HalfBits(Ld16(b)) + HalfBits(Ld16(b + 2));
  }
};

// Q5: bit 4 of element j is bit j of qh (little-endian u32).
template <>
struct Codec<DType::kQ5_0> {
  static constexpr int kElems = 32, kBytes = 22;
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const uint8_t* b = row + kBytes * ch;
    const float d = HalfBits(Ld16(b));
    const uint32_t qh = Ld32a2(b + 2);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t v = Ld32a2(b + 6 + 4 * k);
      Emit4(emit, 32 * ch + 4 * k, (v & 0x0F0F0F0Fu) | SpreadBits(qh >> (4 * k), 4), 16.0f, d,
            0.0f);
      Emit4(emit, 32 * ch + 16 + 4 * k,
            ((v >> 4) & 0x0F0F0F0Fu) | SpreadBits(qh >> (16 + 4 * k), 4), 16.0f, d, 0.0f);
    }
  }
  __device__ static float Elem(const uint8_t* row, int j) {
    const uint8_t* b = row + kBytes * (j / 32);
    const int l = j % 32;
    const uint32_t qh = Ld32a2(b + 2);
    const int lo = l < 16 ? (b[6 + l] & 0xF) : (b[6 + l - 16] >> 4);
    const int q = lo | (static_cast<int>((qh >> l) & 1u) << 4);
    return static_cast<float>(q - 16) * HalfBits(Ld16(b));
  }
};

template <>
struct Codec<DType::kQ5_1> {
  static constexpr int kElems = 32, kBytes = 24;
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const uint8_t* b = row + kBytes * ch;
    const float d = HalfBits(Ld16(b)), m = HalfBits(Ld16(b + 2));
    const uint32_t qh = Ld32(b + 4);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t v = Ld32(b + 8 + 4 * k);
      Emit4(emit, 32 * ch + 4 * k, (v & 0x0F0F0F0Fu) | SpreadBits(qh >> (4 * k), 4), 0.0f, d, m);
      Emit4(emit, 32 * ch + 16 + 4 * k,
            ((v >> 4) & 0x0F0F0F0Fu) | SpreadBits(qh >> (16 + 4 * k), 4), 0.0f, d, m);
    }
  }
  __device__ static float Elem(const uint8_t* row, int j) {
    const uint8_t* b = row + kBytes * (j / 32);
    const int l = j % 32;
    const uint32_t qh = Ld32(b + 4);
    const int lo = l < 16 ? (b[8 + l] & 0xF) : (b[8 + l - 16] >> 4);
    const int q = lo | (static_cast<int>((qh >> l) & 1u) << 4);
    return static_cast<float>(q) * HalfBits(Ld16(b)) + HalfBits(Ld16(b + 2));
  }
};

template <>
struct Codec<DType::kQ8_0> {
  static constexpr int kElems = 32, kBytes = 34;
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const uint8_t* b = row + kBytes * ch;
    const float d = HalfBits(Ld16(b));
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      // Signed bytes: flipping the sign bit gives q + 128 as an unsigned byte.
      const uint32_t v = Ld32a2(b + 2 + 4 * k) ^ 0x80808080u;
      Emit4(emit, 32 * ch + 4 * k, v, 128.0f, d, 0.0f);
    }
  }
  __device__ static float Elem(const uint8_t* row, int j) {
    const uint8_t* b = row + kBytes * (j / 32);
    return static_cast<float>(static_cast<int8_t>(b[2 + j % 32])) * HalfBits(Ld16(b));
  }
};

// Q4_K: chunk c (0..3) of a super-block is elements 64c..64c+63: qs[32c + l] holds element
// 64c + l (low nibble, sub-block 2c) and 64c + 32 + l (high nibble, sub-block 2c + 1).
template <>
struct Codec<DType::kQ4_K> {
  static constexpr int kElems = 64, kBytes = 144;
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const uint8_t* b = row + kBytes * (ch / 4);
    const int c = ch % 4;
    const float d = HalfBits(Ld16(b)), dmin = HalfBits(Ld16(b + 2));
    uint32_t sw[3] = {Ld32(b + 4), Ld32(b + 8), Ld32(b + 12)};
    const uint8_t* sc = reinterpret_cast<const uint8_t*>(sw);
    float s0, m0, s1, m1;
    ScaleMinK4(2 * c, sc, &s0, &m0);
    ScaleMinK4(2 * c + 1, sc, &s1, &m1);
    const float d0 = d * s0, b0 = -dmin * m0, d1 = d * s1, b1 = -dmin * m1;
    const uint4 qa = Ld128(b + 16 + 32 * c), qb = Ld128(b + 32 + 32 * c);
    const uint32_t q[8] = {qa.x, qa.y, qa.z, qa.w, qb.x, qb.y, qb.z, qb.w};
    const int base = 256 * (ch / 4) + 64 * c;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      Emit4(emit, base + 4 * k, q[k] & 0x0F0F0F0Fu, 0.0f, d0, b0);
      Emit4(emit, base + 32 + 4 * k, (q[k] >> 4) & 0x0F0F0F0Fu, 0.0f, d1, b1);
    }
  }
  __device__ static float Elem(const uint8_t* row, int j) {
    const uint8_t* b = row + kBytes * (j / 256);
    const int e = j % 256, c = e / 64, l = e % 32, hi = (e % 64) / 32;
    float s, m;
    ScaleMinK4(2 * c + hi, b + 4, &s, &m);
    const int q = hi ? (b[16 + 32 * c + l] >> 4) : (b[16 + 32 * c + l] & 0xF);
    return HalfBits(Ld16(b)) * s * static_cast<float>(q) - HalfBits(Ld16(b + 2)) * m;
  }
};

// Q5_K: as Q4_K; bit 4 of element 64c + l is bit 2c of qh[l], of 64c + 32 + l bit 2c + 1.
template <>
struct Codec<DType::kQ5_K> {
  static constexpr int kElems = 64, kBytes = 176;
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const uint8_t* b = row + kBytes * (ch / 4);
    const int c = ch % 4;
    const float d = HalfBits(Ld16(b)), dmin = HalfBits(Ld16(b + 2));
    uint32_t sw[3] = {Ld32(b + 4), Ld32(b + 8), Ld32(b + 12)};
    const uint8_t* sc = reinterpret_cast<const uint8_t*>(sw);
    float s0, m0, s1, m1;
    ScaleMinK4(2 * c, sc, &s0, &m0);
    ScaleMinK4(2 * c + 1, sc, &s1, &m1);
    const float d0 = d * s0, b0 = -dmin * m0, d1 = d * s1, b1 = -dmin * m1;
    const uint4 ha = Ld128(b + 16), hb = Ld128(b + 32);
    const uint32_t h[8] = {ha.x, ha.y, ha.z, ha.w, hb.x, hb.y, hb.z, hb.w};
    const uint4 qa = Ld128(b + 48 + 32 * c), qb = Ld128(b + 64 + 32 * c);
    const uint32_t q[8] = {qa.x, qa.y, qa.z, qa.w, qb.x, qb.y, qb.z, qb.w};
    const int base = 256 * (ch / 4) + 64 * c;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const uint32_t hk = h[k] >> (2 * c);
      Emit4(emit, base + 4 * k, (q[k] & 0x0F0F0F0Fu) | ((hk & 0x01010101u) << 4), 0.0f, d0, b0);
      Emit4(emit, base + 32 + 4 * k, ((q[k] >> 4) & 0x0F0F0F0Fu) | ((hk & 0x02020202u) << 3), 0.0f,
            d1, b1);
    }
  }
  __device__ static float Elem(const uint8_t* row, int j) {
    const uint8_t* b = row + kBytes * (j / 256);
    const int e = j % 256, c = e / 64, l = e % 32, hi = (e % 64) / 32;
    float s, m;
    ScaleMinK4(2 * c + hi, b + 4, &s, &m);
    int q = hi ? (b[48 + 32 * c + l] >> 4) : (b[48 + 32 * c + l] & 0xF);
    q |= ((b[16 + l] >> (2 * c + hi)) & 1) << 4;
    return HalfBits(Ld16(b)) * s * static_cast<float>(q) - HalfBits(Ld16(b + 2)) * m;
  }
};

// Q6_K: element 128h + 32k + l takes its low nibble from ql[64h + 32(k & 1) + l] (low nibble for
// k < 2, high for k >= 2) and bits 4-5 from bits 2k of qh[32h + l]; sub-block = element / 16.
// Chunk (h, s) covers l in [16s, 16s + 16) for k = 0..3: 48 contiguous-in-three-runs bytes.
template <>
struct Codec<DType::kQ6_K> {
  static constexpr int kElems = 64, kBytes = 210;
  template <class Emit>
  __device__ static void Values(const uint8_t* row, int ch, Emit& emit) {
    const uint8_t* b = row + kBytes * (ch / 4);
    const int h = (ch % 4) / 2, s = ch % 2;
    const float d = HalfBits(Ld16(b + 208));
    const uint8_t* ql = b + 64 * h + 16 * s;
    const uint8_t* qh = b + 128 + 32 * h + 16 * s;
    const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
    float dk[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) dk[k] = d * static_cast<float>(scales[8 * h + 2 * k + s]);
    const int base = 256 * (ch / 4) + 128 * h + 16 * s;
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const uint32_t a = Ld32a2(ql + 4 * w), c = Ld32a2(ql + 32 + 4 * w);
      const uint32_t hh = Ld32a2(qh + 4 * w);
      Emit4(emit, base + 4 * w, (a & 0x0F0F0F0Fu) | ((hh & 0x03030303u) << 4), 32.0f, dk[0], 0.0f);
      Emit4(emit, base + 32 + 4 * w, (c & 0x0F0F0F0Fu) | (((hh >> 2) & 0x03030303u) << 4), 32.0f,
            dk[1], 0.0f);
      Emit4(emit, base + 64 + 4 * w, ((a >> 4) & 0x0F0F0F0Fu) | (((hh >> 4) & 0x03030303u) << 4),
            32.0f, dk[2], 0.0f);
      Emit4(emit, base + 96 + 4 * w, ((c >> 4) & 0x0F0F0F0Fu) | (((hh >> 6) & 0x03030303u) << 4),
            32.0f, dk[3], 0.0f);
    }
  }
  __device__ static float Elem(const uint8_t* row, int j) {
    const uint8_t* b = row + kBytes * (j / 256);
    const int e = j % 256, h = e / 128, k = (e % 128) / 32, l = e % 32;
    const int lo = (b[64 * h + 32 * (k & 1) + l] >> (k < 2 ? 0 : 4)) & 0xF;
    const int hi = (b[128 + 32 * h + l] >> (2 * k)) & 3;
    const float sc = static_cast<float>(static_cast<int8_t>(b[192 + e / 16]));
    return HalfBits(Ld16(b + 208)) * sc * static_cast<float>((lo | (hi << 4)) - 32);
  }
};

// Calls f(Codec<T>{}) for the runtime type `t`; false when `t` has no codec.
template <class F>
bool DispatchType(DType t, F&& f) {
  switch (t) {
    case DType::kF32:
      f(Codec<DType::kF32>{});
      return true;
    case DType::kF16:
      f(Codec<DType::kF16>{});
      return true;
    case DType::kBF16:
      f(Codec<DType::kBF16>{});
      return true;
    case DType::kQ4_0:
      f(Codec<DType::kQ4_0>{});
      return true;
    case DType::kQ4_1:
      f(Codec<DType::kQ4_1>{});
      return true;
    case DType::kQ5_0:
      f(Codec<DType::kQ5_0>{});
      return true;
    case DType::kQ5_1:
      f(Codec<DType::kQ5_1>{});
      return true;
    case DType::kQ8_0:
      f(Codec<DType::kQ8_0>{});
      return true;
    case DType::kQ4_K:
      f(Codec<DType::kQ4_K>{});
      return true;
    case DType::kQ5_K:
      f(Codec<DType::kQ5_K>{});
      return true;
    case DType::kQ6_K:
      f(Codec<DType::kQ6_K>{});
      return true;
    default:
      return false;
  }
}

}  // namespace trueno::cuda::internal
