// Byte layout of .apr v2 (docs/formats/apr.md is the normative description): fixed header,
// JSON metadata, binary tensor index, 64-byte aligned data, fixed trailer with the SHA-256
// manifest and the optional Ed25519 signature. Encoders and bounds-checked decoders live here so
// the reader, writer and verifier agree on every offset.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aprender/apr_format.h"
#include "trueno/dtype.h"

namespace aprender::apr_internal {

inline constexpr uint8_t kMagic[4] = {'A', 'P', 'R', 0};
inline constexpr uint32_t kVersion = 2;
inline constexpr uint64_t kHeaderSize = 128;
inline constexpr uint64_t kDataAlignment = 64;
inline constexpr uint64_t kTrailerSize = 144;
inline constexpr uint8_t kTrailerMagic[4] = {'A', 'P', 'R', 'T'};
inline constexpr uint8_t kEndMagic[8] = {'A', 'P', 'R', 'E', 'N', 'D', 0, 0};
inline constexpr uint32_t kMaxDims = 8;
inline constexpr uint32_t kMaxNameLen = 4096;
// Signed message = this 16-byte domain tag followed by the 32-byte manifest digest.
inline constexpr char kSignatureContext[17] = "apr-v2-manifest:";
inline constexpr uint32_t kSignatureNone = 0;
inline constexpr uint32_t kSignatureEd25519 = 1;

using Digest = std::array<uint8_t, 32>;

struct AprHeader {
  uint32_t version = kVersion;
  uint32_t flags = 0;
  uint64_t metadata_offset = 0;
  uint64_t metadata_size = 0;
  uint64_t index_offset = 0;
  uint64_t index_size = 0;
  uint64_t tensor_count = 0;
  uint64_t data_offset = 0;
  uint64_t data_size = 0;
  uint64_t trailer_offset = 0;
  uint64_t file_size = 0;
};

struct AprIndexEntry {
  std::string name;
  uint32_t dtype = 0;
  std::vector<uint64_t> dims;
  Compression compression = Compression::kNone;
  uint64_t offset = 0;       // relative to data_offset, multiple of 64
  uint64_t stored_size = 0;  // bytes in the file
  uint64_t raw_size = 0;     // bytes after decompression = ByteSize(dtype, dims)
  Digest checksum{};         // SHA-256 of the stored bytes
};

struct AprTrailer {
  Digest manifest{};
  uint32_t signature_algo = kSignatureNone;
  std::array<uint8_t, 32> public_key{};
  std::array<uint8_t, 64> signature{};
};

// Encoders (writer side).
std::array<uint8_t, kHeaderSize> EncodeHeader(const AprHeader& h);
void AppendIndexEntry(const AprIndexEntry& e, std::vector<uint8_t>& out);
uint64_t IndexEntrySize(const AprIndexEntry& e);
std::array<uint8_t, kTrailerSize> EncodeTrailer(const AprTrailer& t);

// Decoders: every field is range-checked against `bytes`; errors name `file` and the field.
absl::StatusOr<AprHeader> DecodeHeader(std::span<const uint8_t> bytes, const std::string& file);
absl::StatusOr<std::vector<AprIndexEntry>> DecodeIndex(std::span<const uint8_t> bytes,
                                                       const AprHeader& h, const std::string& file);
absl::StatusOr<AprTrailer> DecodeTrailer(std::span<const uint8_t> bytes, const AprHeader& h,
                                         const std::string& file);

// The 48-byte message that an Ed25519 signature covers.
std::vector<uint8_t> SignatureMessage(const Digest& manifest);

// SHA-256 helpers.
Digest Sha256Of(std::span<const uint8_t> bytes);
// SHA-256 of each span; large inputs hashed in parallel (oneTBB).
std::vector<Digest> Sha256Many(const std::vector<std::span<const uint8_t>>& parts);

std::string_view CompressionName(Compression c);

constexpr uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace aprender::apr_internal
