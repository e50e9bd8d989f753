// The transformer graph for the llama and qwen2 families, executed on the CPU kernels of
// trueno/kernels.h over a paged KV cache. One Model holds the weights (views into the
// ModelFile, which it keeps alive) and the cache; Forward is not thread-safe (one caller at a
// time), but any number of sequences can share the model and its cache.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aprender/model_config.h"
#include "aprender/model_file.h"
#include "realizar/kv_cache.h"
#include "trueno/dtype.h"

namespace realizar {

struct ModelOptions {
  int max_context = 0;     // positions per sequence; 0 = the model's training context (<= 4096)
  int max_sequences = 1;   // sequences the default KV pool is sized for
  int kv_block_size = 16;  // token positions per KV block
  int kv_blocks = 0;       // 0 = max_sequences * ceil(max_context / kv_block_size)
  // KV cache element type: F32 (default) or F16 (half the cache memory and attention reads).
  trueno::DType kv_type = trueno::DType::kF32;
  // Where the graph runs (src/engine/gpu_model.cpp). kCpu is the library default; the CLI asks
  // for kAuto (the GPU when this build has CUDA, a device exists and every weight type has a
  // GPU kernel; otherwise the CPU). kGpu fails (FailedPrecondition / Unimplemented /
  // ResourceExhausted) instead of falling back.
  enum class Backend { kCpu, kAuto, kGpu };
  Backend backend = Backend::kCpu;
  int gpu_device = 0;
  // Layers on the GPU: -1 (or at least the layer count) = all; 0 = none (CPU). In between, the
  // last gpu_layers layers and the output head run on the GPU and the embedding and the layers
  // before them on the CPU (partial offload, for models larger than the GPU memory); each step
  // then sends the CPU's hidden states (rows x n_embd floats) to the device once.
  int gpu_layers = -1;
  // Upper bound of the device KV pool in bytes (0 = 90% of the device memory left after the
  // weights). The pool is max_sequences x max_context positions unless kv_blocks says otherwise.
  size_t gpu_kv_max_bytes = 0;
  // The CPU's weight matrices are copied out of the file mapping into anonymous memory at load
  // (src/engine/resident_weights.h says why); true reads them through the mapping instead
  // (less memory when several processes map the same file; the CLI's --mmap).
  bool mmap_weights = false;
};

namespace internal {
class GpuForward;
}

class Model {
 public:
  // Builds the graph from a parsed file and its config (e.g. from aprender::ModelConfigFromFile).
  // Checks every tensor the graph needs (name, shape, supported type); errors name the tensor.
  static absl::StatusOr<std::unique_ptr<Model>> Create(aprender::ModelFile file,
                                                       const aprender::ModelConfig& config,
                                                       const ModelOptions& options = {});
  // Create() with the config read by aprender::ModelConfigFromFile.
  static absl::StatusOr<std::unique_ptr<Model>> FromFile(aprender::ModelFile file,
                                                         const ModelOptions& options = {});

  // Runs `tokens` at positions start_pos, start_pos+1, ... of sequence `seq_id`, writing their K
  // and V into the cache. The prompt is processed as one batch (every projection is a MatMul
  // over all tokens). Positions >= start_pos already in the cache are discarded first, so
  // start_pos may rewind; it may not skip ahead of the cached length (InvalidArgument).
  // logits_out receives n_vocab floats for the last token, or n_vocab per token (tokens.size()
  // rows) when all_logits. Errors: InvalidArgument (bad token id / position), ResourceExhausted
  // (context length or KV pool exhausted; nothing is written).
  [[nodiscard]] absl::Status Forward(std::span<const int32_t> tokens, int seq_id, int start_pos,
                                     float* logits_out, bool all_logits = false);

  // Decode step for a batch of sequences: token i runs at position positions[i] of sequence
  // seq_ids[i] (at most its cached length; later cached positions are discarded). Every
  // projection is one MatMul over the batch (weights read once per step); attention runs per
  // sequence over its own cache. logits_out receives tokens.size() rows of n_vocab floats.
  // Sequence ids must be distinct. Same errors as Forward; on error nothing is written.
  // Defined in src/engine/model_batch.cpp.
  [[nodiscard]] absl::Status ForwardBatch(std::span<const int32_t> tokens,
                                          std::span<const int> seq_ids,
                                          std::span<const int> positions, float* logits_out);

