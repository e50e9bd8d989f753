// Per-tensor compression for .apr: LZ4 frames and Zstd frames, both carrying the content size and
// the codec's own content checksum. Decompression streams straight into the caller's buffer.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aprender/apr_format.h"

namespace aprender::apr_internal {

// Compresses `raw` into one frame. `level` 0 = codec default.
absl::StatusOr<std::vector<uint8_t>> CompressTensor(Compression c, int level,
                                                    std::span<const uint8_t> raw);

// The uncompressed size a frame declares in its header (checked before the reader allocates).
absl::StatusOr<uint64_t> FrameContentSize(Compression c, std::span<const uint8_t> src,
                                          const std::string& what);

// Decompresses one frame into exactly `dst.size()` bytes; DataLoss (naming `what`) when the frame
// is malformed, declares another size, fails its checksum or does not fill `dst` exactly.
absl::Status DecompressTensor(Compression c, std::span<const uint8_t> src, std::span<uint8_t> dst,
                              const std::string& what);

}  // namespace aprender::apr_internal
