// CUDA element-wise kernels and attention over a paged KV pool: the non-matmul half of a
// transformer layer on the GPU. Same contract as trueno/cuda.h: device pointers, asynchronous on
// the context's stream, no CUDA types here, stubs failing with FailedPrecondition in a CPU-only
// build. Each kernel computes the same function as its CPU counterpart in trueno/kernels.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trueno/cuda.h"
#include "trueno/dtype.h"

namespace trueno::cuda {

// out[r][i] = x[r][i] / sqrt(mean_i(x[r]^2) + eps) * weight[i] for rows r < rows of n floats.
// `out` may alias `x`.
[[nodiscard]] absl::Status RmsNorm(Context& ctx, const float* x, const float* weight, int rows,
                                   int n, float eps, float* out);

// out[i] = a[i] + b[i] for i < n. `out` may alias either input.
[[nodiscard]] absl::Status Add(Context& ctx, const float* a, const float* b, float* out, int64_t n);

// x[r][i] += bias[i] for rows r < rows of n floats.
[[nodiscard]] absl::Status AddBias(Context& ctx, float* x, const float* bias, int rows, int n);

// out[i] = silu(gate[i]) * up[i]. `out` may alias either input.
[[nodiscard]] absl::Status SiluMul(Context& ctx, const float* gate, const float* up, float* out,
                                   int64_t n);

// RoPE parameters, as trueno::RopeParams (kernels.h is C++20 and cannot be seen by nvcc's C++17):
// neox = RopeMode::kNeox, otherwise kNormal.
struct RopeConfig {
  bool neox = false;
  float theta = 10000.0f;
  float freq_scale = 1.0f;
  int n_rot = 0;  // 0 = head_dim
};

// RoPE in place on `rows` rows of n_heads * head_dim floats; row r is rotated for position
// positions[r] (a device array). Same angles and pairing as trueno::Rope.
[[nodiscard]] absl::Status Rope(Context& ctx, float* x, int rows, int n_heads, int head_dim,
                                const int32_t* positions, const RopeConfig& params);

// One layer of a paged KV pool on the device, laid out like realizar::KvCache: position i of
// block b starts at element (b * block_size + i) * kv_dim of `k` (and of `v`), of `type` (F32
// or F16).
struct PagedKvLayer {
  void* k = nullptr;
  void* v = nullptr;
  DType type = DType::kF32;
  int block_size = 16;
  int n_kv_heads = 0;
  int head_dim = 0;
  int num_blocks = 0;
};

// Where each row of a step lives: row r belongs to the sequence whose block table is row
// row_table[r] of `block_tables` (a device array of n_tables x max_blocks ints) and sits at
// position positions[r] of it. All three arrays are on the device.
struct RowMap {
  const int32_t* block_tables = nullptr;
  int max_blocks = 0;  // ints per block-table row
  const int32_t* row_table = nullptr;
  const int32_t* positions = nullptr;
};

// Writes rows r < rows of K and V (kv_dim floats each, converted to layer.type) at their
// positions. The block-table entries they touch must be valid pool blocks.
[[nodiscard]] absl::Status KvStore(Context& ctx, const PagedKvLayer& layer, const float* k,
                                   const float* v, int rows, const RowMap& map);

// Rope(q), Rope(k) and KvStore(k, v) in one launch: q (rows x n_heads heads) and k (rows x
// layer.n_kv_heads heads) are rotated in place for positions map.positions, and the rotated K and
// V rows are written to the pool. Same results as the three calls.
[[nodiscard]] absl::Status RopeKvStore(Context& ctx, const PagedKvLayer& layer, float* q, float* k,
                                       const float* v, int rows, int n_heads, const RowMap& map,
                                       const RopeConfig& params);

// Causal GQA attention: row r's n_heads query heads (q: rows x n_heads*head_dim floats) attend
// over positions 0..positions[r] of their sequence; query head h reads KV head
// h / (n_heads / n_kv_heads). out (same shape as q) = softmax(scale * q.K^T) V. One kernel for
// any mix of rows (decode: one row per sequence; the sequence is split into chunks whose partial
// softmaxes are merged when it is long). max_position bounds every positions[r] (host value).
[[nodiscard]] absl::Status AttentionDecode(Context& ctx, const PagedKvLayer& layer, const float* q,
                                           int rows, int n_heads, float scale, const RowMap& map,
                                           int max_position, float* out);

// Prefill of one sequence: rows r < rows are consecutive positions start_pos + r of the sequence
// whose block table is `block_table` (device array); K/V of positions < start_pos + rows are
// already in the pool. Flash-attention style: query tiles stream key/value tiles with an online
// softmax, never materialising the rows x positions score matrix. Same output as
// AttentionDecode.
[[nodiscard]] absl::Status AttentionPrefill(Context& ctx, const PagedKvLayer& layer, const float* q,
                                            int rows, int n_heads, float scale,
                                            const int32_t* block_table, int start_pos, float* out);

// Host -> device copy ordered on the context's stream (for small per-step arrays: positions,
// block tables). `src` may be reused when the call returns (pageable memory is staged at once).
[[nodiscard]] absl::Status UploadAsync(Context& ctx, void* dst, const void* src, size_t bytes);

// Device memory bandwidth: best of `reps` device-to-device copies of `bytes`, counted as bytes
// read + bytes written per second (the roofline convention of docs/benchmarks.md).
absl::StatusOr<double> MeasureCopyBandwidth(int device, size_t bytes, int reps = 10);

}  // namespace trueno::cuda
