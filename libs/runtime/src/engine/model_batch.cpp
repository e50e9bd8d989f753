// Model::ForwardBatch: the decode step of continuous batching. The same layer sequence as
// Model::Forward (model.cpp), but row t of every activation belongs to a different sequence:
// the projections are MatMuls over the batch, so each weight matrix is streamed once per step
// for all sequences, while RoPE, the cache writes and attention use each row's own sequence
// and position.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "realizar/model.h"
#include "trueno/kernels.h"
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

  const int E = static_cast<int>(c.n_embd), F = static_cast<int>(c.n_ff);
  const int hd = static_cast<int>(c.head_dim);
  const int n_head = static_cast<int>(c.n_head), n_head_kv = static_cast<int>(c.n_head_kv);
  const int q_dim = n_head * hd, kv_dim = n_head_kv * hd;
  const int group = n_head / n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t un = static_cast<size_t>(n);
  x_.resize(un * E);
  xb_.resize(un * E);
  q_.resize(un * q_dim);
  k_.resize(un * kv_dim);
  v_.resize(un * kv_dim);
  att_out_.resize(un * q_dim);
  proj_.resize(un * E);
  gate_.resize(un * F);
  up_.resize(un * F);
  int max_pos = 0;
  for (int t = 0; t < n; ++t) max_pos = std::max(max_pos, positions[t]);
  scores_.resize(static_cast<size_t>(max_pos) + 1);

  trueno::RopeParams rope;
  rope.mode = c.rope_type == aprender::RopeType::kNeox ? trueno::RopeMode::kNeox
                                                       : trueno::RopeMode::kNormal;
  rope.theta = c.rope_theta;
  rope.freq_scale = (c.rope_scaling == aprender::RopeScaling::kLinear && c.rope_scale_factor > 0)
                        ? 1.0f / c.rope_scale_factor
                        : 1.0f;
  rope.n_rot = hd;

  auto matmul = [&](const Matrix& w, const float* in, float* out) {
    return trueno::MatMul(w.type, w.data, w.rows, w.cols, in, n, out);
  };
  auto add_bias = [&](std::vector<float>& y, const std::vector<float>& b) {
    if (b.empty()) return;
    const int w = static_cast<int>(b.size());
    for (int t = 0; t < n; ++t) {
      float* row = y.data() + static_cast<size_t>(t) * w;
      trueno::Add(row, b.data(), row, w);
    }
  };
  auto fail = [&](absl::Status s) {
    for (int t = 0; t < n; ++t) cache_->Truncate(seq_ids[t], positions[t]);
    return s;
  };
#define APR_BATCH_TRY(expr)        \
  do {                             \
    absl::Status s_ = (expr);      \
    if (!s_.ok()) return fail(s_); \
  } while (0)

  for (int t = 0; t < n; ++t) APR_BATCH_TRY(EmbedRow(tokens[t], x_.data() + t * E));

  for (size_t li = 0; li < layers_.size(); ++li) {
    const Layer& l = layers_[li];
    const int layer = static_cast<int>(li);
    for (int t = 0; t < n; ++t) {
      trueno::RmsNorm(x_.data() + t * E, l.attn_norm.data(), E, c.rms_eps, xb_.data() + t * E);
    }
    APR_BATCH_TRY(matmul(l.wq, xb_.data(), q_.data()));
    APR_BATCH_TRY(matmul(l.wk, xb_.data(), k_.data()));
    APR_BATCH_TRY(matmul(l.wv, xb_.data(), v_.data()));
    add_bias(q_, l.bq);
    add_bias(k_, l.bk);
    add_bias(v_, l.bv);
    for (int t = 0; t < n; ++t) {
      const int seq = seq_ids[t], pos = positions[t];
      float* q = q_.data() + static_cast<size_t>(t) * q_dim;
      float* k = k_.data() + static_cast<size_t>(t) * kv_dim;
      trueno::Rope(q, n_head, hd, pos, rope);
      trueno::Rope(k, n_head_kv, hd, pos, rope);
      std::memcpy(cache_->K(layer, seq, pos), k, kv_dim * sizeof(float));
      std::memcpy(cache_->V(layer, seq, pos), v_.data() + static_cast<size_t>(t) * kv_dim,
                  kv_dim * sizeof(float));
      // Attention of this row's query over positions 0..pos of its own sequence.
      const int n_ctx = pos + 1;
      for (int h = 0; h < n_head; ++h) {
        const int kvh = h / group;
        for (int p = 0; p < n_ctx; ++p) {
          scores_[p] = trueno::Dot(q + h * hd, cache_->K(layer, seq, p) + kvh * hd, hd) * scale;
        }
        trueno::Softmax(scores_.data(), n_ctx);
        float* out = att_out_.data() + static_cast<size_t>(t) * q_dim + h * hd;
        std::fill(out, out + hd, 0.0f);
        for (int p = 0; p < n_ctx; ++p) {
          trueno::Axpy(scores_[p], cache_->V(layer, seq, p) + kvh * hd, out, hd);
        }
      }
    }
    APR_BATCH_TRY(matmul(l.wo, att_out_.data(), proj_.data()));
    trueno::Add(x_.data(), proj_.data(), x_.data(), n * E);

    for (int t = 0; t < n; ++t) {
      trueno::RmsNorm(x_.data() + t * E, l.ffn_norm.data(), E, c.rms_eps, xb_.data() + t * E);
    }
    APR_BATCH_TRY(matmul(l.w_gate, xb_.data(), gate_.data()));
    APR_BATCH_TRY(matmul(l.w_up, xb_.data(), up_.data()));
    trueno::SiluMul(gate_.data(), up_.data(), gate_.data(), n * F);
    APR_BATCH_TRY(matmul(l.w_down, gate_.data(), proj_.data()));
    trueno::Add(x_.data(), proj_.data(), x_.data(), n * E);
  }
  for (int t = 0; t < n; ++t) cache_->SetLength(seq_ids[t], positions[t] + 1);

  for (int t = 0; t < n; ++t) {
    trueno::RmsNorm(x_.data() + t * E, output_norm_.data(), E, c.rms_eps, xb_.data() + t * E);
  }
  return trueno::MatMul(output_.type, output_.data, output_.rows, output_.cols, xb_.data(), n,
                        logits_out);
#undef APR_BATCH_TRY
}

}  // namespace realizar
