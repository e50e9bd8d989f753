// STUB: replaced by the real implementation.
#include "aprender/gguf.h"

namespace aprender {
absl::StatusOr<ModelFile> ReadGguf(const std::string&) { return absl::UnimplementedError("GGUF reader not built yet"); }
absl::StatusOr<ModelFile> ParseGguf(std::span<const uint8_t>, const std::string&) { return absl::UnimplementedError("GGUF reader not built yet"); }
}  // namespace aprender
