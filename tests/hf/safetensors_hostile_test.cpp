// Hostile SafeTensors images: each must fail cleanly with the right code and a useful message.
#include <catch2/catch.hpp>

#include "aprender/safetensors.h"
#include "st_bytes.h"

namespace {

absl::Status Parse(const std::vector<uint8_t>& bytes) {
  return aprender::ParseSafetensors(bytes, "hostile").status();
}

absl::Status ParseHeader(const std::string& header, size_t data_bytes) {
  return Parse(apr_test::StImage(header, std::vector<uint8_t>(data_bytes, 0)));
}

bool Mentions(const absl::Status& s, const std::string& what) {
  return std::string(s.message()).find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("SafeTensors rejects files too short for the header size") {
  CHECK(Parse({}).code() == absl::StatusCode::kDataLoss);
  CHECK(Parse({1, 0, 0}).code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("SafeTensors rejects a header size larger than the file or 100 MB") {
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  auto s = Parse(apr_test::StImage(header, std::vector<uint8_t>(4), header.size() + 5));
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK(Mentions(s, "header size"));
  CHECK(Parse(apr_test::StImage(header, {}, UINT64_MAX - 1)).code() == absl::StatusCode::kDataLoss);
  CHECK(Parse(apr_test::StImage(header, {}, (1ull << 63) + 3)).code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("SafeTensors rejects malformed or non-object JSON headers") {
  CHECK(ParseHeader(R"({"a":{"dtype":"F32",)", 0).code() == absl::StatusCode::kDataLoss);
  CHECK(ParseHeader(R"([1,2,3])", 0).code() == absl::StatusCode::kDataLoss);
  CHECK(ParseHeader(R"({"a":[]})", 0).code() == absl::StatusCode::kDataLoss);
  CHECK(ParseHeader(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4).code() ==
        absl::StatusCode::kDataLoss);
  CHECK(ParseHeader(R"({"__metadata__":{"x":1}})", 0).code() == absl::StatusCode::kDataLoss);
  CHECK(ParseHeader(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4).code() ==
        absl::StatusCode::kDataLoss);
  CHECK(ParseHeader(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4).code() ==
        absl::StatusCode::kDataLoss);
  CHECK(ParseHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4).code() ==
        absl::StatusCode::kDataLoss);
  CHECK(ParseHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4).code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("SafeTensors rejects deeply nested JSON without recursing unboundedly") {
  const std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK(ParseHeader(deep, 0).code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("SafeTensors rejects a span that disagrees with dtype and shape") {
  auto s = ParseHeader(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20);
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK(Mentions(s, "\"w\""));
  // A shape whose element count overflows 64 bits.
  CHECK(ParseHeader(
            R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", 4)
            .code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("SafeTensors rejects out-of-bounds and overlapping and gapped spans") {
  auto oob = ParseHeader(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  CHECK(oob.code() == absl::StatusCode::kDataLoss);
  CHECK(Mentions(oob, "\"w\""));
  auto huge = ParseHeader(
      R"({"w":{"dtype":"I8","shape":[8],"data_offsets":[18446744073709551608,18446744073709551615]}})",
      8);
  CHECK(huge.code() == absl::StatusCode::kDataLoss);
  auto overlap = ParseHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             12);
  CHECK(overlap.code() == absl::StatusCode::kDataLoss);
  CHECK(Mentions(overlap, "overlaps"));
  auto gap = ParseHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8);
  CHECK(gap.code() == absl::StatusCode::kDataLoss);
  auto trailing = ParseHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 9);
  CHECK(trailing.code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("SafeTensors rejects duplicate tensor names") {
  auto s = ParseHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       8);
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK(Mentions(s, "twice"));
  // The same name spelled with a JSON escape is still the same name.
  auto escaped = ParseHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("\u0061":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                             8);
  CHECK(escaped.code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("SafeTensors reading a missing or truncated file reports the path") {
  CHECK(aprender::ReadSafetensors("/nonexistent/x.safetensors").status().code() ==
        absl::StatusCode::kNotFound);
}
