// STUB: replaced by the real implementation.
#include "aprender/safetensors.h"

namespace aprender {
absl::StatusOr<ModelFile> ReadSafetensors(const std::string&) { return absl::UnimplementedError("not built yet"); }
absl::StatusOr<ModelFile> ParseSafetensors(std::span<const uint8_t>, const std::string&) { return absl::UnimplementedError("not built yet"); }
}  // namespace aprender
