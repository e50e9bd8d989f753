#include "engine/gpu_forward.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "trueno/status_macros.h"
#include "trueno/str_cat.h"

namespace realizar::internal {
namespace {

namespace tc = trueno::cuda;
using trueno::Concat;

std::string MiB(size_t bytes) { return Concat((bytes + (size_t{1} << 19)) >> 20, " MiB"); }

// The largest batch up to `limit` whose products of `type` run the integer tensor-core kernel,
// or 8 (the single-row kernels' limit) when none does.
int Int8Rows(trueno::DType type, int limit) {
  for (int r = limit; r > 8; --r) {
    if (tc::MatMulQuantizesActivations(type, r)) return r;
  }
  return 8;
}

// A layer's seven weight matrices (GpuLayerSpec on the host, DevLayer on the device).
template <typename L>
auto LayerMatrices(const L& l) {
  return std::array{&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down};
}

}  // namespace

static double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

StepPlan PlanStep(std::span<const int> seq_ids, std::span<const int> positions,
                  std::span<const int32_t> row_table, std::span<const int> logit_rows) {
  const int n = static_cast<int>(seq_ids.size());
  StepPlan plan;
  for (int t = 0; t < n; ++t) plan.max_pos = std::max(plan.max_pos, positions[t]);
  std::vector<PromptRun> runs;
  for (int t = 0; t < n; ++t) {
    if (t > 0 && seq_ids[t] == seq_ids[t - 1] && positions[t] == positions[t - 1] + 1) {
      ++runs.back().rows;
    } else {
      runs.push_back({t, 1, row_table[t], positions[t]});
    }
  }
  int multi_end = 0;
  for (const PromptRun& r : runs) {
    if (r.rows > 1) multi_end = r.first + r.rows;
  }
  bool singles_last = true;
  for (const PromptRun& r : runs) {
    if (r.rows == 1 && r.first < multi_end) singles_last = false;
  }
  if (singles_last) {
    for (const PromptRun& r : runs) {
      if (r.rows > 1) plan.prompts.push_back(r);
    }
    plan.decode_first = multi_end;
  }
  const int n_logits = static_cast<int>(logit_rows.size());
  bool contiguous = true;
  for (int i = 1; i < n_logits; ++i) contiguous = contiguous && logit_rows[i] == logit_rows[0] + i;
  plan.n_logits = n_logits;
  plan.gather_rows = !contiguous;
  plan.logit_first = contiguous && n_logits > 0 ? logit_rows[0] : 0;
  return plan;
}

GpuForward::~GpuForward() {
  if (ctx_ != nullptr) (void)ctx_->Synchronize();
  if (profile_ && profile_steps_ > 0) {
    double total = 0;
    for (const auto& [name, t] : profile_s_) total += t;
    std::fprintf(stderr, "GPU profile: %d steps, %.3f ms per step (synchronized per kernel)\n",
                 profile_steps_, 1e3 * total / profile_steps_);
    auto sorted = profile_s_;
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [name, t] : sorted) {
      std::fprintf(stderr, "  %-12s %9.1f us/step %5.1f%%\n", name.c_str(),
                   1e6 * t / profile_steps_, 100.0 * t / total);
    }
  }
}

