// The llama / qwen2 layer stack on one CUDA device: the same graph as Model::RunLayers + Head,
// built from trueno::cuda kernels. Weights are uploaded once in their stored (quantized) form;
// the K/V live in a device pool laid out like KvCache's, addressed through the host cache's
// block tables (uploaded each step with the token ids and positions in one copy). A step ends
// with one device -> host copy: the requested logits rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "realizar/kv_cache.h"
#include "trueno/cuda.h"
#include "trueno/cuda_ops.h"
#include "trueno/dtype.h"

namespace realizar::internal {

struct GpuMatrix {  // rows x cols, each row contiguous, host memory (the mapped file)
  trueno::DType type = trueno::DType::kF32;
  const uint8_t* data = nullptr;
  int rows = 0;
  int cols = 0;
};

struct GpuLayerSpec {
  const std::vector<float>* attn_norm = nullptr;
  const std::vector<float>* ffn_norm = nullptr;
  GpuMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
  const std::vector<float>* bq = nullptr;  // null without QKV bias
  const std::vector<float>* bk = nullptr;
  const std::vector<float>* bv = nullptr;
};

struct GpuModelSpec {
  int n_embd = 0, n_ff = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_vocab = 0;
  // Partial offload (--gpu-layers N below the layer count): `layers` are the model's last N, the
  // CPU runs the embedding and the layers before them, and every step starts from the CPU's
  // hidden states (Run's `hidden`) instead of token ids; token_embd is then not uploaded.
  bool hidden_input = false;
  float rms_eps = 1e-6f;
  trueno::cuda::RopeConfig rope;
  GpuMatrix token_embd, output;
  const std::vector<float>* output_norm = nullptr;
  std::vector<GpuLayerSpec> layers;
};

// Rows [first, first + rows) of a step: one sequence (block table `table` of the step's RowMap)
// at positions start_pos.. — a prompt chunk for the tiled prefill attention.
struct PromptRun {
  int first = 0, rows = 0, table = 0, start_pos = 0;
};
struct StepPlan {
  std::vector<PromptRun> prompts;
  int decode_first = 0;  // rows [decode_first, n) take the decode attention
  int max_pos = 0;       // bounds every row's position
  // The head's rows: [logit_first, logit_first + n_logits), or, when gather_rows, the n_logits
  // rows Run's logit_rows list (uploaded; `gather` is their device copy).
  int logit_first = 0, n_logits = 0;
  bool gather_rows = false;
  const int32_t* gather = nullptr;
};

// How a step's rows split between the attention kernels and which rows feed the head: runs of
// 2+ rows of one sequence at consecutive positions (prompt chunks) take the tiled prefill
// attention when every single row comes after them (then those form one range for the decode
// attention); any other layout sends every row through the decode attention (correct for any
// mix, slower for long chunks). row_table[t] is row t's block-table index. Host-only logic (a
// CPU test covers it).
StepPlan PlanStep(std::span<const int> seq_ids, std::span<const int> positions,
                  std::span<const int32_t> row_table, std::span<const int> logit_rows);

class GpuForward {
 public:
  // Uploads the weights and allocates the KV pool: kc.num_blocks blocks, or fewer when the
  // device (or kv_max_bytes, 0 = 90% of what the weights leave free) cannot hold them, but never
  // fewer than one sequence of `max_context` positions (ResourceExhausted naming the sizes and
  // the flags that lower them). Sets kc.num_blocks to the pool's block count. Unimplemented when
  // a weight type has no CUDA kernel.
  static absl::StatusOr<std::unique_ptr<GpuForward>> Create(const GpuModelSpec& spec, int device,
                                                            KvCacheConfig& kc, size_t kv_max_bytes,
                                                            int max_context);
  ~GpuForward();

  // Runs rows t < tokens.size() (token, sequence, position as in Model::RunLayers; their blocks
  // are reserved in `cache`) and writes logit_rows.size() rows of n_vocab logits, those of the
  // rows logit_rows names in that order, to logits_out. With spec.hidden_input, `hidden` holds
  // the rows' input hidden states (tokens.size() x n_embd floats, host memory); otherwise null.
  absl::Status Run(std::span<const int32_t> tokens, std::span<const int> seq_ids,
                   std::span<const int> positions, const KvCache& cache,
                   std::span<const int> logit_rows, float* logits_out,
                   const float* hidden = nullptr);

  std::string Describe() const;

  // Page-locked host memory for `floats` logits (Model::LogitsBuffer), or null when the host
  // cannot lock it or APR_CUDA_PINNED_LOGITS=0 (then the caller uses pageable memory).
  float* HostLogits(size_t floats);

 private:
  struct DevMatrix {
    trueno::DType type = trueno::DType::kF32;
    const void* data = nullptr;
    int rows = 0, cols = 0;
  };
  struct DevLayer {
    const float *attn_norm = nullptr, *ffn_norm = nullptr;
    const float *bq = nullptr, *bk = nullptr, *bv = nullptr;
    DevMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
  };

  GpuForward() = default;
  absl::Status Reserve(int rows, int n_ints);
  std::string KernelSummary() const;
  // Enqueues the whole step (embedding .. logits into logits_) on the stream.
  absl::Status Enqueue(int n, const StepPlan& plan, const trueno::cuda::RowMap& map);

  GpuModelSpec spec_;  // geometry only (host pointers are not used after Create)
  std::unique_ptr<trueno::cuda::Context> ctx_;
  trueno::cuda::DeviceInfo info_;
  std::vector<trueno::cuda::DeviceBuffer> weights_;
  size_t weight_bytes_ = 0;
  DevMatrix token_embd_, output_;
  const float* output_norm_ = nullptr;
  std::vector<DevLayer> layers_;
  trueno::cuda::DeviceBuffer pool_;
  std::vector<trueno::cuda::PagedKvLayer> kv_;
  // Activations for up to rows_cap_ rows.
  int rows_cap_ = 0;
  trueno::cuda::DeviceBuffer x_, q_, k_, v_, att_, gate_, up_, logits_;
  int max_context_ = 0;
  // Decode steps of up to graph_rows_ rows replay a CUDA graph captured per row count (the
  // step's indices are uploaded to a fixed buffer first; attention chunks are sized for
  // max_context_, so one graph serves every position). graph_rows_ is kMaxGraphRows when every
  // product of 9+ rows runs the integer tensor-core kernel, else 8 (cuBLAS stays out of
  // captures). Graphs are re-captured after the activation buffers move (generation_ changes).
  // APR_CUDA_GRAPHS=0 disables them.
  static constexpr int kMaxGraphRows = 64;
  int graph_rows_ = 8;
  bool use_graphs_ = true;
  int generation_ = 0;
  struct Graph {
    int id = -1;
    int generation = -1;
    uint64_t scratch_generation = 0;  // the context's kernel scratch when captured
  };
  Graph graphs_[kMaxGraphRows + 1];
  // APR_GPU_PROFILE=1: no graphs, a synchronize after every kernel, and host time per kernel kind
  // (matmuls by weight name) printed to stderr when the model is destroyed.
  bool profile_ = false;
  double profile_t0_ = 0;
  std::vector<std::pair<std::string, double>> profile_s_;
  int profile_steps_ = 0;
  bool profile_decode_ = false;  // the current Enqueue is a decode step
  absl::Status Mark(const char* what);
  trueno::cuda::PinnedBuffer host_logits_;
  bool pinned_logits_ = true;
  int ints_cap_ = 0;
  trueno::cuda::DeviceBuffer ints_;
  std::vector<int32_t> host_ints_;
};

}  // namespace realizar::internal
