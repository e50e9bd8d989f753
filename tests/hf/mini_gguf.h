// A deliberately small, test-only GGUF v3 reader (scalars, strings, arrays of them, tensor infos)
// used as an independent reference for the HF importer. Not hardened: test inputs are trusted.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace apr_test {

struct MiniGgufValue {
  uint32_t type = 0;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string s;
  uint32_t elem_type = 0;
  std::vector<MiniGgufValue> items;
};

struct MiniGgufTensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;
  uint64_t offset = 0;
};

struct MiniGguf {
  std::vector<uint8_t> bytes;
  std::map<std::string, MiniGgufValue> kv;
  std::vector<MiniGgufTensor> tensors;
  uint64_t data_start = 0;
};

inline MiniGguf ReadMiniGguf(const std::string& path) {
  MiniGguf g;
  std::ifstream in(path, std::ios::binary);
  g.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  size_t p = 0;
  auto raw = [&](void* dst, size_t n) {
    if (p + n > g.bytes.size()) throw std::runtime_error("truncated gguf");
    std::memcpy(dst, g.bytes.data() + p, n);
    p += n;
  };
  auto u32 = [&] {
    uint32_t v;
    raw(&v, 4);
    return v;
  };
  auto u64 = [&] {
    uint64_t v;
    raw(&v, 8);
    return v;
  };
  auto str = [&] {
    std::string s(u64(), '\0');
    raw(s.data(), s.size());
    return s;
  };
  auto scalar = [&](uint32_t t, MiniGgufValue& v) {
    static const size_t kSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t == 8) {
      v.s = str();
      return;
    }
    uint8_t b[8] = {};
    raw(b, kSize[t]);
    switch (t) {
      case 0:
      case 2:
      case 4:
      case 10:
        std::memcpy(&v.u, b, kSize[t]);
        v.i = static_cast<int64_t>(v.u);
        break;
      case 1:
        v.i = static_cast<int8_t>(b[0]);
        break;
      case 3: {
        int16_t x;
        std::memcpy(&x, b, 2);
        v.i = x;
        break;
      }
      case 5: {
        int32_t x;
        std::memcpy(&x, b, 4);
        v.i = x;
        break;
      }
      case 11:
        std::memcpy(&v.i, b, 8);
        break;
      case 6: {
        float x;
        std::memcpy(&x, b, 4);
        v.f = x;
        break;
      }
      case 12:
        std::memcpy(&v.f, b, 8);
        break;
      case 7:
        v.u = b[0];
        break;
      default:
        throw std::runtime_error("bad gguf type");
    }
  };
  if (u32() != 0x46554747u) throw std::runtime_error("not gguf");
  u32();  // version
  const uint64_t n_tensors = u64(), n_kv = u64();
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string key = str();
    MiniGgufValue v;
    v.type = u32();
    if (v.type == 9) {
      v.elem_type = u32();
      const uint64_t n = u64();
      for (uint64_t j = 0; j < n; ++j) {
        MiniGgufValue item;
        item.type = v.elem_type;
        scalar(v.elem_type, item);
        v.items.push_back(std::move(item));
      }
    } else {
      scalar(v.type, v);
    }
    g.kv[key] = std::move(v);
  }
  for (uint64_t t = 0; t < n_tensors; ++t) {
    MiniGgufTensor ti;
    ti.name = str();
    const uint32_t nd = u32();
    for (uint32_t d = 0; d < nd; ++d) ti.dims.push_back(u64());
    ti.type = u32();
    ti.offset = u64();
    g.tensors.push_back(std::move(ti));
  }
  uint64_t align = 32;
  if (g.kv.count("general.alignment")) align = g.kv["general.alignment"].u;
  g.data_start = (p + align - 1) / align * align;
  return g;
}

}  // namespace apr_test
