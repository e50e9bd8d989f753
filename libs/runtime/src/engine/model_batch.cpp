// Model::ForwardSegments / ForwardBatch: the steps of continuous batching. They validate the
// step, reserve each sequence's new positions and run the layer stack shared with
// Model::Forward (Model::RunLayers in model.cpp) with every row tagged by its own sequence and
// position, so each weight matrix is streamed once per step for all sequences — decode tokens
// and prompt chunks alike.
#include <unordered_set>
#include <vector>

#include "realizar/model.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace realizar {

absl::Status Model::ForwardSegments(std::span<const Segment> segments, float* logits_out) {
  using trueno::Concat;
  const auto& c = config_;
  if (segments.empty()) return absl::InvalidArgumentError("ForwardSegments: no segments");
  std::unordered_set<int> seen;
  size_t rows = 0, n_logits = 0;
  for (const Segment& sg : segments) {
    const int n = static_cast<int>(sg.tokens.size());
    if (n == 0) {
      return absl::InvalidArgumentError(
          Concat("ForwardSegments: the segment of sequence ", sg.seq_id, " has no tokens"));
    }
    for (int32_t tok : sg.tokens) {
      if (tok < 0 || static_cast<uint32_t>(tok) >= c.n_vocab) {
        return absl::InvalidArgumentError(Concat(
            "ForwardSegments: token id ", tok, " is outside the vocabulary [0, ", c.n_vocab, ")"));
      }
    }
    if (!seen.insert(sg.seq_id).second) {
      return absl::InvalidArgumentError(
          Concat("ForwardSegments: sequence ", sg.seq_id, " appears twice in one step"));
    }
    const int len = cache_->HasSequence(sg.seq_id) ? cache_->Length(sg.seq_id) : 0;
    if (sg.start_pos < 0 || sg.start_pos > len) {
      return absl::InvalidArgumentError(Concat("ForwardSegments: position ", sg.start_pos,
                                               " of sequence ", sg.seq_id, " must be in [0, ", len,
                                               "] (the cached length)"));
    }
    if (sg.start_pos + n > max_context_) {
      return absl::ResourceExhaustedError(Concat(
          "ForwardSegments: context full: sequence ", sg.seq_id, " at positions ", sg.start_pos,
          "..", sg.start_pos + n - 1, " reaches the context length ", max_context_));
    }
    rows += static_cast<size_t>(n);
    if (sg.want_logits) ++n_logits;
  }
  if (n_logits > 0 && logits_out == nullptr) {
    return absl::InvalidArgumentError("ForwardSegments: logits_out is null");
  }

  // Rows in segment order, each segment's tokens at consecutive positions (RunLayers' layout).
  std::vector<int32_t> tokens;
  std::vector<int> seq_ids, positions, logit_rows;
  tokens.reserve(rows);
  seq_ids.reserve(rows);
  positions.reserve(rows);
  logit_rows.reserve(n_logits);
  for (const Segment& sg : segments) {
    for (size_t i = 0; i < sg.tokens.size(); ++i) {
      tokens.push_back(sg.tokens[i]);
      seq_ids.push_back(sg.seq_id);
      positions.push_back(sg.start_pos + static_cast<int>(i));
    }
    if (sg.want_logits) logit_rows.push_back(static_cast<int>(tokens.size()) - 1);
  }

  // Reserve every sequence's new positions; on failure give back what this call took.
  auto rewind = [&](size_t count) {
    for (size_t u = 0; u < count; ++u) cache_->Truncate(segments[u].seq_id, segments[u].start_pos);
  };
  for (size_t i = 0; i < segments.size(); ++i) {
    const Segment& sg = segments[i];
    cache_->Truncate(sg.seq_id, sg.start_pos);
    absl::Status s = cache_->Reserve(sg.seq_id, sg.start_pos + static_cast<int>(sg.tokens.size()));
    if (!s.ok()) {
      rewind(i + 1);
      return s;
    }
  }

  absl::Status s = gpu_ != nullptr ? RunGpu(tokens, seq_ids, positions, logit_rows, logits_out)
                                   : RunLayers(tokens, seq_ids, positions);
  if (s.ok() && gpu_ == nullptr) s = Head(logit_rows, logits_out);
  if (!s.ok()) {
    rewind(segments.size());
    return s;
  }
  for (const Segment& sg : segments) {
    cache_->SetLength(sg.seq_id, sg.start_pos + static_cast<int>(sg.tokens.size()));
  }
  return absl::OkStatus();
}

absl::Status Model::ForwardBatch(std::span<const int32_t> tokens, std::span<const int> seq_ids,
                                 std::span<const int> positions, float* logits_out) {
  using trueno::Concat;
  if (tokens.empty()) return absl::InvalidArgumentError("ForwardBatch: no tokens");
  if (seq_ids.size() != tokens.size() || positions.size() != tokens.size()) {
    return absl::InvalidArgumentError(Concat("ForwardBatch: ", tokens.size(), " tokens but ",
                                             seq_ids.size(), " seq_ids and ", positions.size(),
                                             " positions; pass one of each per token"));
  }
  if (logits_out == nullptr) return absl::InvalidArgumentError("ForwardBatch: logits_out is null");
  std::vector<Segment> segments(tokens.size());
  for (size_t t = 0; t < tokens.size(); ++t) {
    segments[t].seq_id = seq_ids[t];
    segments[t].start_pos = positions[t];
    segments[t].tokens = tokens.subspan(t, 1);
  }
  return ForwardSegments(segments, logits_out);
}

}  // namespace realizar
