#include "engine/rope_params.h"

namespace realizar::engine {

trueno::RopeParams RopeParamsFor(const aprender::ModelConfig& c) {
  trueno::RopeParams rope;
  rope.mode = c.rope_type == aprender::RopeType::kNeox ? trueno::RopeMode::kNeox
                                                       : trueno::RopeMode::kNormal;
  rope.theta = c.rope_theta;
  rope.n_rot = static_cast<int>(c.head_dim);
  const bool scaled = c.rope_scaling != aprender::RopeScaling::kNone && c.rope_scale_factor > 0;
  rope.freq_scale = scaled ? 1.0f / c.rope_scale_factor : 1.0f;
  if (c.rope_scaling == aprender::RopeScaling::kYarn) {
    rope.yarn_orig_ctx = static_cast<float>(c.rope_orig_ctx > 0 ? c.rope_orig_ctx : c.n_ctx_train);
    rope.yarn_beta_fast = c.rope_yarn_beta_fast;
    rope.yarn_beta_slow = c.rope_yarn_beta_slow;
    rope.yarn_attn_factor = c.rope_attn_factor;
  }
  return rope;
}

}  // namespace realizar::engine
