// The llama / qwen2 forward pass. Reads top to bottom like the reference in
// tests/engine/reference_forward.cpp: embed; per layer rmsnorm -> q,k,v (+bias) -> rope ->
// attention over the cache -> output projection -> residual -> rmsnorm -> SwiGLU -> residual;
// final norm; head. Every projection is one MatMul over all tokens of the step.
#include "realizar/model.h"
#include "engine/resident_weights.h"
#include "engine/rope_params.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <numeric>

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
  const uint32_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;

  auto matrix = [&](const std::string& name, uint32_t rows,
                    uint32_t cols) -> absl::StatusOr<Matrix> {
    APR_ASSIGN_OR_RETURN(const Tensor* t, Need(file_, name));
    APR_RETURN_IF_ERROR(CheckDims(file_, *t, {cols, rows}));
    if (!trueno::MatVecSupports(t->type)) {
      return absl::UnimplementedError(
          Concat(file_.path, ": tensor '", name, "' has type ", trueno::DTypeName(t->type),
                 "; the CPU matvec supports f32, f16, bf16, q8_0, "
                 "q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K (convert or "
                 "requantize)"));
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
  kc.kv_type = options.kv_type;
  APR_RETURN_IF_ERROR(InitGpu(options, kc));  // src/engine/gpu_model.cpp
  if (!options.mmap_weights) APR_RETURN_IF_ERROR(CopyCpuWeights());
  APR_ASSIGN_OR_RETURN(KvCache cache, KvCache::Create(kc));
  cache_ = std::make_unique<KvCache>(std::move(cache));
  return absl::OkStatus();
}

absl::Status Model::CopyCpuWeights() {
  // All layers on the GPU: the CPU reads only embedding rows, a few KB per step.
  if (gpu_ != nullptr && gpu_first_layer_ == 0) return absl::OkStatus();
  const size_t cpu_layers =
      gpu_ != nullptr ? static_cast<size_t>(gpu_first_layer_) : layers_.size();
  std::vector<Matrix*> matrices;
  if (gpu_ == nullptr) matrices.push_back(&output_);
  for (size_t i = 0; i < cpu_layers; ++i) {
    Layer& l = layers_[i];
    for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      matrices.push_back(m);
    }
  }
  std::vector<std::span<const uint8_t>> sources;
  for (const Matrix* m : matrices) {
    const size_t bytes =
        trueno::ByteSize(m->type, static_cast<uint64_t>(m->rows) * m->cols).value();
    sources.emplace_back(m->data, bytes);
  }
  APR_ASSIGN_OR_RETURN(auto copy, internal::ResidentWeights::Copy(sources, file_.mapped));
  for (Matrix* m : matrices) m->data = copy->Find(m->data);
  resident_weights_ = std::move(copy);
  return absl::OkStatus();
}

absl::Status Model::EmbedRow(int32_t token, float* out) const {
  const size_t row_bytes =
      static_cast<size_t>(trueno::ByteSize(token_embd_.type, token_embd_.cols).value());
  return ToFloat(token_embd_.type, token_embd_.data + row_bytes * static_cast<size_t>(token),
                 static_cast<size_t>(token_embd_.cols), out);
}

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

}  // namespace

// Causal grouped-query attention: row t (position positions[t] of sequence seq_ids[t]) sees
// positions 0..positions[t] of its own sequence, whose K/V this step has already written. Query
// head h reads KV head h / (n_head / n_head_kv). One task per (row, head).
void Model::Attention(int layer, std::span<const int> seq_ids, std::span<const int> positions) {
  const int hd = static_cast<int>(config_.head_dim);
  const int n_head = static_cast<int>(config_.n_head);
  const int group = n_head / static_cast<int>(config_.n_head_kv);
  const int q_dim = n_head * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int n = static_cast<int>(seq_ids.size());
  const KvCache& cache = *cache_;
  const int kv_dim = cache.kv_dim();
  const trueno::DType kv_type = cache.kv_type();
  const size_t elem = kv_type == trueno::DType::kF16 ? 2 : sizeof(float);
  const auto* k_layer = static_cast<const uint8_t*>(cache.LayerK(layer));
  const auto* v_layer = static_cast<const uint8_t*>(cache.LayerV(layer));
  std::vector<const int*> tables(static_cast<size_t>(n));
  int max_ctx = 0;
  for (int t = 0; t < n; ++t) {
    tables[t] = cache.BlockTable(seq_ids[t]).data();
    max_ctx = std::max(max_ctx, positions[t] + 1);
  }
  ParallelTasks(n * n_head, [&](int begin, int end) {
    std::vector<float> scores(static_cast<size_t>(max_ctx));
    for (int task = begin; task < end; ++task) {
      const int t = task / n_head, h = task % n_head;
      const size_t kv_off = static_cast<size_t>(h / group) * hd * elem;
      trueno::AttendHead(q_.data() + static_cast<size_t>(t) * q_dim + h * hd, hd, kv_type,
                         k_layer + kv_off, v_layer + kv_off, tables[t], cache.block_size(),
                         static_cast<size_t>(kv_dim), positions[t] + 1, scale, scores.data(),
                         att_out_.data() + static_cast<size_t>(t) * q_dim + h * hd);
    }
  });
}

