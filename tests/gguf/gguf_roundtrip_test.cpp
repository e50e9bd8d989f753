// WriteGguf then ReadGguf gives back equal metadata and identical tensor bytes; the written
// layout is checked byte for byte against a hand-built image.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "aprender/gguf.h"
#include "gguf_bytes.h"
#include "test_assets.h"

using aprender::MetaArray;
using aprender::MetaType;
using aprender::MetaValue;
using aprender::ModelFile;
using aprender::Tensor;

namespace {

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

aprender::Metadata EveryTypeMetadata() {
  aprender::Metadata md;
  md.Set("general.architecture", MetaValue::String("llama"));
  md.Set("u8", MetaValue::U8(250));
  md.Set("i8", MetaValue::I8(-100));
  md.Set("u16", MetaValue::U16(60000));
  md.Set("i16", MetaValue::I16(-30000));
  md.Set("u32", MetaValue::U32(4000000000u));
  md.Set("i32", MetaValue::I32(-2000000000));
  md.Set("u64", MetaValue::U64(1ull << 63));
  md.Set("i64", MetaValue::I64(-(1ll << 62)));
  md.Set("f32", MetaValue::F32(0.1f));
  md.Set("f64", MetaValue::F64(0.1));
  md.Set("bool", MetaValue::Bool(false));
  md.Set("bytes", MetaValue::String(std::string("\xFF\x00\xFE", 3)));  // not UTF-8, embedded NUL
  md.Set("tokens", MetaValue::StringArray({"<s>", "</s>", "", "\xC4\xA0the"}));
  md.Set("scores", MetaValue::F32Array({0.0f, -1.5f, 3.25f}));
  md.Set("types", MetaValue::I32Array({1, 3, 6}));
  MetaArray inner_a{MetaType::kUint16, {MetaValue::U16(1), MetaValue::U16(2)}};
  MetaArray inner_b{MetaType::kString, {MetaValue::String("x")}};
  MetaArray inner_c{MetaType::kFloat64, {}};
  MetaArray outer{
      MetaType::kArray,
      {MetaValue::Array(inner_a), MetaValue::Array(inner_b), MetaValue::Array(inner_c)}};
  md.Set("nested", MetaValue::Array(outer));
  md.Set("empty", MetaValue::Array(MetaArray{MetaType::kBool, {}}));
  return md;
}

struct OwnedModel {
  ModelFile model;
  std::vector<std::vector<uint8_t>> buffers;
  void Add(const std::string& name, trueno::DType type, std::vector<uint64_t> dims, size_t bytes,
           std::mt19937& rng) {
    buffers.emplace_back(bytes);
    for (auto& x : buffers.back()) x = static_cast<uint8_t>(rng());
    Tensor t;
    t.name = name;
    t.type = type;
    t.dims = std::move(dims);
    t.data = {buffers.back().data(), buffers.back().size()};
    model.tensors.push_back(std::move(t));
  }
};

OwnedModel SampleModel(uint32_t seed) {
  std::mt19937 rng(seed);
  OwnedModel m;
  m.buffers.reserve(8);
  m.model.metadata = EveryTypeMetadata();
  m.Add("f32.weight", trueno::DType::kF32, {5, 3}, 60, rng);
  m.Add("f16.weight", trueno::DType::kF16, {7}, 14, rng);
  m.Add("bf16.weight", trueno::DType::kBF16, {4, 2}, 16, rng);
  m.Add("q4_0.weight", trueno::DType::kQ4_0, {64, 2}, 4 * 18, rng);
  m.Add("q8_0.weight", trueno::DType::kQ8_0, {32}, 34, rng);
  m.Add("q4_k.weight", trueno::DType::kQ4_K, {256, 1}, 144, rng);
  m.Add("q6_k.weight", trueno::DType::kQ6_K, {256}, 210, rng);
  m.Add("empty.weight", trueno::DType::kF32, {0, 4}, 0, rng);
  return m;
}

void CheckSame(const ModelFile& a, const ModelFile& b) {
  CHECK(a.metadata == b.metadata);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    INFO("tensor " << a.tensors[i].name);
    CHECK(a.tensors[i].name == b.tensors[i].name);
    CHECK(a.tensors[i].type == b.tensors[i].type);
    CHECK(a.tensors[i].dims == b.tensors[i].dims);
    CHECK(std::equal(a.tensors[i].data.begin(), a.tensors[i].data.end(), b.tensors[i].data.begin(),
                     b.tensors[i].data.end()));
  }
}

}  // namespace

TEST_CASE("GGUF write then read round-trips every metadata type and tensor type (v2 and v3)") {
  const uint32_t seed = 1234;
  INFO("seed " << seed);
  const OwnedModel src = SampleModel(seed);
  apr_test::ScratchDir dir;
  for (uint32_t version : {2u, 3u}) {
    INFO("version " << version);
    const std::string path = dir.file("rt" + std::to_string(version) + ".gguf");
    REQUIRE(aprender::WriteGguf(src.model, path, {version, 32}).ok());
    CHECK(!std::filesystem::exists(path + ".tmp"));
    auto back = aprender::ReadGguf(path);
    REQUIRE(back.ok());
    CHECK(back->version == version);
    CheckSame(src.model, *back);
    // The mapping is page-aligned, so aligned file offsets give aligned pointers.
    for (const auto& t : back->tensors) {
      if (!t.data.empty()) CHECK(reinterpret_cast<uintptr_t>(t.data.data()) % 32 == 0);
    }
  }
}

