// Model::FromFile lives apart from the graph so that code using Model::Create alone does not
// pull in the config reader.
#include "aprender/model_config.h"
#include "realizar/model.h"
#include "trueno/status_macros.h"

namespace realizar {

absl::StatusOr<std::unique_ptr<Model>> Model::FromFile(aprender::ModelFile file,
                                                       const ModelOptions& options) {
  APR_ASSIGN_OR_RETURN(aprender::ModelConfig config, aprender::ModelConfigFromFile(file));
  return Create(std::move(file), config, options);
}

}  // namespace realizar