  // One part of a mixed step: `tokens` at positions start_pos, start_pos + 1, ... of sequence
  // seq_id — a prompt chunk (several tokens) or a decode token (one).
  struct Segment {
    int seq_id = 0;
    int start_pos = 0;
    std::span<const int32_t> tokens;
    bool want_logits = true;  // write the logits of the segment's last token
  };
  // The general step of continuous batching: prompt chunks of some sequences and decode tokens
  // of others in one forward, so every weight matrix is read once for all of them (a prompt
  // arriving no longer costs the running streams a separate pass over the weights). logits_out
  // receives one row of n_vocab floats per segment with want_logits, in segment order (null is
  // allowed when no segment wants logits). Sequence ids must be distinct; each start_pos is at
  // most its sequence's cached length (later cached positions are discarded). Same errors as
  // Forward; on error nothing is written. Defined in src/engine/model_batch.cpp.
  [[nodiscard]] absl::Status ForwardSegments(std::span<const Segment> segments, float* logits_out);

  // Room for `rows` rows of n_vocab logits to pass as logits_out: on the GPU page-locked host
  // memory, which the step's logits copy fills by DMA (with large batches that copy is tens of
  // MB per step); plain memory on the CPU. Valid until the next call; grows, never shrinks.
  float* LogitsBuffer(size_t rows);

  ~Model();
  // True when Forward / ForwardBatch run on the GPU (then the KV cache holds only block tables;
  // its K/V live on the device).
  bool on_gpu() const { return gpu_ != nullptr; }
  // One line saying where the graph runs: "cpu", or the device, its memory and the weights /
  // KV pool sizes; `why_cpu` says why kAuto chose the CPU (empty otherwise).
  std::string backend_description() const;

  const aprender::ModelConfig& config() const { return config_; }
  int n_vocab() const { return static_cast<int>(config_.n_vocab); }
  int max_context() const { return max_context_; }
  const aprender::ModelFile& file() const { return file_; }
  KvCache& kv_cache() { return *cache_; }
  const KvCache& kv_cache() const { return *cache_; }

 private:
  struct Matrix {  // rows x cols, each row contiguous (GGML dims {cols, rows})
    trueno::DType type = trueno::DType::kF32;
    const uint8_t* data = nullptr;
    int rows = 0;
    int cols = 0;
  };
  struct Layer {
    std::vector<float> attn_norm, ffn_norm;
    Matrix wq, wk, wv, wo, w_gate, w_up, w_down;
    std::vector<float> bq, bk, bv;  // empty without QKV bias
  };

  Model();  // defined with ~Model in gpu_model.cpp (GpuForward is incomplete here)
  absl::Status Init(const ModelOptions& options);
  absl::Status EmbedRow(int32_t token, float* out) const;
  // The layer stack shared by Forward and ForwardBatch: row t of the step is token tokens[t] of
  // sequence seq_ids[t] at position positions[t] (rows of one sequence at increasing consecutive
  // positions, blocks already reserved). Every projection is one MatMul over all rows; RoPE, the
  // cache writes and attention use each row's own sequence and position. Leaves the final
  // hidden states in x_ (rows x n_embd).
  // With partial offload only layers [0, end_layer) run here (-1: all).
  absl::Status RunLayers(std::span<const int32_t> tokens, std::span<const int> seq_ids,
                         std::span<const int> positions, int end_layer = -1);
  // Causal attention of every row's query heads over positions 0..positions[t] of its sequence.
  void Attention(int layer, std::span<const int> seq_ids, std::span<const int> positions);
  // Final norm of the given rows of x_ and the output head: rows.size() x n_vocab logits.
  absl::Status Head(std::span<const int> rows, float* logits_out);
  // GPU hooks (src/engine/gpu_model.cpp): InitGpu picks the backend before the cache exists and
  // may shrink kc.num_blocks to the device pool / drop the host K/V storage (all layers on the
  // GPU) or keep it for the CPU's layers only (partial offload); RunGpu is RunLayers + Head on
  // the device (logits of `logit_rows`, in that order), after the CPU's layers when offload is
  // partial.
  absl::Status InitGpu(const ModelOptions& options, KvCacheConfig& kc);
  // Points the matrices the CPU streams (all, or those of the CPU's layers under partial
  // offload) at private anonymous copies (resident_weights.h).
  absl::Status CopyCpuWeights();
  absl::Status RunGpu(std::span<const int32_t> tokens, std::span<const int> seq_ids,
                      std::span<const int> positions, std::span<const int> logit_rows,
                      float* logits_out);

  aprender::ModelFile file_;
  aprender::ModelConfig config_;
  int max_context_ = 0;
  Matrix token_embd_, output_;
  std::vector<float> output_norm_;
  std::vector<Layer> layers_;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<internal::GpuForward> gpu_;
  std::shared_ptr<const void> resident_weights_;  // what CopyCpuWeights points the matrices at
  int gpu_first_layer_ = 0;  // partial offload: layers [0, gpu_first_layer_) run on the CPU
  std::string why_cpu_;
  std::vector<float> logits_buffer_;  // LogitsBuffer on the CPU (or when pinning fails)
  // Scratch buffers, [tokens][width], grown as needed.
  std::vector<float> x_, xb_, q_, k_, v_, att_out_, proj_, gate_, up_;
};

}  // namespace realizar
