// Model::ForwardBatch: the decode step of continuous batching. It validates the batch, reserves
// one position per sequence and runs the layer stack shared with Model::Forward
// (Model::RunLayers in model.cpp) with row t belonging to sequence seq_ids[t]: each weight
// matrix is streamed once per step for all sequences.
#include <unordered_set>

#include "realizar/model.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace realizar {

absl::Status Model::ForwardBatch(std::span<const int32_t> tokens, std::span<const int> seq_ids,
                                 std::span<const int> positions, float* logits_out) {
  using trueno::Concat;
  const auto& c = config_;
  const int n = static_cast<int>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("ForwardBatch: no tokens");
  if (seq_ids.size() != tokens.size() || positions.size() != tokens.size()) {
    return absl::InvalidArgumentError(Concat("ForwardBatch: ", tokens.size(), " tokens but ",
                                             seq_ids.size(), " seq_ids and ", positions.size(),
                                             " positions; pass one of each per token"));
  }
  if (logits_out == nullptr) return absl::InvalidArgumentError("ForwardBatch: logits_out is null");
  std::unordered_set<int> seen;
  for (int t = 0; t < n; ++t) {
    const int32_t tok = tokens[t];
    if (tok < 0 || static_cast<uint32_t>(tok) >= c.n_vocab) {
      return absl::InvalidArgumentError(Concat("ForwardBatch: token id ", tok,
                                               " is outside the vocabulary [0, ", c.n_vocab, ")"));
    }
    if (!seen.insert(seq_ids[t]).second) {
      return absl::InvalidArgumentError(
          Concat("ForwardBatch: sequence ", seq_ids[t], " appears twice in one batch"));
    }
    const int len = cache_->HasSequence(seq_ids[t]) ? cache_->Length(seq_ids[t]) : 0;
    if (positions[t] < 0 || positions[t] > len) {
      return absl::InvalidArgumentError(Concat("ForwardBatch: position ", positions[t],
                                               " of sequence ", seq_ids[t], " must be in [0, ", len,
                                               "] (the cached length)"));
    }
    if (positions[t] + 1 > max_context_) {
      return absl::ResourceExhaustedError(Concat("ForwardBatch: context full: sequence ",
                                                 seq_ids[t], " at position ", positions[t],
                                                 " reaches the context length ", max_context_));
    }
  }
  // Reserve every sequence's next position; on failure give back what this call took.
  for (int t = 0; t < n; ++t) {
    cache_->Truncate(seq_ids[t], positions[t]);
    absl::Status s = cache_->Reserve(seq_ids[t], positions[t] + 1);
    if (!s.ok()) {
      for (int u = 0; u < t; ++u) cache_->Truncate(seq_ids[u], positions[u]);
      return s;
    }
  }

  absl::Status s = gpu_ != nullptr ? RunGpu(tokens, seq_ids, positions, 0, n, logits_out)
                                   : RunLayers(tokens, seq_ids, positions);
  if (!s.ok()) {
    for (int t = 0; t < n; ++t) cache_->Truncate(seq_ids[t], positions[t]);
    return s;
  }
  for (int t = 0; t < n; ++t) cache_->SetLength(seq_ids[t], positions[t] + 1);
  return gpu_ != nullptr ? absl::OkStatus() : Head(0, n, logits_out);
}

}  // namespace realizar
