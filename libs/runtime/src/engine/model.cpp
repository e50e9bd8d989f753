// The llama / qwen2 forward pass. Reads top to bottom like the reference in
// tests/engine/reference_forward.cpp: embed; per layer rmsnorm -> q,k,v (+bias) -> rope ->
// attention over the cache -> output projection -> residual -> rmsnorm -> SwiGLU -> residual;
// final norm; head. Every projection is one MatMul over all tokens of the step.
#include "realizar/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "trueno/half.h"
#include "trueno/kernels.h"
#include "trueno/quantize.h"
#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace realizar {
namespace {

using aprender::ModelFile;
using aprender::Tensor;
using trueno::Concat;
using trueno::DType;

// Converts n elements of any dequantizable type to float.
absl::Status ToFloat(DType type, const uint8_t* src, size_t n, float* dst) {
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      return absl::OkStatus();
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = type == DType::kF16 ? trueno::Fp16ToFp32(h) : trueno::Bf16ToFp32(h);
      }
      return absl::OkStatus();
    default:
      return trueno::DequantizeRow(type, src, dst, n);
  }
}

absl::StatusOr<const Tensor*> Need(const ModelFile& file, const std::string& name) {
  const Tensor* t = file.FindTensor(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(
        Concat(file.path, ": tensor '", name, "' is missing; the llama/qwen2 graph needs it"));
  }
  return t;
}