TEST_CASE("GGUF writer with a non-default alignment records general.alignment") {
  const OwnedModel src = SampleModel(7);
  apr_test::ScratchDir dir;
  const std::string path = dir.file("a64.gguf");
  REQUIRE(aprender::WriteGguf(src.model, path, {3, 64}).ok());
  auto back = aprender::ReadGguf(path);
  REQUIRE(back.ok());
  REQUIRE(back->metadata.Find("general.alignment") != nullptr);
  CHECK(*back->metadata.Find("general.alignment")->AsUint() == 64);
  CHECK(back->metadata.Find("general.alignment")->type() == MetaType::kUint32);
  for (const auto& t : back->tensors) {
    if (!t.data.empty()) CHECK(reinterpret_cast<uintptr_t>(t.data.data()) % 64 == 0);
  }
  ModelFile cleaned = *back;
  cleaned.metadata.Erase("general.alignment");
  CheckSame(src.model, cleaned);
}

TEST_CASE("GGUF writer output matches a hand-built llama.cpp-layout image byte for byte") {
  std::vector<uint8_t> w(12);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint8_t>(i + 1);
  std::vector<uint8_t> v(4, 0xAB);
  ModelFile m;
  m.metadata.Set("general.architecture", MetaValue::String("llama"));
  m.metadata.Set("n", MetaValue::U32(7));
  m.tensors.push_back(Tensor{"w", trueno::DType::kF32, {3}, {w.data(), w.size()}});
  m.tensors.push_back(Tensor{"v", trueno::DType::kF16, {2}, {v.data(), v.size()}});
  apr_test::ScratchDir dir;
  const std::string path = dir.file("exact.gguf");
  REQUIRE(aprender::WriteGguf(m, path).ok());

  gguf_test::Bytes e;
  e.Header(3, 2, 2);
  e.Key("general.architecture", 8).Str("llama");
  e.Key("n", 4).U32(7);
  e.TensorInfo("w", {3}, 0, 0);
  e.TensorInfo("v", {2}, 1, 32);  // 12 bytes padded to 32
  e.PadTo(32);
  e.Raw(w.data(), w.size()).PadTo(32);
  e.Raw(v.data(), v.size()).PadTo(32);  // llama.cpp pads after the last tensor too
  CHECK(ReadAll(path) == e.data());
}

TEST_CASE("GGUF writer rejects inconsistent models without leaving files behind") {
  std::vector<uint8_t> buf(8);
  apr_test::ScratchDir dir;
  const std::string path = dir.file("bad.gguf");
  ModelFile wrong_size;
  wrong_size.tensors.push_back(Tensor{"t", trueno::DType::kF32, {3}, {buf.data(), buf.size()}});
  auto s = aprender::WriteGguf(wrong_size, path);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("'t'") != std::string::npos);
  ModelFile dup;
  dup.tensors.push_back(Tensor{"t", trueno::DType::kF32, {2}, {buf.data(), buf.size()}});
  dup.tensors.push_back(Tensor{"t", trueno::DType::kF32, {2}, {buf.data(), buf.size()}});
  CHECK(!aprender::WriteGguf(dup, path).ok());
  ModelFile mixed;
  mixed.metadata.Set("m", MetaValue::Array(MetaArray{MetaType::kUint8, {MetaValue::I32(1)}}));
  CHECK(!aprender::WriteGguf(mixed, path).ok());
  CHECK(!aprender::WriteGguf(ModelFile{}, path, {1, 32}).ok());
  CHECK(!aprender::WriteGguf(ModelFile{}, path, {3, 24}).ok());
  CHECK(!std::filesystem::exists(path));
  CHECK(!std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("GGUF re-writing a file read from disk reproduces it byte for byte") {
  const OwnedModel src = SampleModel(99);
  apr_test::ScratchDir dir;
  REQUIRE(aprender::WriteGguf(src.model, dir.file("a.gguf")).ok());
  auto a = aprender::ReadGguf(dir.file("a.gguf"));
  REQUIRE(a.ok());
  REQUIRE(aprender::WriteGguf(*a, dir.file("b.gguf")).ok());
  CHECK(ReadAll(dir.file("a.gguf")) == ReadAll(dir.file("b.gguf")));
}

TEST_CASE("GGUF writer rejects what llama.cpp could not load: long names, partial blocks") {
  std::vector<uint8_t> buf(18);
  apr_test::ScratchDir dir;
  ModelFile long_name;
  long_name.tensors.push_back(
      Tensor{std::string(64, 'n'), trueno::DType::kF32, {1}, {buf.data(), 4}});
  CHECK(!aprender::WriteGguf(long_name, dir.file("a.gguf")).ok());
  ModelFile partial;  // 32 q4_0 elements as [16, 2]: a whole block, but rows split it
  partial.tensors.push_back(Tensor{"q", trueno::DType::kQ4_0, {16, 2}, {buf.data(), 18}});
  auto s = aprender::WriteGguf(partial, dir.file("b.gguf"));
  CHECK(std::string(s.message()).find("block size") != std::string::npos);
  ModelFile empty_value;
  empty_value.metadata.Set("k", MetaValue());
  CHECK(!aprender::WriteGguf(empty_value, dir.file("c.gguf")).ok());
}
