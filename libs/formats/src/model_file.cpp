#include "aprender/model_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "trueno/str_cat.h"
#include "aprender/apr_format.h"
#include "aprender/gguf.h"
#include "aprender/hf_dir.h"
#include "aprender/safetensors.h"

namespace aprender {

std::string_view FileFormatName(FileFormat f) {
  switch (f) {
    case FileFormat::kGguf: return "gguf";
    case FileFormat::kSafetensors: return "safetensors";
    case FileFormat::kHfDir: return "hf-dir";
    case FileFormat::kApr: return "apr";
  }
  return "unknown";
}

uint64_t Tensor::elements() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;
  return n;
}

const Tensor* ModelFile::FindTensor(std::string_view name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::StatusOr<FileFormat> DetectFormat(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "config.json", ec)) return FileFormat::kHfDir;
    return absl::InvalidArgumentError(
        trueno::Concat(path, ": directory has no config.json; expected a Hugging Face model directory"));
  }
  if (!fs::exists(path, ec)) return absl::NotFoundError(trueno::Concat(path, ": no such file"));
  if (absl::EndsWith(path, ".safetensors.index.json")) return FileFormat::kSafetensors;
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, sizeof(magic));
  const auto got = in.gcount();
  if (got >= 4 && std::memcmp(magic, "GGUF", 4) == 0) return FileFormat::kGguf;
  if (got >= 4 && std::memcmp(magic, "APR", 3) == 0) return FileFormat::kApr;
  if (absl::EndsWith(path, ".safetensors")) return FileFormat::kSafetensors;
  return absl::InvalidArgumentError(trueno::Concat(
      path, ": unrecognised model format (expected GGUF, .apr, .safetensors or an HF directory)"));
}

absl::StatusOr<ModelFile> LoadModelFile(const std::string& path) {
  auto format = DetectFormat(path);
  if (!format.ok()) return format.status();
  switch (*format) {
    case FileFormat::kGguf: return ReadGguf(path);
    case FileFormat::kApr: return ReadApr(path);
    case FileFormat::kSafetensors: return ReadSafetensors(path);
    case FileFormat::kHfDir: return ReadHfDir(path);
  }
  return absl::InternalError("unreachable");
}

}  // namespace aprender
