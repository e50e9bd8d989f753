// A ModelFile with every metadata value type and several tensor types (random bytes, seeded),
// plus a bit-exact metadata comparison, for the .apr tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "aprender/model_file.h"

namespace apr_test {

inline aprender::MetaValue Arr(aprender::MetaType elem, std::vector<aprender::MetaValue> items) {
  aprender::MetaArray a;
  a.elem_type = elem;
  a.items = std::move(items);
  return aprender::MetaValue::Array(std::move(a));
}

inline float FloatFromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline double DoubleFromBits(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}

inline aprender::Metadata AllTypesMetadata() {
  using aprender::MetaType;
  using aprender::MetaValue;
  aprender::Metadata m;
  m.Set("general.architecture", MetaValue::String("llama"));
  m.Set("general.name", MetaValue::String("tiny-apr-test"));
  m.Set("t.u8", MetaValue::U8(255));
  m.Set("t.i8", MetaValue::I8(-128));
  m.Set("t.u16", MetaValue::U16(65535));
  m.Set("t.i16", MetaValue::I16(-32768));
  m.Set("t.u32", MetaValue::U32(4294967295u));
  m.Set("t.i32", MetaValue::I32(-2147483647 - 1));
  m.Set("t.u64", MetaValue::U64(std::numeric_limits<uint64_t>::max()));
  m.Set("t.i64", MetaValue::I64(std::numeric_limits<int64_t>::min()));
  m.Set("t.f32", MetaValue::F32(0.1f));
  m.Set("t.f32.denormal", MetaValue::F32(FloatFromBits(0x00000001)));
  m.Set("t.f32.negzero", MetaValue::F32(-0.0f));
  m.Set("t.f32.nan_payload", MetaValue::F32(FloatFromBits(0x7fc01234)));
  m.Set("t.f32.inf", MetaValue::F32(-std::numeric_limits<float>::infinity()));
  m.Set("t.f64", MetaValue::F64(0.1));
  m.Set("t.f64.max", MetaValue::F64(std::numeric_limits<double>::max()));
  m.Set("t.f64.tricky", MetaValue::F64(DoubleFromBits(0x44b52d02c7e14af6ull)));  // 1e23-ish
  m.Set("t.f64.nan", MetaValue::F64(DoubleFromBits(0xfff8000000000001ull)));
  m.Set("t.bool", MetaValue::Bool(true));
  m.Set("t.bool.false", MetaValue::Bool(false));
  m.Set("t.str.unicode",
        MetaValue::String("h\xc3\xa9llo \xe2\x96\x81 \xf0\x9f\x98\x80 \"q\" \\ \n"));
  m.Set("t.str.nul", MetaValue::String(std::string("a\0b", 3)));
  m.Set("t.str.invalid_utf8", MetaValue::String("\xff\xfe<0x80>\x80"));
  m.Set("t.str.empty", MetaValue::String(""));
  m.Set("tokenizer.ggml.tokens", MetaValue::StringArray({"<unk>", "<s>", "</s>",
                                                         "\xe2\x96\x81"
                                                         "the",
                                                         "\xc4\xa0"
                                                         "a"}));
  m.Set("tokenizer.ggml.scores", MetaValue::F32Array({0.0f, -1.5f, 3.25e-7f, -0.0f, 1e30f}));
  m.Set("tokenizer.ggml.token_type", MetaValue::I32Array({2, 3, 3, 1, 1}));
  m.Set("t.arr.u8", Arr(MetaType::kUint8, {MetaValue::U8(0), MetaValue::U8(200)}));
  m.Set("t.arr.i8", Arr(MetaType::kInt8, {MetaValue::I8(-1), MetaValue::I8(127)}));
  m.Set("t.arr.u16", Arr(MetaType::kUint16, {MetaValue::U16(1), MetaValue::U16(60000)}));
  m.Set("t.arr.i16", Arr(MetaType::kInt16, {MetaValue::I16(-300)}));
  m.Set("t.arr.u32", Arr(MetaType::kUint32, {MetaValue::U32(7)}));
  m.Set("t.arr.u64", Arr(MetaType::kUint64, {MetaValue::U64(1ull << 63)}));
  m.Set("t.arr.i64", Arr(MetaType::kInt64, {MetaValue::I64(-5), MetaValue::I64(1ll << 62)}));
  m.Set("t.arr.f64",
        Arr(MetaType::kFloat64, {MetaValue::F64(1.0 / 3.0), MetaValue::F64(-2.5e-300)}));
  m.Set("t.arr.bool", Arr(MetaType::kBool, {MetaValue::Bool(false), MetaValue::Bool(true)}));
  m.Set("t.arr.empty", Arr(MetaType::kString, {}));
  m.Set("t.arr.nested",
        Arr(MetaType::kArray,
            {Arr(MetaType::kString, {MetaValue::String("x"), MetaValue::String("\xc0")}),
             Arr(MetaType::kArray, {Arr(MetaType::kInt32, {MetaValue::I32(-9)})})}));
  m.Set("llama.context_length", MetaValue::U32(4096));
  return m;
}

// Bit-exact comparison: same keys in the same order, same types, floats with identical bits.
inline bool SameValue(const aprender::MetaValue& a, const aprender::MetaValue& b) {
  using aprender::MetaType;
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case MetaType::kFloat32: {
      const float x = static_cast<float>(*a.AsDouble()), y = static_cast<float>(*b.AsDouble());
      return std::memcmp(&x, &y, 4) == 0;
    }
    case MetaType::kFloat64: {
      const double x = *a.AsDouble(), y = *b.AsDouble();
      return std::memcmp(&x, &y, 8) == 0;
    }
    case MetaType::kArray: {
      const auto* x = a.AsArray();
      const auto* y = b.AsArray();
      if (x->elem_type != y->elem_type || x->items.size() != y->items.size()) return false;
      for (size_t i = 0; i < x->items.size(); ++i) {
        if (!SameValue(x->items[i], y->items[i])) return false;
      }
      return true;
    }
    default:
      return a == b;
  }
}

