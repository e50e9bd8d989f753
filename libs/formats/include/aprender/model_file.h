// The in-memory form every reader produces and every writer consumes: metadata (GGUF key names)
// plus named tensors whose bytes are views into mapped files or owned buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aprender/metadata.h"
#include "trueno/dtype.h"

namespace aprender {

enum class FileFormat { kGguf, kSafetensors, kHfDir, kApr };
std::string_view FileFormatName(FileFormat f);

struct Tensor {
  // GGUF naming: "token_embd.weight", "blk.0.attn_q.weight", "output_norm.weight"
  std::string name;
  trueno::DType type = trueno::DType::kF32;
  // GGML order: dims[0] is the contiguous (fastest-varying) dimension. A [rows, cols] row-major
  // matrix from PyTorch/SafeTensors has dims = {cols, rows}.
  std::vector<uint64_t> dims;
  std::span<const uint8_t> data;  // exactly ByteSize(type, elements) bytes
  uint64_t elements() const;
};

struct ModelFile {
  FileFormat format = FileFormat::kGguf;
  std::string path;
  uint32_t version = 0;  // container version (GGUF 2/3, .apr 2), 0 where not applicable
  Metadata metadata;
  std::vector<Tensor> tensors;
  // Keeps the mapped files / decompressed buffers that `tensors[i].data` point into alive.
  std::vector<std::shared_ptr<const void>> storage;
  // The read-only private file mappings among `storage`: a consumer that copies tensors out may
  // drop their pages from memory (re-reading faults the same bytes back in).
  std::vector<std::span<const uint8_t>> mapped;

  const Tensor* FindTensor(std::string_view name) const;
};

// Opens any supported model by content: GGUF magic, .apr magic, a .safetensors file,
// a *.safetensors.index.json, or an HF model directory.
absl::StatusOr<ModelFile> LoadModelFile(const std::string& path);

// Detects the format of `path` without fully parsing it.
absl::StatusOr<FileFormat> DetectFormat(const std::string& path);

}  // namespace aprender
