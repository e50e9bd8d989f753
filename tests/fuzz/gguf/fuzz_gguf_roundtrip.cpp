// Differential oracle for the writer: whatever ParseGguf accepts, WriteGguf must write (unless
// llama.cpp could not load it: tensor names of 64+ bytes) and ReadGguf must read back with the
// same metadata and identical tensors. Aborts on any difference.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>

#include "aprender/gguf.h"

namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "round trip failed: %s\n", what.c_str());
  std::abort();
}

// Values compared through their full rendering, so NaN equals NaN.
bool SameMetadata(const aprender::Metadata& a, const aprender::Metadata& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& [ka, va] = a.entries()[i];
    const auto& [kb, vb] = b.entries()[i];
    if (ka != kb || va.type() != vb.type() || va.ToString(SIZE_MAX) != vb.ToString(SIZE_MAX)) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = aprender::ParseGguf(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!model.ok()) return 0;
  static const std::string path = (std::filesystem::temp_directory_path() /
                                   ("fuzz_gguf_rt_" + std::to_string(getpid()) + ".gguf"))
                                      .string();
  aprender::GgufWriteOptions options;
  options.version = model->version;
  if (const auto* a = model->metadata.Find("general.alignment")) {
    options.alignment = static_cast<uint32_t>(*a->AsUint());  // validated by the reader
  }
  const absl::Status written = aprender::WriteGguf(*model, path, options);
  if (!written.ok()) {
    if (std::string(written.message()).find("llama.cpp accepts") != std::string::npos) return 0;
    Fail("write: " + std::string(written.message()));
  }
  auto back = aprender::ReadGguf(path);
  std::error_code ec;
  std::filesystem::remove(path, ec);  // the mapping stays valid after unlink
  if (!back.ok()) Fail("re-read: " + std::string(back.status().message()));
  aprender::Metadata want = model->metadata;
  if (const auto* a = want.Find("general.alignment")) {  // the writer states it as u32
    want.Set("general.alignment", aprender::MetaValue::U32(static_cast<uint32_t>(*a->AsUint())));
  }
  if (!SameMetadata(want, back->metadata)) Fail("metadata differs");
  if (back->version != model->version) Fail("version differs");
  if (back->tensors.size() != model->tensors.size()) Fail("tensor count differs");
  for (size_t i = 0; i < model->tensors.size(); ++i) {
    const auto& x = model->tensors[i];
    const auto& y = back->tensors[i];
    if (x.name != y.name || x.type != y.type || x.dims != y.dims ||
        !std::equal(x.data.begin(), x.data.end(), y.data.begin(), y.data.end())) {
      Fail("tensor '" + x.name + "' differs");
    }
  }
  return 0;
}
