#include <catch2/catch.hpp>

#include "trueno/dtype.h"

TEST_CASE("Block sizes match the published GGML layouts") {
  using trueno::DType;
  // Hand-computed from the block structs: scale(s) + packed quants.
  CHECK(*trueno::ByteSize(DType::kQ4_0, 32) == 2 + 16);
  CHECK(*trueno::ByteSize(DType::kQ4_1, 32) == 2 + 2 + 16);
  CHECK(*trueno::ByteSize(DType::kQ5_0, 32) == 2 + 4 + 16);
  CHECK(*trueno::ByteSize(DType::kQ5_1, 32) == 2 + 2 + 4 + 16);
  CHECK(*trueno::ByteSize(DType::kQ8_0, 32) == 2 + 32);
  CHECK(*trueno::ByteSize(DType::kQ2_K, 256) == 16 + 64 + 2 + 2);
  CHECK(*trueno::ByteSize(DType::kQ3_K, 256) == 32 + 64 + 12 + 2);
  CHECK(*trueno::ByteSize(DType::kQ4_K, 256) == 2 + 2 + 12 + 128);
  CHECK(*trueno::ByteSize(DType::kQ5_K, 256) == 2 + 2 + 12 + 32 + 128);
  CHECK(*trueno::ByteSize(DType::kQ6_K, 256) == 128 + 64 + 16 + 2);
  CHECK(*trueno::ByteSize(DType::kQ8_K, 256) == 4 + 256 + 32);
  CHECK(*trueno::ByteSize(DType::kBF16, 3) == 6);
}

TEST_CASE("ByteSize rejects partial blocks and overflow") {
  CHECK_FALSE(trueno::ByteSize(trueno::DType::kQ4_K, 100).ok());
  CHECK_FALSE(trueno::ByteSize(trueno::DType::kF32, UINT64_MAX / 2).ok());
  const uint64_t dims[] = {1ull << 40, 1ull << 30};
  CHECK_FALSE(trueno::ElementCount(dims, 2).ok());
}

TEST_CASE("DType names parse case-insensitively and unknown ids are rejected") {
  CHECK(trueno::ParseDType("Q4_K") == trueno::DType::kQ4_K);
  CHECK(trueno::ParseDType("bf16") == trueno::DType::kBF16);
  CHECK_FALSE(trueno::ParseDType("q4_k_m").has_value());
  CHECK_FALSE(trueno::GetDTypeTraits(4).has_value());  // removed Q4_2
  CHECK_FALSE(trueno::GetDTypeTraits(1000).has_value());
}
