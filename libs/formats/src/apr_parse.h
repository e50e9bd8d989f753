// The checks ReadApr, VerifyApr and SignApr share, one function per stage so the verifier can
// report each stage on its own.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apr_layout.h"
#include "apr_metadata_json.h"

namespace aprender::apr_internal {

// The stored bytes of tensor `e` (already bounds-checked by DecodeIndex).
std::span<const uint8_t> StoredBytes(std::span<const uint8_t> file, const AprHeader& h,
                                     const AprIndexEntry& e);

// Names of the tensors whose stored bytes do not hash to their index checksum.
std::vector<std::string> TensorsWithBadChecksums(std::span<const uint8_t> file, const AprHeader& h,
                                                 const std::vector<AprIndexEntry>& index);

// SHA-256 of bytes [0, trailer_offset).
Digest ComputeManifest(std::span<const uint8_t> file, const AprHeader& h);

// Verifies the trailer's signature against its embedded public key. OK when valid; DataLoss when
// not; FailedPrecondition when the file is unsigned.
absl::Status CheckEmbeddedSignature(const AprTrailer& t, const std::string& file);

// Header, trailer, metadata, index, tensor checksums, manifest and (when present) signature:
// everything except decompression. The first failure is returned.
struct AprValidated {
  AprHeader header;
  AprTrailer trailer;
  DecodedMetadata metadata;
  std::vector<AprIndexEntry> index;
};
absl::StatusOr<AprValidated> ValidateApr(std::span<const uint8_t> file, const std::string& name);

}  // namespace aprender::apr_internal