absl::Status CheckDims(const ModelFile& file, const Tensor& t, std::vector<uint64_t> want) {
  if (t.dims != want) {
    std::string got, exp;
    for (auto d : t.dims) got += Concat(got.empty() ? "" : ",", d);
    for (auto d : want) exp += Concat(exp.empty() ? "" : ",", d);
    return absl::InvalidArgumentError(Concat(file.path, ": tensor '", t.name, "' has dims {", got,
                                             "}, the config implies {", exp, "}"));
  }
  auto bytes = trueno::ByteSize(t.type, t.elements());
  if (!bytes.ok() || *bytes != t.data.size()) {
    return absl::DataLossError(Concat(file.path, ": tensor '", t.name, "' holds ", t.data.size(),
                                      " bytes, its type and shape need ", bytes.ok() ? *bytes : 0));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> GetVector(const ModelFile& file, const std::string& name,
                                             uint32_t n) {
  APR_ASSIGN_OR_RETURN(const Tensor* t, Need(file, name));
  APR_RETURN_IF_ERROR(CheckDims(file, *t, {n}));
  std::vector<float> v(n);
  absl::Status s = ToFloat(t->type, t->data.data(), n, v.data());
  if (!s.ok()) {
    return absl::Status(s.code(), Concat(file.path, ": tensor '", name, "': ", s.message()));
  }
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> Model::Create(ModelFile file,
                                                     const aprender::ModelConfig& config,
                                                     const ModelOptions& options) {
  std::unique_ptr<Model> m(new Model());
  m->file_ = std::move(file);
  m->config_ = config;
  APR_RETURN_IF_ERROR(m->Init(options));
  return m;
}

absl::Status Model::Init(const ModelOptions& options) {
  const auto& c = config_;
  if (c.n_layers == 0 || c.n_embd == 0 || c.n_head == 0 || c.n_head_kv == 0 || c.head_dim == 0 ||
      c.n_ff == 0 || c.n_vocab == 0 || c.n_head % c.n_head_kv != 0 || c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(Concat(
        file_.path, ": invalid hyperparameters (layers=", c.n_layers, " embd=", c.n_embd,
        " heads=", c.n_head, " kv_heads=", c.n_head_kv, " head_dim=", c.head_dim, " ff=", c.n_ff,
        " vocab=", c.n_vocab, "); heads must be a multiple of kv_heads, head_dim even"));
  }
  if (c.rope_scaling == aprender::RopeScaling::kYarn) {
    return absl::UnimplementedError(Concat(file_.path, ": YaRN RoPE scaling is not supported yet"));
  }
  const uint32_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;

  auto matrix = [&](const std::string& name, uint32_t rows,
                    uint32_t cols) -> absl::StatusOr<Matrix> {
    APR_ASSIGN_OR_RETURN(const Tensor* t, Need(file_, name));
    APR_RETURN_IF_ERROR(CheckDims(file_, *t, {cols, rows}));
    if (!trueno::MatVecSupports(t->type)) {
      return absl::UnimplementedError(Concat(file_.path, ": tensor '", name, "' has type ",
                                             trueno::DTypeName(t->type),
                                             "; the CPU matvec supports f32, f16, bf16, q8_0, "
                                             "q4_0, q4_K, q5_K, q6_K (convert or requantize)"));
    }
    return Matrix{t->type, t->data.data(), static_cast<int>(rows), static_cast<int>(cols)};
  };

  APR_ASSIGN_OR_RETURN(const Tensor* embd, Need(file_, "token_embd.weight"));
  APR_RETURN_IF_ERROR(CheckDims(file_, *embd, {c.n_embd, c.n_vocab}));
  token_embd_ = Matrix{embd->type, embd->data.data(), static_cast<int>(c.n_vocab),
                       static_cast<int>(c.n_embd)};
  APR_ASSIGN_OR_RETURN(output_norm_, GetVector(file_, "output_norm.weight", c.n_embd));
  if (file_.FindTensor("output.weight") != nullptr) {
    APR_ASSIGN_OR_RETURN(output_, matrix("output.weight", c.n_vocab, c.n_embd));
  } else {
    APR_ASSIGN_OR_RETURN(output_, matrix("token_embd.weight", c.n_vocab, c.n_embd));
  }

  layers_.resize(c.n_layers);
  for (uint32_t i = 0; i < c.n_layers; ++i) {
    const std::string p = Concat("blk.", i, ".");
    Layer& l = layers_[i];
    APR_ASSIGN_OR_RETURN(l.attn_norm, GetVector(file_, p + "attn_norm.weight", c.n_embd));
    APR_ASSIGN_OR_RETURN(l.ffn_norm, GetVector(file_, p + "ffn_norm.weight", c.n_embd));
    APR_ASSIGN_OR_RETURN(l.wq, matrix(p + "attn_q.weight", q_dim, c.n_embd));
    APR_ASSIGN_OR_RETURN(l.wk, matrix(p + "attn_k.weight", kv_dim, c.n_embd));
    APR_ASSIGN_OR_RETURN(l.wv, matrix(p + "attn_v.weight", kv_dim, c.n_embd));
    APR_ASSIGN_OR_RETURN(l.wo, matrix(p + "attn_output.weight", c.n_embd, q_dim));
    APR_ASSIGN_OR_RETURN(l.w_gate, matrix(p + "ffn_gate.weight", c.n_ff, c.n_embd));
    APR_ASSIGN_OR_RETURN(l.w_up, matrix(p + "ffn_up.weight", c.n_ff, c.n_embd));
    APR_ASSIGN_OR_RETURN(l.w_down, matrix(p + "ffn_down.weight", c.n_embd, c.n_ff));
    if (c.qkv_bias || file_.FindTensor(p + "attn_q.bias") != nullptr) {
      APR_ASSIGN_OR_RETURN(l.bq, GetVector(file_, p + "attn_q.bias", q_dim));
      APR_ASSIGN_OR_RETURN(l.bk, GetVector(file_, p + "attn_k.bias", kv_dim));
      APR_ASSIGN_OR_RETURN(l.bv, GetVector(file_, p + "attn_v.bias", kv_dim));
    }
  }

  max_context_ =
      options.max_context > 0
          ? options.max_context
          : static_cast<int>(std::min<uint32_t>(c.n_ctx_train > 0 ? c.n_ctx_train : 2048, 4096));
  const int block = std::max(1, options.kv_block_size);
  const int blocks = options.kv_blocks > 0 ? options.kv_blocks
                                           : std::max(1, options.max_sequences) *
                                                 ((max_context_ + block - 1) / block);
  KvCacheConfig kc;
  kc.n_layers = static_cast<int>(c.n_layers);
  kc.n_kv_heads = static_cast<int>(c.n_head_kv);
  kc.head_dim = static_cast<int>(c.head_dim);
  kc.block_size = block;
  kc.num_blocks = blocks;
  APR_ASSIGN_OR_RETURN(KvCache cache, KvCache::Create(kc));
  cache_ = std::make_unique<KvCache>(std::move(cache));
  return absl::OkStatus();
}

absl::Status Model::EmbedRow(int32_t token, float* out) const {
  const size_t row_bytes =
      static_cast<size_t>(trueno::ByteSize(token_embd_.type, token_embd_.cols).value());
  return ToFloat(token_embd_.type, token_embd_.data + row_bytes * static_cast<size_t>(token),
                 static_cast<size_t>(token_embd_.cols), out);
}

// Causal grouped-query attention of the step's queries over the cached keys/values: token t
// (at position start_pos + t) sees positions 0..start_pos + t. Query head h reads KV head
// h / (n_head / n_head_kv).
namespace {

// Runs fn(begin, end) over [0, n) on trueno::NumThreads() threads (one task per index range;
// the arena is kept and rebuilt only when the thread count changes).
void ParallelTasks(int n, const std::function<void(int, int)>& fn) {
  const int threads = trueno::NumThreads();
  if (threads <= 1 || n <= 1) {
    fn(0, n);
    return;
  }
  static std::mutex mu;
  static tbb::task_arena* arena = nullptr;  // leaked on purpose: outlives static destructors
  static int arena_threads = 0;
  tbb::task_arena* a = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (arena == nullptr || arena_threads != threads) {
      arena = new tbb::task_arena(threads);  // the previous one is leaked (rare: thread change)
      arena_threads = threads;
    }
    a = arena;
  }
  a->execute([&] {
    tbb::parallel_for(tbb::blocked_range<int>(0, n, 1),
                      [&](const tbb::blocked_range<int>& r) { fn(r.begin(), r.end()); });
  });
}

// Short-vector helpers for head_dim-sized rows (64-128 floats): plain loops the compiler
// vectorises, cheaper than a dispatched call per cached position.
inline float DotShort(const float* __restrict a, const float* __restrict b, int n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
    s4 += a[i + 4] * b[i + 4];
    s5 += a[i + 5] * b[i + 5];
    s6 += a[i + 6] * b[i + 6];
    s7 += a[i + 7] * b[i + 7];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7));
}

inline void AxpyShort(float alpha, const float* __restrict x, float* __restrict y, int n) {
  for (int i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace

void Model::Attention(int layer, int seq_id, int start_pos, int n_tokens) {
  const int hd = static_cast<int>(config_.head_dim);
  const int n_head = static_cast<int>(config_.n_head);
  const int group = n_head / static_cast<int>(config_.n_head_kv);
  const int q_dim = n_head * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int n_ctx_max = start_pos + n_tokens;
  // Positions of one KV block are contiguous (stride kv_dim): resolve each block's base once.
  const int bs = cache_->block_size();
  const int kv_dim = cache_->kv_dim();
  const int n_blocks = (n_ctx_max + bs - 1) / bs;
  std::vector<const float*> kbase(static_cast<size_t>(n_blocks)), vbase(kbase.size());
  const KvCache& cache = *cache_;
  for (int b = 0; b < n_blocks; ++b) {
    kbase[b] = cache.K(layer, seq_id, b * bs);
    vbase[b] = cache.V(layer, seq_id, b * bs);
  }
  // One task per (token, head); each has its own score buffer.
  ParallelTasks(n_tokens * n_head, [&](int begin, int end) {
    std::vector<float> scores(static_cast<size_t>(n_ctx_max));
    for (int task = begin; task < end; ++task) {
      const int t = task / n_head, h = task % n_head;
      const int n_ctx = start_pos + t + 1;
      const float* q = q_.data() + static_cast<size_t>(t) * q_dim + h * hd;
      const int kv_off = (h / group) * hd;
      for (int p = 0; p < n_ctx; ++p) {
        const float* k = kbase[p / bs] + static_cast<size_t>(p % bs) * kv_dim + kv_off;
        scores[p] = DotShort(q, k, hd) * scale;
      }
      trueno::Softmax(scores.data(), n_ctx);
      float* out = att_out_.data() + static_cast<size_t>(t) * q_dim + h * hd;
      std::fill(out, out + hd, 0.0f);
      for (int p = 0; p < n_ctx; ++p) {
        AxpyShort(scores[p], vbase[p / bs] + static_cast<size_t>(p % bs) * kv_dim + kv_off, out,
                  hd);
      }
    }
  });
}

absl::Status Model::Forward(std::span<const int32_t> tokens, int seq_id, int start_pos,
                            float* logits_out, bool all_logits) {
  const auto& c = config_;
  const int n = static_cast<int>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("Forward: no tokens");
  if (logits_out == nullptr) return absl::InvalidArgumentError("Forward: logits_out is null");
  for (int32_t tok : tokens) {
    if (tok < 0 || static_cast<uint32_t>(tok) >= c.n_vocab) {
      return absl::InvalidArgumentError(
          Concat("Forward: token id ", tok, " is outside the vocabulary [0, ", c.n_vocab, ")"));
    }
  }
  if (start_pos < 0 || start_pos > cache_->Length(seq_id)) {
    return absl::InvalidArgumentError(Concat("Forward: start_pos ", start_pos, " of sequence ",
                                             seq_id, " must be in [0, ", cache_->Length(seq_id),
                                             "] (the cached length)"));
  }
  if (start_pos + n > max_context_) {
    return absl::ResourceExhaustedError(Concat("Forward: context full: ", start_pos, " + ", n,
                                               " tokens exceed the context length ", max_context_));
  }
  cache_->Truncate(seq_id, start_pos);
  APR_RETURN_IF_ERROR(cache_->Reserve(seq_id, start_pos + n));

  const int E = static_cast<int>(c.n_embd), F = static_cast<int>(c.n_ff);
  const int hd = static_cast<int>(c.head_dim);
  const int q_dim = static_cast<int>(c.n_head) * hd, kv_dim = static_cast<int>(c.n_head_kv) * hd;
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
    for (int t = 0; t < n; ++t)
      trueno::Add(y.data() + t * b.size(), b.data(), y.data() + t * b.size(),
                  static_cast<int>(b.size()));
  };

  // Token embeddings.
  for (int t = 0; t < n; ++t)
    APR_RETURN_IF_ERROR(EmbedRow(tokens[t], x_.data() + static_cast<size_t>(t) * E));

  for (size_t li = 0; li < layers_.size(); ++li) {
    const Layer& l = layers_[li];
    const int layer = static_cast<int>(li);
    // Attention block: rmsnorm -> q, k, v -> rope -> cache -> attention -> out proj -> residual.
    for (int t = 0; t < n; ++t) {
      trueno::RmsNorm(x_.data() + t * E, l.attn_norm.data(), E, c.rms_eps, xb_.data() + t * E);
    }
    APR_RETURN_IF_ERROR(matmul(l.wq, xb_.data(), q_.data()));
    APR_RETURN_IF_ERROR(matmul(l.wk, xb_.data(), k_.data()));
    APR_RETURN_IF_ERROR(matmul(l.wv, xb_.data(), v_.data()));
    add_bias(q_, l.bq);
    add_bias(k_, l.bk);
    add_bias(v_, l.bv);
    for (int t = 0; t < n; ++t) {
      const int pos = start_pos + t;
      trueno::Rope(q_.data() + static_cast<size_t>(t) * q_dim, static_cast<int>(c.n_head), hd, pos,
                   rope);
      trueno::Rope(k_.data() + static_cast<size_t>(t) * kv_dim, static_cast<int>(c.n_head_kv), hd,
                   pos, rope);
      std::memcpy(cache_->K(layer, seq_id, pos), k_.data() + static_cast<size_t>(t) * kv_dim,
                  kv_dim * sizeof(float));
      std::memcpy(cache_->V(layer, seq_id, pos), v_.data() + static_cast<size_t>(t) * kv_dim,
                  kv_dim * sizeof(float));
    }
    Attention(layer, seq_id, start_pos, n);
    APR_RETURN_IF_ERROR(matmul(l.wo, att_out_.data(), proj_.data()));
    trueno::Add(x_.data(), proj_.data(), x_.data(), n * E);

    // Feed-forward block: rmsnorm -> silu(gate) * up -> down -> residual.
    for (int t = 0; t < n; ++t) {
      trueno::RmsNorm(x_.data() + t * E, l.ffn_norm.data(), E, c.rms_eps, xb_.data() + t * E);
    }
    APR_RETURN_IF_ERROR(matmul(l.w_gate, xb_.data(), gate_.data()));
    APR_RETURN_IF_ERROR(matmul(l.w_up, xb_.data(), up_.data()));
    trueno::SiluMul(gate_.data(), up_.data(), gate_.data(), n * F);
    APR_RETURN_IF_ERROR(matmul(l.w_down, gate_.data(), proj_.data()));
    trueno::Add(x_.data(), proj_.data(), x_.data(), n * E);
  }
  cache_->SetLength(seq_id, start_pos + n);

  // Final norm and head, for the last token or for all of them.
  const int first = all_logits ? 0 : n - 1;
  const int count = n - first;
  for (int t = first; t < n; ++t) {
    trueno::RmsNorm(x_.data() + t * E, output_norm_.data(), E, c.rms_eps,
                    xb_.data() + (t - first) * E);
  }
  return trueno::MatMul(output_.type, output_.data, output_.rows, output_.cols, xb_.data(), count,
                        logits_out);
}

}  // namespace realizar
