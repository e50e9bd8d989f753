// SafeTensors dtype spellings <-> trueno::DType (private to the SafeTensors reader/writer).
#pragma once

#include <optional>
#include <string_view>

#include "trueno/dtype.h"

namespace aprender::safetensors_internal {

inline std::optional<trueno::DType> DTypeFromSafetensors(std::string_view s) {
  using trueno::DType;
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  if (s == "F64") return DType::kF64;
  if (s == "I8") return DType::kI8;
  if (s == "I16") return DType::kI16;
  if (s == "I32") return DType::kI32;
  if (s == "I64") return DType::kI64;
  return std::nullopt;
}

// Spelling for the types the writer accepts (F32/F16/BF16); nullopt otherwise.
inline std::optional<std::string_view> WritableSafetensorsName(trueno::DType t) {
  using trueno::DType;
  switch (t) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    default:
      return std::nullopt;
  }
}

}  // namespace aprender::safetensors_internal
