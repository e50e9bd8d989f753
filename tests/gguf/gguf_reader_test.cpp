// The reader against hand-built byte images laid out per the GGUF spec.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>

#include "aprender/gguf.h"
#include "gguf_bytes.h"
#include "test_assets.h"

using aprender::MetaType;
using aprender::ParseGguf;
using gguf_test::Bytes;

namespace {

std::span<const uint8_t> Span(const Bytes& b) { return {b.data().data(), b.data().size()}; }

}  // namespace

TEST_CASE("GGUF reader decodes every scalar metadata type from a hand-built v3 image") {
  Bytes b;
  b.Header(3, 0, 13);
  b.Key("u8", 0).U8(200);
  b.Key("i8", 1).U8(0xFE);  // -2
  b.Key("u16", 2).U16(65000);
  b.Key("i16", 3).U16(0x8000);  // -32768
  b.Key("u32", 4).U32(4000000000u);
  b.Key("i32", 5).I32(-123456);
  b.Key("f32", 6).F32(1.5f);
  b.Key("bool", 7).U8(1);
  b.Key("str", 8).Str("h\xE9llo");
  b.Key("u64", 10).U64(0xFFFFFFFFFFFFFFFFull);
  b.Key("i64", 11).U64(static_cast<uint64_t>(-5));
  b.Key("f64", 12).F64(-2.25);
  b.Key("empty", 8).Str("");
  auto m = ParseGguf(Span(b), "scalars.gguf");
  REQUIRE(m.ok());
  CHECK(m->version == 3);
  CHECK(m->tensors.empty());
  const auto& md = m->metadata;
  REQUIRE(md.size() == 13);
  CHECK(md.entries()[0].first == "u8");  // file order preserved
  CHECK(md.Find("u8")->type() == MetaType::kUint8);
  CHECK(*md.Find("u8")->AsUint() == 200);
  CHECK(md.Find("i8")->type() == MetaType::kInt8);
  CHECK(*md.Find("i8")->AsInt() == -2);
  CHECK(*md.Find("u16")->AsUint() == 65000);
  CHECK(*md.Find("i16")->AsInt() == -32768);
  CHECK(*md.Find("u32")->AsUint() == 4000000000u);
  CHECK(*md.Find("i32")->AsInt() == -123456);
  CHECK(md.Find("f32")->type() == MetaType::kFloat32);
  CHECK(*md.Find("f32")->AsDouble() == 1.5);
  CHECK(*md.Find("bool")->AsBool() == true);
  CHECK(*md.Find("str")->AsString() == "h\xE9llo");  // not UTF-8: kept as bytes
  CHECK(*md.Find("u64")->AsUint() == 0xFFFFFFFFFFFFFFFFull);
  CHECK(*md.Find("i64")->AsInt() == -5);
  CHECK(*md.Find("f64")->AsDouble() == -2.25);
  CHECK(md.Find("empty")->AsString()->empty());
}

TEST_CASE("GGUF reader decodes arrays, nested arrays and empty arrays") {
  Bytes b;
  b.Header(2, 0, 3);
  b.Key("ints", 9).U32(5).U64(3).I32(1).I32(-2).I32(3);
  // [[u8 x2], [string x1], []] : array of arrays with differing inner types.
  b.Key("nested", 9).U32(9).U64(3);
  b.U32(0).U64(2).U8(7).U8(8);
  b.U32(8).U64(1).Str("x");
  b.U32(6).U64(0);
  b.Key("none", 9).U32(8).U64(0);
  auto m = ParseGguf(Span(b), "arrays.gguf");
  REQUIRE(m.ok());
  CHECK(m->version == 2);
  const auto* ints = m->metadata.Find("ints")->AsArray();
  REQUIRE(ints);
  CHECK(ints->elem_type == MetaType::kInt32);
  REQUIRE(ints->items.size() == 3);
  CHECK(*ints->items[1].AsInt() == -2);
  const auto* nested = m->metadata.Find("nested")->AsArray();
  REQUIRE(nested);
  CHECK(nested->elem_type == MetaType::kArray);
  REQUIRE(nested->items.size() == 3);
  CHECK(nested->items[0].AsArray()->elem_type == MetaType::kUint8);
  CHECK(*nested->items[0].AsArray()->items[1].AsUint() == 8);
  CHECK(*nested->items[1].AsArray()->items[0].AsString() == "x");
  CHECK(nested->items[2].AsArray()->items.empty());
  CHECK(m->metadata.Find("none")->AsArray()->items.empty());
}

