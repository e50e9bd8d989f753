// The .apr v2 container (layout in docs/formats/apr.md): JSON metadata with provenance, tensor
// index, 64-byte aligned data, optional per-tensor LZ4/Zstd, per-tensor checksums, SHA-256
// manifest and optional Ed25519 signature.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aprender/model_file.h"

namespace aprender {

enum class Compression : uint32_t { kNone = 0, kLz4 = 1, kZstd = 2 };

struct AprWriteOptions {
  Compression compression = Compression::kNone;
  int level = 0;                   // codec level; 0 = codec default
  std::string signing_key_pem;     // Ed25519 private key (PEM); empty = unsigned
  std::string source_description;  // provenance: what this was converted from
};

[[nodiscard]] absl::Status WriteApr(const ModelFile& model, const std::string& path,
                                    const AprWriteOptions& options = {});

// Maps the file, checks header/index/manifest, verifies per-tensor checksums, decompresses
// compressed tensors (streaming) into owned buffers; uncompressed tensors stay zero-copy.
absl::StatusOr<ModelFile> ReadApr(const std::string& path);
absl::StatusOr<ModelFile> ParseApr(std::span<const uint8_t> bytes, const std::string& name);

struct AprCheck {
  std::string name;    // "header", "index", "tensor checksums", "manifest", "signature", ...
  bool passed = false;
  std::string detail;  // what failed, or a summary
};

// Runs every check and reports each one; `public_key_pem` empty = signature only checked for
// self-consistency with the embedded public key.
absl::StatusOr<std::vector<AprCheck>> VerifyApr(const std::string& path,
                                                const std::string& public_key_pem = "");

// Adds (or replaces) the Ed25519 signature of an existing .apr file in place.
[[nodiscard]] absl::Status SignApr(const std::string& path, const std::string& private_key_pem);

}  // namespace aprender
