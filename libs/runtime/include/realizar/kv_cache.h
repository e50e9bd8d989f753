// Paged KV cache: a pool of fixed-size blocks (block_size token positions each) shared by all
// sequences; each sequence owns a block table mapping its positions to pool blocks. Blocks are
// allocated on demand and returned to a free list when a sequence shrinks or ends, so memory is
// bounded by the pool, not by max_context x max_sequences.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trueno/dtype.h"

namespace realizar {

struct KvCacheConfig {
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int block_size = 16;  // token positions per block
  int num_blocks = 0;   // blocks in the pool
  // Element type of the cached K/V: F32, or F16 (half the memory and the attention reads;
  // values rounded to nearest-even binary16 when stored).
  trueno::DType kv_type = trueno::DType::kF32;
  // False when the K/V live elsewhere (the GPU pool): only the block tables are kept, and
  // Store/Load/K/V/LayerK/LayerV must not be called.
  bool host_storage = true;
};

class KvCache {
 public:
  // InvalidArgument for non-positive sizes or a kv_type other than F32/F16; ResourceExhausted when
  // the pool would not fit in memory (more than 2^40 bytes).
  static absl::StatusOr<KvCache> Create(const KvCacheConfig& config);

  // Makes sure `seq` (created on first use) has blocks for positions [0, n_positions). Either
  // allocates everything needed or nothing: ResourceExhausted (naming the block counts) when the
  // free list is too short.
  [[nodiscard]] absl::Status Reserve(int seq, int n_positions);

  // Drops positions >= n_positions of `seq` and frees the blocks no longer needed.
  void Truncate(int seq, int n_positions);

  // Frees every block of `seq` and forgets it.
  void FreeSequence(int seq);

  bool HasSequence(int seq) const;
  // Positions written so far (set by the model after a forward step).
  int Length(int seq) const;
  void SetLength(int seq, int length);
  // Positions the sequence's blocks can hold (a multiple of block_size).
  int Capacity(int seq) const;
  const std::vector<int>& BlockTable(int seq) const;  // seq must exist

  // Writes the K and V vectors (kv_dim floats each, converted to kv_type) of `layer` for position
  // `pos` of `seq`; pos must be below Capacity(seq).
  void Store(int layer, int seq, int pos, const float* k, const float* v);
  // Reads them back as floats (kv_dim each).
  void Load(int layer, int seq, int pos, float* k, float* v) const;

  // The raw storage of a layer: block b's position i starts at element
  // (b * block_size + i) * kv_dim, of kv_type. For kernels that walk the block table themselves.
  const void* LayerK(int layer) const;
  const void* LayerV(int layer) const;
  trueno::DType kv_type() const { return config_.kv_type; }

  // K or V vector (n_kv_heads * head_dim floats) of `layer` for position `pos` of `seq`; pos must
  // be below Capacity(seq). F32 caches only: nullptr for an F16 cache (use Store/Load).
  float* K(int layer, int seq, int pos);
  float* V(int layer, int seq, int pos);
  const float* K(int layer, int seq, int pos) const;
  const float* V(int layer, int seq, int pos) const;

  int block_size() const { return config_.block_size; }
  int blocks_total() const { return config_.num_blocks; }
  int blocks_free() const { return static_cast<int>(free_.size()); }
  int blocks_used() const { return blocks_total() - blocks_free(); }
  int kv_dim() const { return config_.n_kv_heads * config_.head_dim; }
  size_t bytes_total() const;
  size_t bytes_used() const;
  int sequences() const { return static_cast<int>(seqs_.size()); }

 private:
  struct Sequence {
    std::vector<int> blocks;
    int length = 0;
  };
  explicit KvCache(const KvCacheConfig& config);
  size_t Offset(int seq, int pos) const;

  KvCacheConfig config_;
  std::vector<std::vector<float>> k_;  // per layer: num_blocks * block_size * kv_dim
  std::vector<std::vector<float>> v_;
  std::vector<std::vector<uint16_t>> k16_;  // F16 caches: same layout, binary16 elements
  std::vector<std::vector<uint16_t>> v16_;
  std::vector<int> free_;  // stack of free block ids
  std::unordered_map<int, Sequence> seqs_;
};

}  // namespace realizar
