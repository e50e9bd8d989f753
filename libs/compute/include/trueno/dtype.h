// Element/block types. Numeric values are the GGML type ids, so a GGUF tensor's type field maps
// straight onto DType and files interoperate with llama.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"

namespace trueno {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct DTypeTraits {
  DType type;
  std::string_view name;   // GGML spelling: "f32", "q4_K", ...
  uint32_t block_elems;    // elements per block (1 for plain types)
  uint32_t block_bytes;    // bytes per block
  bool quantized;
};

// Traits for a known type; nullopt for an id we do not support (e.g. a future GGML type).
std::optional<DTypeTraits> GetDTypeTraits(uint32_t raw_type);
const DTypeTraits& Traits(DType type);  // type must be valid

std::string_view DTypeName(DType type);
// Parses "f32", "F16", "q4_k", "Q4_K", "bf16", ... (case-insensitive).
std::optional<DType> ParseDType(std::string_view name);

// Bytes needed for `elems` elements of `type`; error when elems is not a multiple of the block
// size or the product overflows 64 bits.
absl::StatusOr<uint64_t> ByteSize(DType type, uint64_t elems);

// Elements in a shape, checking for 64-bit overflow.
absl::StatusOr<uint64_t> ElementCount(const uint64_t* dims, size_t n_dims);

}  // namespace trueno
