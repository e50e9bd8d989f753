#include "realizar/kv_cache.h"

#include <algorithm>

#include "trueno/kernels.h"
#include "trueno/str_cat.h"

namespace realizar {

absl::StatusOr<KvCache> KvCache::Create(const KvCacheConfig& config) {
  if (config.n_layers <= 0 || config.n_kv_heads <= 0 || config.head_dim <= 0 ||
      config.block_size <= 0 || config.num_blocks <= 0) {
    return absl::InvalidArgumentError(
        trueno::Concat("KvCache: every size must be positive (n_layers=", config.n_layers,
                       " n_kv_heads=", config.n_kv_heads, " head_dim=", config.head_dim,
                       " block_size=", config.block_size, " num_blocks=", config.num_blocks, ")"));
  }
  if (config.kv_type != trueno::DType::kF32 && config.kv_type != trueno::DType::kF16) {
    return absl::InvalidArgumentError(trueno::Concat("KvCache: kv_type ",
                                                     trueno::DTypeName(config.kv_type),
                                                     " is not supported; use f32 or f16"));
  }
  const double bytes = 2.0 * config.n_layers * static_cast<double>(config.num_blocks) *
                       config.block_size * config.n_kv_heads * config.head_dim *
                       (config.kv_type == trueno::DType::kF16 ? 2.0 : 4.0);
  if (config.host_storage && bytes > static_cast<double>(1ull << 40)) {
    return absl::ResourceExhaustedError(trueno::Concat(
        "KvCache: ", bytes, " bytes requested; lower the context length or the block count"));
  }
  return KvCache(config);
}

KvCache::KvCache(const KvCacheConfig& config) : config_(config) {
  const size_t per_layer = static_cast<size_t>(config.num_blocks) * config.block_size *
                           config.n_kv_heads * config.head_dim;
  if (!config.host_storage) {
    // block tables only
  } else if (config.kv_type == trueno::DType::kF16) {
    k16_.assign(config.n_layers, std::vector<uint16_t>(per_layer, 0));
    v16_.assign(config.n_layers, std::vector<uint16_t>(per_layer, 0));
  } else {
    k_.assign(config.n_layers, std::vector<float>(per_layer, 0.0f));
    v_.assign(config.n_layers, std::vector<float>(per_layer, 0.0f));
  }
  free_.reserve(config.num_blocks);
  // Highest id at the bottom so blocks are handed out in increasing order.
  for (int b = config.num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

absl::Status KvCache::Reserve(int seq, int n_positions) {
  if (n_positions < 0) return absl::InvalidArgumentError("KvCache::Reserve: negative length");
  Sequence& s = seqs_[seq];
  const int need_blocks = (n_positions + config_.block_size - 1) / config_.block_size;
  const int missing = need_blocks - static_cast<int>(s.blocks.size());
  if (missing <= 0) return absl::OkStatus();
  if (missing > blocks_free()) {
    return absl::ResourceExhaustedError(
        trueno::Concat("KV cache full: sequence ", seq, " needs ", missing, " more blocks of ",
                       config_.block_size, " tokens but only ", blocks_free(), " of ",
                       blocks_total(), " are free; finish other sequences or enlarge the cache"));
  }
  for (int i = 0; i < missing; ++i) {
    s.blocks.push_back(free_.back());
    free_.pop_back();
  }
  return absl::OkStatus();
}

void KvCache::Truncate(int seq, int n_positions) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  Sequence& s = it->second;
  n_positions = std::max(0, n_positions);
  const size_t keep =
      static_cast<size_t>((n_positions + config_.block_size - 1) / config_.block_size);
  while (s.blocks.size() > keep) {
    free_.push_back(s.blocks.back());
    s.blocks.pop_back();
  }
  s.length = std::min(s.length, n_positions);
}

void KvCache::FreeSequence(int seq) {
  Truncate(seq, 0);
  seqs_.erase(seq);
}

bool KvCache::HasSequence(int seq) const { return seqs_.count(seq) != 0; }

int KvCache::Length(int seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.length;
}

void KvCache::SetLength(int seq, int length) {
  auto it = seqs_.find(seq);
  if (it != seqs_.end()) it->second.length = std::min(length, Capacity(seq));
}

int KvCache::Capacity(int seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : static_cast<int>(it->second.blocks.size()) * config_.block_size;
}

const std::vector<int>& KvCache::BlockTable(int seq) const { return seqs_.at(seq).blocks; }

size_t KvCache::Offset(int seq, int pos) const {
  const Sequence& s = seqs_.at(seq);
  const int block = s.blocks[static_cast<size_t>(pos / config_.block_size)];
  return (static_cast<size_t>(block) * config_.block_size + pos % config_.block_size) * kv_dim();
}

void KvCache::Store(int layer, int seq, int pos, const float* k, const float* v) {
  const size_t off = Offset(seq, pos);
  const int n = kv_dim();
  if (config_.kv_type == trueno::DType::kF16) {
    trueno::Fp32ToFp16Row(k, k16_[layer].data() + off, n);
    trueno::Fp32ToFp16Row(v, v16_[layer].data() + off, n);
  } else {
    std::copy(k, k + n, k_[layer].data() + off);
    std::copy(v, v + n, v_[layer].data() + off);
  }
}

void KvCache::Load(int layer, int seq, int pos, float* k, float* v) const {
  const size_t off = Offset(seq, pos);
  const int n = kv_dim();
  if (config_.kv_type == trueno::DType::kF16) {
    trueno::Fp16ToFp32Row(k16_[layer].data() + off, k, n);
    trueno::Fp16ToFp32Row(v16_[layer].data() + off, v, n);
  } else {
    std::copy(k_[layer].data() + off, k_[layer].data() + off + n, k);
    std::copy(v_[layer].data() + off, v_[layer].data() + off + n, v);
  }
}

const void* KvCache::LayerK(int layer) const {
  return config_.kv_type == trueno::DType::kF16 ? static_cast<const void*>(k16_[layer].data())
                                                : static_cast<const void*>(k_[layer].data());
}

const void* KvCache::LayerV(int layer) const {
  return config_.kv_type == trueno::DType::kF16 ? static_cast<const void*>(v16_[layer].data())
                                                : static_cast<const void*>(v_[layer].data());
}

float* KvCache::K(int layer, int seq, int pos) {
  return k_.empty() ? nullptr : k_[layer].data() + Offset(seq, pos);
}
float* KvCache::V(int layer, int seq, int pos) {
  return v_.empty() ? nullptr : v_[layer].data() + Offset(seq, pos);
}
const float* KvCache::K(int layer, int seq, int pos) const {
  return k_.empty() ? nullptr : k_[layer].data() + Offset(seq, pos);
}
const float* KvCache::V(int layer, int seq, int pos) const {
  return v_.empty() ? nullptr : v_[layer].data() + Offset(seq, pos);
}

size_t KvCache::bytes_total() const {
  return 2ull * config_.n_layers * static_cast<size_t>(config_.num_blocks) * config_.block_size *
         kv_dim() * (config_.kv_type == trueno::DType::kF16 ? 2 : sizeof(float));
}

size_t KvCache::bytes_used() const {
  return bytes_total() / static_cast<size_t>(config_.num_blocks) *
         static_cast<size_t>(blocks_used());
}

}  // namespace realizar
