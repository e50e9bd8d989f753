// STUB: replaced by the real implementation.
#include "aprender/gguf.h"

namespace aprender {
absl::Status WriteGguf(const ModelFile&, const std::string&, const GgufWriteOptions&) { return absl::UnimplementedError("GGUF writer not built yet"); }
}  // namespace aprender
