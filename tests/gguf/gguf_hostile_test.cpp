// Hostile and corrupt inputs: every one must give an error status that names the problem,
// never a crash or a huge allocation (the ASan build and the fuzzer back this up).
#include <catch2/catch.hpp>

#include <string>

#include "aprender/gguf.h"
#include "gguf_bytes.h"

using aprender::ParseGguf;
using gguf_test::Bytes;

namespace {

std::span<const uint8_t> Span(const Bytes& b) { return {b.data().data(), b.data().size()}; }

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// A small valid file exercising strings, arrays, nested arrays and two tensors.
Bytes SmallValidFile() {
  Bytes b;
  b.Header(3, 2, 4);
  b.Key("general.architecture", 8).Str("llama");
  b.Key("general.alignment", 4).U32(16);
  b.Key("tokens", 9).U32(8).U64(2).Str("a").Str("bc");
  b.Key("nested", 9).U32(9).U64(1).U32(4).U64(2).U32(1).U32(2);
  b.TensorInfo("w", {2, 2}, 0, 0);
  b.TensorInfo("v", {2}, 1, 16);
  b.PadTo(16);
  b.F32(1).F32(2).F32(3).F32(4);
  b.U16(0x3C00).U16(0x3C00).PadTo(16);
  return b;
}

}  // namespace

TEST_CASE("GGUF small valid file parses (baseline for the hostile cases)") {
  auto m = ParseGguf(Span(SmallValidFile()), "small.gguf");
  REQUIRE(m.ok());
  CHECK(m->tensors.size() == 2);
  CHECK(m->metadata.size() == 4);
}

TEST_CASE("GGUF truncated at every prefix length gives an error, never a crash") {
  const Bytes full = SmallValidFile();
  // The last tensor ends 12 bytes before EOF (padding); prefixes that keep all tensor bytes
  // are legitimately complete.
  const size_t complete = full.size() - 12;
  for (size_t n = 0; n < complete; ++n) {
    std::span<const uint8_t> prefix(full.data().data(), n);
    auto m = ParseGguf(prefix, "cut.gguf");
    INFO("prefix length " << n);
    CHECK_FALSE(m.ok());
    if (!m.ok()) CHECK(Message(m.status()).find("cut.gguf") != std::string::npos);
  }
}

TEST_CASE("GGUF wrong magic is rejected as not a GGUF file") {
  Bytes b = SmallValidFile();
  b.data()[0] = 'X';
  auto m = ParseGguf(Span(b), "magic.gguf");
  CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(m.status()).find("GGUF") != std::string::npos);
}

TEST_CASE("GGUF version 1 is Unimplemented, unknown and big-endian versions are rejected") {
  Bytes v1;
  v1.Header(1, 0, 0);
  CHECK(ParseGguf(Span(v1), "v1.gguf").status().code() == absl::StatusCode::kUnimplemented);
  CHECK(Message(ParseGguf(Span(v1), "v1.gguf").status()).find("version 1") != std::string::npos);
  Bytes v4;
  v4.Header(4, 0, 0);
  CHECK(!ParseGguf(Span(v4), "v4.gguf").ok());
  Bytes be;
  be.Header(0x03000000u, 0, 0);
  CHECK(Message(ParseGguf(Span(be), "be.gguf").status()).find("big-endian") != std::string::npos);
}

TEST_CASE("GGUF absurd kv and tensor counts are rejected before allocating") {
  Bytes kv;
  kv.Header(3, 0, 0xFFFFFFFFFFFFFFFFull).Zeros(64);
  auto a = ParseGguf(Span(kv), "kv.gguf");
  CHECK(a.status().code() == absl::StatusCode::kDataLoss);
  CHECK(Message(a.status()).find("metadata_kv_count") != std::string::npos);
  Bytes tc;
  tc.Header(3, 1ull << 40, 0).Zeros(64);
  auto b = ParseGguf(Span(tc), "tc.gguf");
  CHECK(b.status().code() == absl::StatusCode::kDataLoss);
  CHECK(Message(b.status()).find("tensor_count") != std::string::npos);
  Bytes arr;
  arr.Header(3, 0, 1).Key("big", 9).U32(12).U64(1ull << 60).Zeros(32);
  auto c = ParseGguf(Span(arr), "arr.gguf");
  CHECK(c.status().code() == absl::StatusCode::kDataLoss);
  CHECK(Message(c.status()).find("'big'") != std::string::npos);
}