absl::Status GpuForward::Mark(const char* what) {
  if (!profile_ || !profile_decode_) return absl::OkStatus();
  APR_RETURN_IF_ERROR(ctx_->Synchronize());
  const double now = Now();
  auto it = std::find_if(profile_s_.begin(), profile_s_.end(),
                         [&](const auto& p) { return p.first == what; });
  if (it == profile_s_.end()) {
    profile_s_.emplace_back(what, 0.0);
    it = profile_s_.end() - 1;
  }
  it->second += now - profile_t0_;
  profile_t0_ = now;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GpuForward>> GpuForward::Create(const GpuModelSpec& spec, int device,
                                                               KvCacheConfig& kc,
                                                               size_t kv_max_bytes,
                                                               int max_context) {
  std::unique_ptr<GpuForward> g(new GpuForward());
  g->spec_ = spec;
  APR_ASSIGN_OR_RETURN(g->info_, tc::QueryDevice(device));

  // Every matrix must have a CUDA kernel, and the weights must fit, before anything is uploaded.
  std::vector<const GpuMatrix*> mats = {&spec.output};
  if (!spec.hidden_input) mats.push_back(&spec.token_embd);
  for (const auto& l : spec.layers) {
    for (const GpuMatrix* m : LayerMatrices(l)) mats.push_back(m);
  }
  size_t need = 0;
  std::unordered_map<const uint8_t*, size_t> seen;
  for (const GpuMatrix* m : mats) {
    if (!tc::MatMulSupports(m->type)) {
      return absl::UnimplementedError(Concat("no CUDA kernel for ", trueno::DTypeName(m->type),
                                             " weights; run on the CPU (--no-gpu)"));
    }
    if (seen.count(m->data) == 0) {
      APR_ASSIGN_OR_RETURN(size_t bytes,
                           trueno::ByteSize(m->type, static_cast<uint64_t>(m->rows) * m->cols));
      seen[m->data] = bytes;
      need += bytes;
    }
  }
  if (need > g->info_.free_bytes) {
    // How many of the last layers would fit beside the head, with a tenth of the free memory
    // left for the KV cache and activations: the --gpu-layers to suggest.
    const size_t budget = g->info_.free_bytes - g->info_.free_bytes / 10;
    size_t used = seen.count(spec.output.data) != 0 ? seen[spec.output.data] : 0;
    int fit = 0;
    for (auto it = spec.layers.rbegin(); it != spec.layers.rend(); ++it) {
      size_t layer = 0;
      for (const GpuMatrix* m : LayerMatrices(*it)) layer += seen[m->data];
      if (used + layer > budget) break;
      used += layer;
      ++fit;
    }
    const std::string hint = fit > 0 ? Concat("offload fewer layers (--gpu-layers ", fit, " of ",
                                              spec.layers.size(), " fit), ")
                                     : std::string();
    return absl::ResourceExhaustedError(
        Concat("the weights need ", MiB(need), " of GPU memory, ", g->info_.name, " has ",
               MiB(g->info_.free_bytes), " free; ", hint,
               "run on the CPU (--no-gpu) or use a smaller quantization"));
  }
  APR_ASSIGN_OR_RETURN(g->ctx_, tc::Context::Create(device));
  tc::Context& ctx = *g->ctx_;

  std::unordered_map<const uint8_t*, const void*> uploaded;
  auto upload_matrix = [&](const GpuMatrix& m) -> absl::StatusOr<DevMatrix> {
    auto it = uploaded.find(m.data);
    if (it == uploaded.end()) {
      const size_t bytes = seen[m.data];
      APR_ASSIGN_OR_RETURN(tc::DeviceBuffer buf, tc::DeviceBuffer::Allocate(bytes, "weights"));
      APR_RETURN_IF_ERROR(ctx.Upload(buf.data(), m.data, bytes));
      it = uploaded.emplace(m.data, buf.data()).first;
      g->weight_bytes_ += bytes;
      g->weights_.push_back(std::move(buf));
    }
    return DevMatrix{m.type, it->second, m.rows, m.cols};
  };
  auto upload_vector = [&](const std::vector<float>* v) -> absl::StatusOr<const float*> {
    if (v == nullptr || v->empty()) return nullptr;
    const size_t bytes = v->size() * sizeof(float);
    APR_ASSIGN_OR_RETURN(tc::DeviceBuffer buf, tc::DeviceBuffer::Allocate(bytes, "weights"));
    APR_RETURN_IF_ERROR(ctx.Upload(buf.data(), v->data(), bytes));
    const float* p = buf.as<float>();
    g->weight_bytes_ += bytes;
    g->weights_.push_back(std::move(buf));
    return p;
  };
  if (!spec.hidden_input) {
    APR_ASSIGN_OR_RETURN(g->token_embd_, upload_matrix(spec.token_embd));
  }
  APR_ASSIGN_OR_RETURN(g->output_, upload_matrix(spec.output));
  APR_ASSIGN_OR_RETURN(g->output_norm_, upload_vector(spec.output_norm));
  for (const auto& l : spec.layers) {
    DevLayer d;
    APR_ASSIGN_OR_RETURN(d.attn_norm, upload_vector(l.attn_norm));
    APR_ASSIGN_OR_RETURN(d.ffn_norm, upload_vector(l.ffn_norm));
    APR_ASSIGN_OR_RETURN(d.bq, upload_vector(l.bq));
    APR_ASSIGN_OR_RETURN(d.bk, upload_vector(l.bk));
    APR_ASSIGN_OR_RETURN(d.bv, upload_vector(l.bv));
    APR_ASSIGN_OR_RETURN(d.wq, upload_matrix(l.wq));
    APR_ASSIGN_OR_RETURN(d.wk, upload_matrix(l.wk));
    APR_ASSIGN_OR_RETURN(d.wv, upload_matrix(l.wv));
    APR_ASSIGN_OR_RETURN(d.wo, upload_matrix(l.wo));
    APR_ASSIGN_OR_RETURN(d.w_gate, upload_matrix(l.w_gate));
    APR_ASSIGN_OR_RETURN(d.w_up, upload_matrix(l.w_up));
    APR_ASSIGN_OR_RETURN(d.w_down, upload_matrix(l.w_down));
    g->layers_.push_back(d);
  }
  // Batches above 8 rows are graph-safe where every product runs the integer tensor-core kernel
  // (no cuBLAS inside the capture).
  g->graph_rows_ = Int8Rows(g->output_.type, kMaxGraphRows);
  for (const DevLayer& l : g->layers_) {
    for (const DevMatrix* m : LayerMatrices(l)) {
      g->graph_rows_ = std::min(g->graph_rows_, Int8Rows(m->type, kMaxGraphRows));
    }
  }
  g->spec_.layers.clear();  // host pointers are not needed any more
  g->max_context_ = max_context;
  if (const char* e = std::getenv("APR_CUDA_GRAPHS"); e != nullptr && std::string(e) == "0") {
    g->use_graphs_ = false;
  }
  if (const char* e = std::getenv("APR_CUDA_PINNED_LOGITS");
      e != nullptr && std::string(e) == "0") {
    g->pinned_logits_ = false;
  }
  if (const char* e = std::getenv("APR_GPU_PROFILE"); e != nullptr && std::string(e) == "1") {
    g->profile_ = true;
    g->use_graphs_ = false;
  }

  // KV pool: the requested blocks, capped by the free memory (or the flag), at least one context.
  APR_ASSIGN_OR_RETURN(tc::DeviceInfo now, tc::QueryDevice(device));
  const int n_layers = static_cast<int>(g->layers_.size());
  const size_t elem = kc.kv_type == trueno::DType::kF16 ? 2 : 4;
  const size_t layer_side = static_cast<size_t>(kc.block_size) * kc.n_kv_heads * kc.head_dim *
                            elem;  // one block of K (or V) of one layer
  const size_t block_bytes = 2 * static_cast<size_t>(n_layers) * layer_side;
  const size_t cap = kv_max_bytes > 0
                         ? std::min(kv_max_bytes, now.free_bytes)
                         : static_cast<size_t>(0.9 * static_cast<double>(now.free_bytes));
  const int min_blocks = (max_context + kc.block_size - 1) / kc.block_size;
  int blocks = kc.num_blocks;
  if (static_cast<size_t>(blocks) * block_bytes > cap) {
    blocks = static_cast<int>(cap / block_bytes);
    if (blocks < min_blocks) {
      return absl::ResourceExhaustedError(Concat(
          "the GPU KV cache for one sequence of ", max_context, " positions needs ",
          MiB(static_cast<size_t>(min_blocks) * block_bytes), ", only ", MiB(cap),
          " is available after the weights (", MiB(g->weight_bytes_), "; ", MiB(now.free_bytes),
          " free); lower --ctx-size, use an f16 KV cache, or run on the CPU (--no-gpu)"));
    }
  }
  kc.num_blocks = blocks;
  APR_ASSIGN_OR_RETURN(g->pool_, tc::DeviceBuffer::Allocate(
                                     static_cast<size_t>(blocks) * block_bytes, "the KV cache"));
  const size_t layer_bytes = static_cast<size_t>(blocks) * layer_side;
  auto* base = static_cast<uint8_t*>(g->pool_.data());
  for (int l = 0; l < n_layers; ++l) {
    tc::PagedKvLayer kv;
    kv.k = base + (2 * static_cast<size_t>(l)) * layer_bytes;
    kv.v = base + (2 * static_cast<size_t>(l) + 1) * layer_bytes;
    kv.type = kc.kv_type;
    kv.block_size = kc.block_size;
    kv.n_kv_heads = kc.n_kv_heads;
    kv.head_dim = kc.head_dim;
    kv.num_blocks = blocks;
    g->kv_.push_back(kv);
  }
  APR_RETURN_IF_ERROR(ctx.Synchronize());
  return g;
}

std::string GpuForward::Describe() const {
  return Concat("gpu ", info_.index, ": ", info_.name, " (sm_", info_.sm_major, info_.sm_minor,
                ", ", MiB(info_.total_bytes), ", driver ", info_.driver_version / 1000, ".",
                info_.driver_version % 1000 / 10, ", CUDA runtime ", info_.runtime_version / 1000,
                ".", info_.runtime_version % 1000 / 10, "); weights ", MiB(weight_bytes_),
                ", KV pool ", kv_.empty() ? 0 : kv_[0].num_blocks, " blocks (", MiB(pool_.size()),
                "); ", KernelSummary());
}

// Which kernels the products and attention run, per weight type present (for --verbose and the
// bench provenance): decode batches of <= 8 rows take the fused kernels (8-bit activations and
// dp4a for Q4_K / Q6_K unless APR_CUDA_Q8=0), larger ones the int8 tensor-core kernel (Q4_K /
// Q6_K, up to its row limit) or f16 tiles + cuBLAS.
std::string GpuForward::KernelSummary() const {
  std::vector<trueno::DType> types;
  auto add = [&](const DevMatrix& m) {
    if (std::find(types.begin(), types.end(), m.type) == types.end()) types.push_back(m.type);
  };
  for (const DevLayer& l : layers_) {
    for (const DevMatrix* m : LayerMatrices(l)) add(*m);
  }
  add(output_);
  std::string q8, f32, mmq, blas;
  for (trueno::DType t : types) {
    std::string& list = tc::MatMulQuantizesActivations(t, 1) ? q8 : f32;
    if (!list.empty()) list += '/';
    list.append(trueno::DTypeName(t));
    std::string& big = Int8Rows(t, kMaxGraphRows) > 8 ? mmq : blas;
    if (!big.empty()) big += '/';
    big.append(trueno::DTypeName(t));
  }
  std::string out = "kernels: decode products ";
  if (!q8.empty()) out += Concat(q8, " dp4a on 8-bit activations");
  if (!q8.empty() && !f32.empty()) out += ", ";
  if (!f32.empty()) out += Concat(f32, " fused dequant + f32 dot");
  out += "; 9+ rows ";
  if (!mmq.empty()) {
    int int8_rows = 8;
    for (trueno::DType t : types) int8_rows = std::max(int8_rows, Int8Rows(t, kMaxGraphRows));
    out += Concat(mmq, " int8 tensor cores on 8-bit activations up to ", int8_rows,
                  " rows, then f16 tiles + cuBLAS");
  }
  if (!mmq.empty() && !blas.empty()) out += ", ";
  if (!blas.empty()) out += Concat(blas, " f16 tiles + cuBLAS");
  return Concat(out, "; prefill: f16 tiles + cuBLAS; attention: paged flash-style",
                use_graphs_ ? Concat("; decode steps of <= ", graph_rows_, " rows as CUDA graphs")
                            : std::string("; graphs off"));
}

float* GpuForward::HostLogits(size_t floats) {
  if (!pinned_logits_) return nullptr;
  if (host_logits_.size() < floats * sizeof(float)) {
    // Grown in steps of 8 rows' worth so a slowly growing batch does not re-lock every step.
    const size_t row = static_cast<size_t>(spec_.n_vocab);
    const size_t want = (floats + 8 * row - 1) / (8 * row) * (8 * row);
    host_logits_ = tc::PinnedBuffer();
    auto b = tc::PinnedBuffer::Allocate(want * sizeof(float));
    if (!b.ok()) {
      pinned_logits_ = false;  // pageable memory from now on
      return nullptr;
    }
    host_logits_ = std::move(*b);
  }
  return host_logits_.as<float>();
}

absl::Status GpuForward::Reserve(int rows, int n_ints) {
  if (rows > rows_cap_) {
    const size_t r = static_cast<size_t>(rows);
    const size_t E = spec_.n_embd, F = spec_.n_ff, V = spec_.n_vocab;
    const size_t qd = static_cast<size_t>(spec_.n_head) * spec_.head_dim;
    const size_t kvd = static_cast<size_t>(spec_.n_head_kv) * spec_.head_dim;
    auto grow = [&](tc::DeviceBuffer& b, size_t floats) -> absl::Status {
      APR_ASSIGN_OR_RETURN(b, tc::DeviceBuffer::Allocate(floats * sizeof(float), "activations"));
      return absl::OkStatus();
    };
    APR_RETURN_IF_ERROR(ctx_->Synchronize());
    APR_RETURN_IF_ERROR(grow(x_, r * E));
    APR_RETURN_IF_ERROR(grow(q_, r * qd));
    APR_RETURN_IF_ERROR(grow(k_, r * kvd));
    APR_RETURN_IF_ERROR(grow(v_, r * kvd));
    APR_RETURN_IF_ERROR(grow(att_, r * qd));
    APR_RETURN_IF_ERROR(grow(gate_, r * F));
    APR_RETURN_IF_ERROR(grow(up_, r * std::max(F, E)));  // also the head's gathered rows
    APR_RETURN_IF_ERROR(grow(logits_, r * V));
    rows_cap_ = rows;
    ++generation_;
  }
  if (n_ints > ints_cap_) {
    APR_RETURN_IF_ERROR(ctx_->Synchronize());
    APR_ASSIGN_OR_RETURN(
        ints_, tc::DeviceBuffer::Allocate(static_cast<size_t>(n_ints) * 4, "step indices"));
    ints_cap_ = n_ints;
    ++generation_;
  }
  return absl::OkStatus();
}

absl::Status GpuForward::Run(std::span<const int32_t> tokens, std::span<const int> seq_ids,
                             std::span<const int> positions, const KvCache& cache,
                             std::span<const int> logit_rows, float* logits_out,
                             const float* hidden) {
  tc::Context& ctx = *ctx_;
  const int n = static_cast<int>(tokens.size());
  const int n_logits = static_cast<int>(logit_rows.size());
  if (spec_.hidden_input != (hidden != nullptr)) {
    return absl::InternalError("GpuForward::Run: hidden states given iff the spec takes them");
  }
  for (int r : logit_rows) {
    if (r < 0 || r >= n) return absl::InternalError("GpuForward::Run: logits row out of range");
  }

  // One host array, one copy: tokens | positions | row -> table | block tables | logits rows.
  std::vector<int> table_of_seq;  // distinct sequences in row order
  std::vector<int32_t> row_table(static_cast<size_t>(n));
  int max_blocks = 1;
  for (int t = 0; t < n; ++t) {
    auto it = std::find(table_of_seq.begin(), table_of_seq.end(), seq_ids[t]);
    if (it == table_of_seq.end()) {
      table_of_seq.push_back(seq_ids[t]);
      it = table_of_seq.end() - 1;
      max_blocks = std::max(max_blocks, static_cast<int>(cache.BlockTable(seq_ids[t]).size()));
    }
    row_table[t] = static_cast<int32_t>(it - table_of_seq.begin());
  }
  const int n_tables = static_cast<int>(table_of_seq.size());

  StepPlan plan = PlanStep(seq_ids, positions, row_table, logit_rows);
  const bool contiguous = !plan.gather_rows;

  const int ctx_blocks = (max_context_ + cache.block_size() - 1) / cache.block_size();
  const bool graph = use_graphs_ && plan.prompts.empty() && n <= graph_rows_ && n_logits > 0 &&
                     contiguous && plan.logit_first == 0 && n_logits == n &&
                     plan.max_pos < max_context_ && max_blocks <= ctx_blocks;
  if (graph) max_blocks = ctx_blocks;  // fixed table width: the graph's layout never changes
  const int gather_at = 3 * n + n_tables * max_blocks;
  const int n_ints = gather_at + (contiguous ? 0 : n_logits);
  // Graph steps reserve the largest graph shape up front so the buffers do not move under them.
  APR_RETURN_IF_ERROR(
      graph ? Reserve(std::max(n, graph_rows_), 3 * graph_rows_ + graph_rows_ * ctx_blocks)
            : Reserve(n, n_ints));
  host_ints_.assign(static_cast<size_t>(n_ints), 0);
  int32_t* hi = host_ints_.data();
  for (int t = 0; t < n; ++t) {
    hi[t] = tokens[t];
    hi[n + t] = positions[t];
    hi[2 * n + t] = row_table[t];
  }
  for (int s = 0; s < n_tables; ++s) {
    const std::vector<int>& bt = cache.BlockTable(table_of_seq[s]);
    std::copy(bt.begin(), bt.end(), hi + 3 * n + static_cast<size_t>(s) * max_blocks);
  }
  if (!contiguous) std::copy(logit_rows.begin(), logit_rows.end(), hi + gather_at);
  APR_RETURN_IF_ERROR(
      tc::UploadAsync(ctx, ints_.data(), host_ints_.data(), host_ints_.size() * sizeof(int32_t)));
  const int32_t* d_ints = ints_.as<int32_t>();
  tc::RowMap map{d_ints + 3 * n, max_blocks, d_ints + 2 * n, d_ints + n};
  if (!contiguous) plan.gather = d_ints + gather_at;
  if (hidden != nullptr) {  // partial offload: the CPU layers' output is this step's input
    APR_RETURN_IF_ERROR(tc::UploadAsync(ctx, x_.data(), hidden,
                                        static_cast<size_t>(n) * spec_.n_embd * sizeof(float)));
  }

  if (graph) {
    Graph& gr = graphs_[n];
    StepPlan gplan;  // the decode shape every replay of this graph serves
    gplan.max_pos = max_context_ - 1;
    gplan.n_logits = n;
    // Stale when the activation buffers or a kernel scratch buffer moved since the capture (a
    // larger batch ran eagerly in between): replaying it would touch freed memory.
    if (gr.id < 0 || gr.generation != generation_ ||
        gr.scratch_generation != ctx.ScratchGeneration()) {
      // First step of this shape: run it eagerly (that also grows any scratch the kernels need,
      // which capture forbids), then record the same work for the next steps.
      APR_RETURN_IF_ERROR(Enqueue(n, gplan, map));
      APR_RETURN_IF_ERROR(ctx.Synchronize());
      APR_RETURN_IF_ERROR(ctx.BeginCapture());
      absl::Status s = Enqueue(n, gplan, map);
      absl::StatusOr<int> id = ctx.EndCapture();
      APR_RETURN_IF_ERROR(s);
      if (!id.ok()) return id.status();
      gr.id = *id;
      gr.generation = generation_;
      gr.scratch_generation = ctx.ScratchGeneration();
    } else {
      APR_RETURN_IF_ERROR(ctx.Replay(gr.id));
    }
  } else {
    APR_RETURN_IF_ERROR(Enqueue(n, plan, map));
  }
  if (n_logits > 0) {
    APR_RETURN_IF_ERROR(ctx.Download(
        logits_out, logits_.data(), static_cast<size_t>(n_logits) * spec_.n_vocab * sizeof(float)));
  }
  return ctx.Synchronize();
}

absl::Status GpuForward::Enqueue(int n, const StepPlan& plan, const tc::RowMap& map) {
  tc::Context& ctx = *ctx_;
  const int E = spec_.n_embd, F = spec_.n_ff, hd = spec_.head_dim;
  const int n_head = spec_.n_head, q_dim = n_head * hd;
  const int32_t* d_tokens = ints_.as<int32_t>();
  float *x = x_.as<float>(), *q = q_.as<float>(), *k = k_.as<float>(), *v = v_.as<float>(),
        *att = att_.as<float>(), *gate = gate_.as<float>(), *up = up_.as<float>();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  if (profile_) {
    APR_RETURN_IF_ERROR(ctx.Synchronize());
    profile_t0_ = Now();
    // Per-step figures are of decode steps: a prefill's kernels are neither timed nor counted.
    profile_decode_ = plan.prompts.empty();
    if (profile_decode_) ++profile_steps_;
  }
  if (!spec_.hidden_input) {
    APR_RETURN_IF_ERROR(tc::EmbedRows(ctx, token_embd_.type, token_embd_.data, token_embd_.rows, E,
                                      d_tokens, n, x));
    APR_RETURN_IF_ERROR(Mark("embed"));
  }
  // Each MatMulMulti folds the layer's RMSNorm / SwiGLU into the activation reorder and the bias /
  // residual add into the product kernels (decode); prefill runs them as separate kernels.
  auto out = [](const DevMatrix& w, float* y, const float* bias, bool accumulate) {
    tc::MatMulOutput o;
    o.wtype = w.type;
    o.w = w.data;
    o.rows = w.rows;
    o.y = y;
    o.bias = bias;
    o.accumulate = accumulate;
    return o;
  };
  for (size_t li = 0; li < layers_.size(); ++li) {
    const DevLayer& l = layers_[li];
    tc::MatMulInput attn_in;
    attn_in.x = x;
    attn_in.rms_weight = l.attn_norm;
    attn_in.rms_eps = spec_.rms_eps;
    const tc::MatMulOutput qkv[3] = {out(l.wq, q, l.bq, false), out(l.wk, k, l.bk, false),
                                     out(l.wv, v, l.bv, false)};
    APR_RETURN_IF_ERROR(tc::MatMulMulti(ctx, attn_in, E, n, qkv, 3));
    APR_RETURN_IF_ERROR(Mark("norm+qkv"));
    APR_RETURN_IF_ERROR(tc::RopeKvStore(ctx, kv_[li], q, k, v, n, n_head, map, spec_.rope));
    APR_RETURN_IF_ERROR(Mark("rope+kv_store"));
    for (const PromptRun& r : plan.prompts) {
      const size_t off = static_cast<size_t>(r.first) * q_dim;
      APR_RETURN_IF_ERROR(
          tc::AttentionPrefill(ctx, kv_[li], q + off, r.rows, n_head, scale,
                               map.block_tables + static_cast<size_t>(r.table) * map.max_blocks,
                               r.start_pos, att + off));
    }
    if (const int d = plan.decode_first; d < n) {
      const tc::RowMap rows{map.block_tables, map.max_blocks, map.row_table + d, map.positions + d};
      const size_t off = static_cast<size_t>(d) * q_dim;
      APR_RETURN_IF_ERROR(tc::AttentionDecode(ctx, kv_[li], q + off, n - d, n_head, scale, rows,
                                              plan.max_pos, att + off));
    }
    APR_RETURN_IF_ERROR(Mark("attention"));
    tc::MatMulInput o_in;
    o_in.x = att;
    const tc::MatMulOutput wo = out(l.wo, x, nullptr, true);
    APR_RETURN_IF_ERROR(tc::MatMulMulti(ctx, o_in, q_dim, n, &wo, 1));
    APR_RETURN_IF_ERROR(Mark("wo+add"));
    tc::MatMulInput ffn_in;
    ffn_in.x = x;
    ffn_in.rms_weight = l.ffn_norm;
    ffn_in.rms_eps = spec_.rms_eps;
    const tc::MatMulOutput gate_up[2] = {out(l.w_gate, gate, nullptr, false),
                                         out(l.w_up, up, nullptr, false)};
    APR_RETURN_IF_ERROR(tc::MatMulMulti(ctx, ffn_in, E, n, gate_up, 2));
    APR_RETURN_IF_ERROR(Mark("norm+gate_up"));
    tc::MatMulInput down_in;
    down_in.x = gate;
    down_in.up = up;
    const tc::MatMulOutput down = out(l.w_down, x, nullptr, true);
    APR_RETURN_IF_ERROR(tc::MatMulMulti(ctx, down_in, F, n, &down, 1));
    APR_RETURN_IF_ERROR(Mark("swiglu+down+add"));
  }
  if (plan.n_logits == 0) return absl::OkStatus();
  tc::MatMulInput head_in;
  head_in.x = x + static_cast<size_t>(plan.logit_first) * E;
  if (plan.gather != nullptr) {  // the logits rows are scattered: gather them (up_ is free now)
    APR_RETURN_IF_ERROR(
        tc::EmbedRows(ctx, trueno::DType::kF32, x, n, E, plan.gather, plan.n_logits, up));
    head_in.x = up;
  }
  head_in.rms_weight = output_norm_;
  head_in.rms_eps = spec_.rms_eps;
  const tc::MatMulOutput head = out(output_, logits_.as<float>(), nullptr, false);
  APR_RETURN_IF_ERROR(tc::MatMulMulti(ctx, head_in, E, plan.n_logits, &head, 1));
  return Mark("head");
}

}  // namespace realizar::internal