TEST_CASE("GGUF reader places tensors at aligned offsets after the padded header") {
  Bytes b;
  b.Header(3, 3, 0);
  b.TensorInfo("a", {3}, 0, 0);      // 12 bytes of f32
  b.TensorInfo("b", {2, 2}, 1, 32);  // 8 bytes of f16
  b.TensorInfo("q", {32}, 8, 64);    // one Q8_0 block: 34 bytes
  b.PadTo(32);
  const size_t data_start = b.size();
  const float a[3] = {1.0f, -2.0f, 0.5f};
  b.Raw(a, 12).PadTo(32);
  b.U16(0x3C00).U16(0x4000).U16(0xC000).U16(0x0000).PadTo(32);
  for (int i = 0; i < 34; ++i) b.U8(static_cast<uint8_t>(i));
  auto m = ParseGguf(Span(b), "tensors.gguf");
  REQUIRE(m.ok());
  REQUIRE(m->tensors.size() == 3);
  const auto& ta = m->tensors[0];
  CHECK(ta.name == "a");
  CHECK(ta.type == trueno::DType::kF32);
  CHECK(ta.dims == std::vector<uint64_t>{3});
  REQUIRE(ta.data.size() == 12);
  CHECK(ta.data.data() == b.data().data() + data_start);  // zero-copy view
  float back[3];
  std::memcpy(back, ta.data.data(), 12);
  CHECK(back[1] == -2.0f);
  CHECK(m->tensors[1].type == trueno::DType::kF16);
  CHECK(m->tensors[1].dims == std::vector<uint64_t>{2, 2});
  CHECK(m->tensors[1].data.data() == b.data().data() + data_start + 32);
  CHECK(m->tensors[1].data.size() == 8);
  CHECK(m->tensors[2].type == trueno::DType::kQ8_0);
  CHECK(m->tensors[2].data.size() == 34);
  CHECK(m->tensors[2].data[33] == 33);
  CHECK(m->FindTensor("q") == &m->tensors[2]);
}

TEST_CASE("GGUF reader honours general.alignment for padding and offsets") {
  Bytes b;
  b.Header(3, 2, 1);
  b.Key("general.alignment", 4).U32(64);
  b.TensorInfo("x", {4}, 0, 0);
  b.TensorInfo("y", {4}, 0, 64);
  b.PadTo(64);
  const size_t data_start = b.size();
  b.Zeros(16).PadTo(64).Zeros(16);
  auto m = ParseGguf(Span(b), "align64.gguf");
  REQUIRE(m.ok());
  CHECK(m->tensors[0].data.data() == b.data().data() + data_start);
  CHECK(m->tensors[1].data.data() == b.data().data() + data_start + 64);
}

TEST_CASE("GGUF reader accepts zero-length tensors and scalar (0-dim) tensors") {
  Bytes b;
  b.Header(3, 3, 0);
  b.TensorInfo("empty", {0, 8}, 0, 0);
  b.TensorInfo("scalar", {}, 0, 0);
  b.TensorInfo("empty2", {32, 0}, 2, 32);  // q4_0 with zero rows, offset at the end
  b.PadTo(32);
  b.F32(7.0f).PadTo(32);
  auto m = ParseGguf(Span(b), "zero.gguf");
  REQUIRE(m.ok());
  CHECK(m->tensors[0].data.empty());
  CHECK(m->tensors[0].elements() == 0);
  CHECK(m->tensors[1].data.size() == 4);
  CHECK(m->tensors[2].data.empty());
}

TEST_CASE("GGUF reader accepts a metadata-only file that ends before the data padding") {
  Bytes b;
  b.Header(3, 0, 1);
  b.Key("general.architecture", 8).Str("llama");
  auto m = ParseGguf(Span(b), "meta-only.gguf");
  REQUIRE(m.ok());
  CHECK(*m->metadata.Find("general.architecture")->AsString() == "llama");
}

TEST_CASE("ReadGguf maps a file and keeps the mapping alive in storage") {
  apr_test::ScratchDir dir;
  Bytes b;
  b.Header(3, 1, 0);
  b.TensorInfo("t", {2}, 0, 0);
  b.PadTo(32);
  b.F32(3.0f).F32(4.0f).PadTo(32);
  const std::string path = dir.file("mapped.gguf");
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data().data()),
             static_cast<std::streamsize>(b.size()));
  auto m = aprender::ReadGguf(path);
  REQUIRE(m.ok());
  CHECK(m->path == path);
  CHECK(m->format == aprender::FileFormat::kGguf);
  CHECK(!m->storage.empty());
  float v[2];
  std::memcpy(v, m->tensors[0].data.data(), 8);
  CHECK(v[0] == 3.0f);
  CHECK(v[1] == 4.0f);
  auto missing = aprender::ReadGguf(dir.file("nope.gguf"));
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
}