TEST_CASE("GGUF string length past EOF is rejected naming the key") {
  Bytes b;
  b.Header(3, 0, 1).Key("general.name", 8).U64(1000).Raw("abc", 3);
  auto m = ParseGguf(Span(b), "str.gguf");
  CHECK(m.status().code() == absl::StatusCode::kDataLoss);
  CHECK(Message(m.status()).find("general.name") != std::string::npos);
  Bytes k;
  k.Header(3, 0, 1).U64(~0ull).Zeros(16);
  CHECK(ParseGguf(Span(k), "key.gguf").status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("GGUF duplicate keys and duplicate tensor names are rejected") {
  Bytes k;
  k.Header(3, 0, 2).Key("a", 4).U32(1).Key("a", 4).U32(2);
  auto m = ParseGguf(Span(k), "dupkey.gguf");
  CHECK(!m.ok());
  CHECK(Message(m.status()).find("'a' appears twice") != std::string::npos);
  Bytes t;
  t.Header(3, 2, 0).TensorInfo("w", {1}, 0, 0).TensorInfo("w", {1}, 0, 32).PadTo(32).Zeros(36);
  auto n = ParseGguf(Span(t), "duptensor.gguf");
  CHECK(!n.ok());
  CHECK(Message(n.status()).find("tensor 'w' appears twice") != std::string::npos);
}

TEST_CASE("GGUF unknown value types and bad bools are rejected") {
  Bytes b;
  b.Header(3, 0, 1).Key("x", 13).U32(0);
  CHECK(Message(ParseGguf(Span(b), "t.gguf").status()).find("unknown value type 13") !=
        std::string::npos);
  Bytes a;
  a.Header(3, 0, 1).Key("x", 9).U32(99).U64(0);
  CHECK(!ParseGguf(Span(a), "a.gguf").ok());
  Bytes bo;
  bo.Header(3, 0, 1).Key("flag", 7).U8(2);
  CHECK(Message(ParseGguf(Span(bo), "b.gguf").status()).find("flag") != std::string::npos);
}

TEST_CASE("GGUF arrays nested beyond the depth limit are rejected") {
  Bytes b;
  b.Header(3, 0, 1).Key("deep", 9);
  for (int i = 0; i < 100; ++i) b.U32(9).U64(1);
  b.U32(0).U64(0);
  auto m = ParseGguf(Span(b), "deep.gguf");
  CHECK(!m.ok());
  CHECK(Message(m.status()).find("nested") != std::string::npos);
}

TEST_CASE("GGUF bad general.alignment values are rejected") {
  for (uint32_t bad : {0u, 3u, 48u}) {
    Bytes b;
    b.Header(3, 0, 1).Key("general.alignment", 4).U32(bad);
    auto m = ParseGguf(Span(b), "align.gguf");
    INFO("alignment " << bad);
    CHECK(m.status().code() == absl::StatusCode::kDataLoss);
    CHECK(Message(m.status()).find("general.alignment") != std::string::npos);
  }
  Bytes s;
  s.Header(3, 0, 1).Key("general.alignment", 8).Str("32");
  CHECK(!ParseGguf(Span(s), "align-str.gguf").ok());
}

TEST_CASE("GGUF tensor offsets out of range, misaligned or overlapping are rejected") {
  auto parse = [](uint64_t off_a, uint64_t off_b, size_t data_bytes) {
    Bytes b;
    b.Header(3, 2, 0).TensorInfo("a", {8}, 0, off_a).TensorInfo("b", {8}, 0, off_b).PadTo(32);
    b.Zeros(data_bytes);
    return ParseGguf(Span(b), "off.gguf");
  };
  CHECK(parse(0, 32, 64).ok());
  auto out = parse(0, 64, 64);
  CHECK(out.status().code() == absl::StatusCode::kDataLoss);
  CHECK(Message(out.status()).find("tensor 'b'") != std::string::npos);
  CHECK(!parse(0, 0xFFFFFFFFFFFFFFE0ull, 64).ok());  // offset + size would wrap
  auto mis = parse(0, 36, 96);
  CHECK(Message(mis.status()).find("not a multiple of the alignment") != std::string::npos);
  auto over = parse(32, 32, 96);
  CHECK(Message(over.status()).find("overlaps") != std::string::npos);
  CHECK(!parse(0, 0, 64).ok());
}

TEST_CASE("GGUF n_dims above 4, unknown tensor types and bad shapes are rejected") {
  Bytes d;
  d.Header(3, 1, 0).TensorInfo("t", {1, 1, 1, 1, 1}, 0, 0).PadTo(32).Zeros(32);
  auto a = ParseGguf(Span(d), "dims.gguf");
  CHECK(Message(a.status()).find("n_dims 5") != std::string::npos);
  Bytes u;
  u.Header(3, 1, 0).TensorInfo("t", {4}, 200, 0).PadTo(32).Zeros(32);
  auto b = ParseGguf(Span(u), "type.gguf");
  CHECK(b.status().code() == absl::StatusCode::kUnimplemented);
  CHECK(Message(b.status()).find("type id 200") != std::string::npos);
  Bytes o;  // element count overflows 64 bits
  o.Header(3, 1, 0).TensorInfo("t", {1ull << 32, 1ull << 32, 4}, 0, 0).PadTo(32).Zeros(32);
  CHECK(!ParseGguf(Span(o), "ovf.gguf").ok());
  Bytes bs;  // byte size overflows even though the element count does not
  bs.Header(3, 1, 0).TensorInfo("t", {1ull << 62}, 0, 0).PadTo(32).Zeros(32);
  CHECK(!ParseGguf(Span(bs), "bytes.gguf").ok());
  Bytes q;  // q4_0 rows must be whole blocks of 32
  q.Header(3, 1, 0).TensorInfo("t", {16, 2}, 2, 0).PadTo(32).Zeros(64);
  CHECK(Message(ParseGguf(Span(q), "q.gguf").status()).find("block size") != std::string::npos);
}

TEST_CASE("GGUF empty input and a bare magic are errors") {
  CHECK(!ParseGguf({}, "empty.gguf").ok());
  Bytes b;
  b.Raw("GGUF", 4);
  CHECK(ParseGguf(Span(b), "magic-only.gguf").status().code() == absl::StatusCode::kDataLoss);
}
