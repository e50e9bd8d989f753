#include "trueno/dtype.h"

#include <array>
#include <cctype>
#include <string>

#include "trueno/str_cat.h"

namespace trueno {
namespace {

constexpr std::array<DTypeTraits, 20> kTraits = {{
    {DType::kF32, "f32", 1, 4, false},
    {DType::kF16, "f16", 1, 2, false},
    {DType::kQ4_0, "q4_0", 32, 18, true},
    {DType::kQ4_1, "q4_1", 32, 20, true},
    {DType::kQ5_0, "q5_0", 32, 22, true},
    {DType::kQ5_1, "q5_1", 32, 24, true},
    {DType::kQ8_0, "q8_0", 32, 34, true},
    {DType::kQ8_1, "q8_1", 32, 36, true},
    {DType::kQ2_K, "q2_K", 256, 84, true},
    {DType::kQ3_K, "q3_K", 256, 110, true},
    {DType::kQ4_K, "q4_K", 256, 144, true},
    {DType::kQ5_K, "q5_K", 256, 176, true},
    {DType::kQ6_K, "q6_K", 256, 210, true},
    {DType::kQ8_K, "q8_K", 256, 292, true},
    {DType::kI8, "i8", 1, 1, false},
    {DType::kI16, "i16", 1, 2, false},
    {DType::kI32, "i32", 1, 4, false},
    {DType::kI64, "i64", 1, 8, false},
    {DType::kF64, "f64", 1, 8, false},
    {DType::kBF16, "bf16", 1, 2, false},
}};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace

std::optional<DTypeTraits> GetDTypeTraits(uint32_t raw_type) {
  for (const auto& t : kTraits) {
    if (static_cast<uint32_t>(t.type) == raw_type) return t;
  }
  return std::nullopt;
}

const DTypeTraits& Traits(DType type) {
  for (const auto& t : kTraits) {
    if (t.type == type) return t;
  }
  return kTraits[0];  // unreachable for valid enumerators
}

std::string_view DTypeName(DType type) {
  auto t = GetDTypeTraits(static_cast<uint32_t>(type));
  return t ? t->name : std::string_view("unknown");
}

std::optional<DType> ParseDType(std::string_view name) {
  for (const auto& t : kTraits) {
    if (EqualsIgnoreCase(t.name, name)) return t.type;
  }
  return std::nullopt;
}

absl::StatusOr<uint64_t> ByteSize(DType type, uint64_t elems) {
  auto t = GetDTypeTraits(static_cast<uint32_t>(type));
  if (!t) return absl::InvalidArgumentError(trueno::Concat("unknown tensor type id ", static_cast<uint32_t>(type)));
  if (elems % t->block_elems != 0) {
    return absl::InvalidArgumentError(trueno::Concat(elems, " elements is not a multiple of the ",
                                                   std::string(t->name), " block size ", t->block_elems));
  }
  const uint64_t blocks = elems / t->block_elems;
  uint64_t bytes;
  if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(t->block_bytes), &bytes)) {
    return absl::InvalidArgumentError(trueno::Concat("byte size of ", elems, " ", std::string(t->name), " elements overflows"));
  }
  return bytes;
}

absl::StatusOr<uint64_t> ElementCount(const uint64_t* dims, size_t n_dims) {
  uint64_t n = 1;
  for (size_t i = 0; i < n_dims; ++i) {
    if (__builtin_mul_overflow(n, dims[i], &n)) {
      return absl::InvalidArgumentError("tensor element count overflows 64 bits");
    }
  }
  return n;
}

}  // namespace trueno
