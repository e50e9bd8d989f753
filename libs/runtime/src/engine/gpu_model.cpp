// Model's GPU hooks: backend selection (ModelOptions::backend), building the device graph from
// the parsed weights, and the delegation of Forward / ForwardBatch to it.
#include <algorithm>

#include "engine/gpu_forward.h"
#include "realizar/model.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace realizar {

using trueno::Concat;

Model::Model() = default;
Model::~Model() = default;

std::string Model::backend_description() const {
  if (gpu_ != nullptr && gpu_first_layer_ > 0) {
    const int n = static_cast<int>(layers_.size());
    return Concat(gpu_->Describe(), "; partial offload: layers ", gpu_first_layer_, "-", n - 1,
                  " and the head on the GPU, the embedding and layers 0-", gpu_first_layer_ - 1,
                  " on the CPU");
  }
  if (gpu_ != nullptr) return gpu_->Describe();
  return why_cpu_.empty() ? std::string("cpu") : Concat("cpu (GPU not used: ", why_cpu_, ")");
}

float* Model::LogitsBuffer(size_t rows) {
  const size_t floats = std::max<size_t>(1, rows) * config_.n_vocab;
  if (gpu_ != nullptr) {
    if (float* p = gpu_->HostLogits(floats); p != nullptr) return p;
  }
  if (logits_buffer_.size() < floats) logits_buffer_.resize(floats);
  return logits_buffer_.data();
}

absl::Status Model::InitGpu(const ModelOptions& options, KvCacheConfig& kc) {
  using Backend = ModelOptions::Backend;
  if (options.backend == Backend::kCpu) return absl::OkStatus();
  const bool forced = options.backend == Backend::kGpu;
  // kAuto falls back to the CPU and remembers why; kGpu fails.
  auto not_used = [&](const absl::Status& s) {
    if (forced) {
      return absl::Status(s.code(),
                          Concat("--gpu: ", s.message(), " (leave out --gpu to run on the CPU)"));
    }
    why_cpu_ = std::string(s.message());
    return absl::OkStatus();
  };
  if (options.gpu_layers == 0) {  // asked for no GPU layers: nothing to probe
    why_cpu_ = "--gpu-layers 0";
    return absl::OkStatus();
  }
  if (!trueno::cuda::Compiled()) {
    return not_used(absl::FailedPreconditionError(
        "this build has no CUDA backend (rebuild with the CUDA toolkit)"));
  }
  if (trueno::cuda::DeviceCount() == 0) {
    return not_used(absl::FailedPreconditionError("no CUDA device found (no GPU or no driver)"));
  }
  const int n_layers = static_cast<int>(layers_.size());
  // --gpu-layers N < n_layers: the last N layers (and the head) go to the GPU.
  const int first =
      options.gpu_layers > 0 && options.gpu_layers < n_layers ? n_layers - options.gpu_layers : 0;

  const auto& c = config_;
  if (c.rope_scaling == aprender::RopeScaling::kYarn) {
    return not_used(absl::UnimplementedError("YaRN RoPE scaling has no GPU kernel yet"));
  }
  internal::GpuModelSpec spec;
  spec.n_embd = static_cast<int>(c.n_embd);
  spec.n_ff = static_cast<int>(c.n_ff);
  spec.n_head = static_cast<int>(c.n_head);
  spec.n_head_kv = static_cast<int>(c.n_head_kv);
  spec.head_dim = static_cast<int>(c.head_dim);
  spec.n_vocab = static_cast<int>(c.n_vocab);
  spec.rms_eps = c.rms_eps;
  spec.rope.neox = c.rope_type == aprender::RopeType::kNeox;
  spec.rope.theta = c.rope_theta;
  spec.rope.freq_scale =
      (c.rope_scaling == aprender::RopeScaling::kLinear && c.rope_scale_factor > 0)
          ? 1.0f / c.rope_scale_factor
          : 1.0f;
  spec.rope.n_rot = spec.head_dim;
  auto mat = [](const Matrix& m) { return internal::GpuMatrix{m.type, m.data, m.rows, m.cols}; };
  spec.token_embd = mat(token_embd_);
  spec.output = mat(output_);
  spec.output_norm = &output_norm_;
  spec.hidden_input = first > 0;
  for (size_t li = static_cast<size_t>(first); li < layers_.size(); ++li) {
    const Layer& l = layers_[li];
    internal::GpuLayerSpec s;
    s.attn_norm = &l.attn_norm;
    s.ffn_norm = &l.ffn_norm;
    s.wq = mat(l.wq);
    s.wk = mat(l.wk);
    s.wv = mat(l.wv);
    s.wo = mat(l.wo);
    s.w_gate = mat(l.w_gate);
    s.w_up = mat(l.w_up);
    s.w_down = mat(l.w_down);
    if (!l.bq.empty()) {
      s.bq = &l.bq;
      s.bk = &l.bk;
      s.bv = &l.bv;
    }
    spec.layers.push_back(s);
  }
  KvCacheConfig trial = kc;
  auto gpu = internal::GpuForward::Create(spec, options.gpu_device, trial, options.gpu_kv_max_bytes,
                                          max_context_);
  if (!gpu.ok()) return not_used(gpu.status());
  gpu_ = std::move(*gpu);
  gpu_first_layer_ = first;
  kc = trial;  // the device pool's block count; the host keeps the block tables
  if (first > 0) {
    kc.n_layers = first;  // host K/V for the CPU's layers only (layer indices 0..first-1)
  } else {
    kc.host_storage = false;  // every K/V lives on the device
  }
  return absl::OkStatus();
}

absl::Status Model::RunGpu(std::span<const int32_t> tokens, std::span<const int> seq_ids,
                           std::span<const int> positions, std::span<const int> logit_rows,
                           float* logits_out) {
  if (gpu_first_layer_ == 0) {
    return gpu_->Run(tokens, seq_ids, positions, *cache_, logit_rows, logits_out);
  }
  APR_RETURN_IF_ERROR(RunLayers(tokens, seq_ids, positions, gpu_first_layer_));
  return gpu_->Run(tokens, seq_ids, positions, *cache_, logit_rows, logits_out, x_.data());
}

}  // namespace realizar
