// STUB: replaced by the real implementation.
#include "aprender/apr_format.h"

namespace aprender {
absl::StatusOr<ModelFile> ReadApr(const std::string&) { return absl::UnimplementedError("not built yet"); }
}  // namespace aprender
