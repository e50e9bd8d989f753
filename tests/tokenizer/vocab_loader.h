// Test helper: GGUF metadata of the ggml-vocab-*.gguf files as aprender::Metadata.
// Until aprender::ReadGguf lands this parses the metadata section itself (bounds-checked,
// little-endian, GGUF v2/v3); tensors are not needed for tokenizer tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "aprender/metadata.h"

namespace apr_test {

class GgufMetaParser {
 public:
  explicit GgufMetaParser(std::vector<uint8_t> bytes) : b_(std::move(bytes)) {}

  std::optional<aprender::Metadata> Parse() {
    uint32_t magic = 0, version = 0;
    uint64_t n_tensors = 0, n_kv = 0;
    if (!Read(magic) || magic != 0x46554747u || !Read(version) || version < 2 ||
        !Read(n_tensors) || !Read(n_kv)) {
      return std::nullopt;
    }
    aprender::Metadata md;
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key;
      uint32_t type = 0;
      if (!ReadStr(key) || !Read(type)) return std::nullopt;
      auto v = ReadValue(type, 0);
      if (!v) return std::nullopt;
      md.Set(key, std::move(*v));
    }
    return md;
  }

 private:
  template <typename T>
  bool Read(T& v) {
    if (pos_ + sizeof(T) > b_.size()) return false;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool ReadStr(std::string& s) {
    uint64_t n = 0;
    if (!Read(n) || n > b_.size() - pos_) return false;
    s.assign(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  std::optional<aprender::MetaValue> ReadValue(uint32_t type, int depth) {
    using aprender::MetaValue;
    switch (type) {
      case 0: { uint8_t v; if (!Read(v)) return {}; return MetaValue::U8(v); }
      case 1: { int8_t v; if (!Read(v)) return {}; return MetaValue::I8(v); }
      case 2: { uint16_t v; if (!Read(v)) return {}; return MetaValue::U16(v); }
      case 3: { int16_t v; if (!Read(v)) return {}; return MetaValue::I16(v); }
      case 4: { uint32_t v; if (!Read(v)) return {}; return MetaValue::U32(v); }
      case 5: { int32_t v; if (!Read(v)) return {}; return MetaValue::I32(v); }
      case 6: { float v; if (!Read(v)) return {}; return MetaValue::F32(v); }
      case 7: { uint8_t v; if (!Read(v)) return {}; return MetaValue::Bool(v != 0); }
      case 8: { std::string s; if (!ReadStr(s)) return {}; return MetaValue::String(std::move(s)); }
      case 10: { uint64_t v; if (!Read(v)) return {}; return MetaValue::U64(v); }
      case 11: { int64_t v; if (!Read(v)) return {}; return MetaValue::I64(v); }
      case 12: { double v; if (!Read(v)) return {}; return MetaValue::F64(v); }
      case 9: {
        uint32_t et = 0;
        uint64_t n = 0;
        if (depth > 2 || !Read(et) || !Read(n) || n > b_.size() - pos_) return {};
        aprender::MetaArray arr;
        arr.elem_type = static_cast<aprender::MetaType>(et);
        arr.items.reserve(n);
        for (uint64_t i = 0; i < n; ++i) {
          auto v = ReadValue(et, depth + 1);
          if (!v) return {};
          arr.items.push_back(std::move(*v));
        }
        return MetaValue::Array(std::move(arr));
      }
      default:
        return {};
    }
  }

  std::vector<uint8_t> b_;
  size_t pos_ = 0;
};

inline std::optional<aprender::Metadata> LoadGgufMetadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return GgufMetaParser(std::move(bytes)).Parse();
}

inline std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace apr_test