inline std::string FirstMetadataDifference(const aprender::Metadata& a,
                                           const aprender::Metadata& b) {
  if (a.size() != b.size()) return "different key counts";
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& [ka, va] = a.entries()[i];
    const auto& [kb, vb] = b.entries()[i];
    if (ka != kb) return "key " + std::to_string(i) + ": '" + ka + "' vs '" + kb + "'";
    if (!SameValue(va, vb))
      return "value of '" + ka + "': " + va.ToString() + " vs " + vb.ToString();
  }
  return "";
}

// Tensors of several types: random (incompressible) bytes, plus one highly compressible tensor.
// `storage` owns the bytes.
inline aprender::ModelFile MakeTestModel(uint32_t seed,
                                         std::vector<std::vector<uint8_t>>& storage) {
  using trueno::DType;
  std::mt19937 rng(seed);
  aprender::ModelFile m;
  m.metadata = AllTypesMetadata();
  struct Spec {
    const char* name;
    DType type;
    std::vector<uint64_t> dims;
    bool compressible;
  };
  const std::vector<Spec> specs = {
      {"token_embd.weight", DType::kQ4_K, {256, 6}, false},
      {"blk.0.attn_q.weight", DType::kQ8_0, {64, 5}, false},
      {"blk.0.ffn_down.weight", DType::kQ6_K, {512, 2}, true},
      {"blk.0.attn_norm.weight", DType::kF32, {33}, false},
      {"blk.0.ffn_gate.weight", DType::kF16, {16, 3, 2}, true},
      {"output.weight", DType::kBF16, {7}, false},
      {"blk.0.attn_k.weight", DType::kQ4_0, {96, 3}, false},
  };
  storage.clear();
  storage.reserve(specs.size());
  for (const auto& s : specs) {
    uint64_t elems = 1;
    for (auto d : s.dims) elems *= d;
    const uint64_t bytes = *trueno::ByteSize(s.type, elems);
    std::vector<uint8_t> data(bytes);
    for (size_t i = 0; i < data.size(); ++i) {
      data[i] = s.compressible ? static_cast<uint8_t>((i / 16) % 3) : static_cast<uint8_t>(rng());
    }
    storage.push_back(std::move(data));
    aprender::Tensor t;
    t.name = s.name;
    t.type = s.type;
    t.dims = s.dims;
    t.data = storage.back();
    m.tensors.push_back(std::move(t));
  }
  return m;
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

inline void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// Little-endian u64 at `off` (reads the header independently of the code under test).
inline uint64_t LeU64(const std::vector<uint8_t>& b, size_t off) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[off + i];
  return v;
}

}  // namespace apr_test