absl::Status Model::RunLayers(std::span<const int32_t> tokens, std::span<const int> seq_ids,
                              std::span<const int> positions, int end_layer) {
  const auto& c = config_;
  const int n = static_cast<int>(tokens.size());
  const int E = static_cast<int>(c.n_embd), F = static_cast<int>(c.n_ff);
  const int hd = static_cast<int>(c.head_dim);
  const int n_head = static_cast<int>(c.n_head), n_head_kv = static_cast<int>(c.n_head_kv);
  const int q_dim = n_head * hd, kv_dim = n_head_kv * hd;
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

  trueno::RopeParams rope = engine::RopeParamsFor(c);
  rope.n_rot = hd;

  auto matmul = [&](const Matrix& w, const float* in, float* out) {
    return trueno::MatMul(w.type, w.data, w.rows, w.cols, in, n, out);
  };
  auto job = [](const Matrix& w, std::vector<float>& out) {
    return trueno::MatMulJob{w.type, w.data, w.rows, out.data()};
  };
  auto add_bias = [&](std::vector<float>& y, const std::vector<float>& b) {
    if (b.empty()) return;
    const int w = static_cast<int>(b.size());
    for (int t = 0; t < n; ++t) {
      float* row = y.data() + static_cast<size_t>(t) * w;
      trueno::Add(row, b.data(), row, w);
    }
  };
  auto rms_norm_rows = [&](const std::vector<float>& weight) {
    for (int t = 0; t < n; ++t) {
      trueno::RmsNorm(x_.data() + static_cast<size_t>(t) * E, weight.data(), E, c.rms_eps,
                      xb_.data() + static_cast<size_t>(t) * E);
    }
  };

  for (int t = 0; t < n; ++t) {
    APR_RETURN_IF_ERROR(EmbedRow(tokens[t], x_.data() + static_cast<size_t>(t) * E));
  }

  const size_t end = end_layer < 0 ? layers_.size() : static_cast<size_t>(end_layer);
  for (size_t li = 0; li < end; ++li) {
    const Layer& l = layers_[li];
    const int layer = static_cast<int>(li);
    // Attention block: rmsnorm -> q, k, v -> rope -> cache -> attention -> out proj -> residual.
    rms_norm_rows(l.attn_norm);
    const trueno::MatMulJob qkv[] = {job(l.wq, q_), job(l.wk, k_), job(l.wv, v_)};
    APR_RETURN_IF_ERROR(trueno::MatMulMulti(qkv, E, xb_.data(), n));
    add_bias(q_, l.bq);
    add_bias(k_, l.bk);
    add_bias(v_, l.bv);
    for (int t = 0; t < n; ++t) {
      float* q = q_.data() + static_cast<size_t>(t) * q_dim;
      float* k = k_.data() + static_cast<size_t>(t) * kv_dim;
      trueno::Rope(q, n_head, hd, positions[t], rope);
      trueno::Rope(k, n_head_kv, hd, positions[t], rope);
      cache_->Store(layer, seq_ids[t], positions[t], k,
                    v_.data() + static_cast<size_t>(t) * kv_dim);
    }
    Attention(layer, seq_ids, positions);
    APR_RETURN_IF_ERROR(matmul(l.wo, att_out_.data(), proj_.data()));
    trueno::Add(x_.data(), proj_.data(), x_.data(), n * E);

    // Feed-forward block: rmsnorm -> silu(gate) * up -> down -> residual.
    rms_norm_rows(l.ffn_norm);
    const trueno::MatMulJob gate_up[] = {job(l.w_gate, gate_), job(l.w_up, up_)};
    APR_RETURN_IF_ERROR(trueno::MatMulMulti(gate_up, E, xb_.data(), n));
    trueno::SiluMul(gate_.data(), up_.data(), gate_.data(), n * F);
    APR_RETURN_IF_ERROR(matmul(l.w_down, gate_.data(), proj_.data()));
    trueno::Add(x_.data(), proj_.data(), x_.data(), n * E);
  }
  return absl::OkStatus();
}

absl::Status Model::Head(std::span<const int> rows, float* logits_out) {
  const int E = static_cast<int>(config_.n_embd);
  const int count = static_cast<int>(rows.size());
  if (count == 0) return absl::OkStatus();
  for (int t = 0; t < count; ++t) {
    trueno::RmsNorm(x_.data() + static_cast<size_t>(rows[t]) * E, output_norm_.data(), E,
                    config_.rms_eps, xb_.data() + static_cast<size_t>(t) * E);
  }
  return trueno::MatMul(output_.type, output_.data, output_.rows, output_.cols, xb_.data(), count,
                        logits_out);
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

  const std::vector<int> seq_ids(static_cast<size_t>(n), seq_id);
  std::vector<int> positions(static_cast<size_t>(n));
  for (int t = 0; t < n; ++t) positions[t] = start_pos + t;
  // Every row's logits, or the last row's.
  std::vector<int> logit_rows(all_logits ? static_cast<size_t>(n) : 1);
  std::iota(logit_rows.begin(), logit_rows.end(), all_logits ? 0 : n - 1);
  if (gpu_ != nullptr) {
    APR_RETURN_IF_ERROR(RunGpu(tokens, seq_ids, positions, logit_rows, logits_out));
    cache_->SetLength(seq_id, start_pos + n);
    return absl::OkStatus();
  }
  APR_RETURN_IF_ERROR(RunLayers(tokens, seq_ids, positions));
  cache_->SetLength(seq_id, start_pos + n);
  return Head(logit_rows, logits_out);
}

}  // namespace realizar
