// STUB: replaced by the real implementation.
#include "aprender/hf_dir.h"

namespace aprender {
absl::StatusOr<ModelFile> ReadHfDir(const std::string&) { return absl::UnimplementedError("not built yet"); }
}  // namespace aprender
