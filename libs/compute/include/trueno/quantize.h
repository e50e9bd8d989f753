// Scalar reference quantize/dequantize for every supported block type. These are the ground
// truth the SIMD and CUDA kernels are tested against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "trueno/dtype.h"

namespace trueno {

// Converts `n` elements of `type` at `src` into floats. `n` must be a multiple of the block size
// and `src` must hold ByteSize(type, n) bytes. Supports F32, F16, BF16, F64, I8/I16/I32 and all
// GGML block types listed in dtype.h.
[[nodiscard]] absl::Status DequantizeRow(DType type, const uint8_t* src, float* dst, size_t n);

// Same contract and bit-identical results as DequantizeRow, with SIMD kernels (the best target
// of this CPU, chosen at run time) for F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K and Q6_K; every other
// type goes to DequantizeRow.
[[nodiscard]] absl::Status DequantizeRowFast(DType type, const uint8_t* src, float* dst, size_t n);

// Quantizes `n` floats into `type` (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, Q8_K where implemented; Unimplemented otherwise). Deterministic.
[[nodiscard]] absl::Status QuantizeRow(DType type, const float* src, uint8_t* dst, size_t n);

// True when QuantizeRow supports `type`.
bool CanQuantize(DType type);

}  // namespace trueno
