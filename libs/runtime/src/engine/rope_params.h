// The RoPE kernel parameters a model's config implies (mode, theta, linear or YaRN scaling).
#pragma once

#include "aprender/model_config.h"
#include "trueno/kernels.h"

namespace realizar::engine {

// Linear scaling: freq_scale = 1 / factor. YaRN: freq_scale = 1 / factor plus the original
// context, betas and attention factor (see trueno::RopeParams).
trueno::RopeParams RopeParamsFor(const aprender::ModelConfig& c);

}  // namespace realizar::engine
