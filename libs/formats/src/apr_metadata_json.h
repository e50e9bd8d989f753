// The JSON metadata section of .apr v2: provenance plus every ModelFile metadata entry, in order,
// with its exact GGUF value type. Lossless: integers keep their width and sign, floats their bit
// pattern (a number when it round-trips exactly, else {"bits": hex}), strings their bytes (a JSON
// string when valid UTF-8, else {"hex": ...}), arrays their element type and nesting.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "aprender/metadata.h"

namespace aprender::apr_internal {

struct AprProvenance {
  std::string source;         // what the model was converted from ("" = unknown)
  std::string source_sha256;  // hex SHA-256 of the source file ("" = unknown)
  std::string tool;           // "aprender 0.1.0"
  std::string git_sha;        // build's git commit, or "unknown"
  std::string created_at;     // UTC, "2026-01-31T12:00:00Z"
};

std::string EncodeMetadataJson(const Metadata& metadata, const AprProvenance& provenance);

struct DecodedMetadata {
  Metadata metadata;
  AprProvenance provenance;
};
// Errors are DataLoss and name `file` and the offending key.
absl::StatusOr<DecodedMetadata> DecodeMetadataJson(std::string_view json, const std::string& file);

// The provenance a writer records now (tool version, git sha, UTC time).
AprProvenance CurrentProvenance();

}  // namespace aprender::apr_internal
