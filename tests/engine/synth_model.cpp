#include "synth_model.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "trueno/half.h"
#include "trueno/quantize.h"
#include "trueno/str_cat.h"

namespace apr_test {
namespace {

class Builder {
 public:
  Builder(aprender::ModelFile& file, uint32_t seed) : file_(file), rng_(seed) {}

  // A tensor of `type` with GGML dims {cols, rows} (rows = 1 for a vector).
  void Add(const std::string& name, trueno::DType type, uint64_t cols, uint64_t rows, float mean,
           float stddev) {
    std::normal_distribution<float> dist(mean, stddev);
    std::vector<float> values(cols * rows);
    for (float& v : values) v = dist(rng_);
    const uint64_t bytes = trueno::ByteSize(type, cols * rows).value();
    auto buf = std::make_shared<std::vector<uint8_t>>(bytes);
    if (type == trueno::DType::kF32) {
      std::memcpy(buf->data(), values.data(), bytes);
    } else {
      const uint64_t row_bytes = bytes / rows;
      for (uint64_t r = 0; r < rows; ++r) {
        absl::Status s =
            trueno::QuantizeRow(type, values.data() + r * cols, buf->data() + r * row_bytes, cols);
        if (!s.ok()) std::abort();
      }
    }
    aprender::Tensor t;
    t.name = name;
    t.type = type;
    t.dims = rows == 1 ? std::vector<uint64_t>{cols} : std::vector<uint64_t>{cols, rows};
    t.data = std::span<const uint8_t>(buf->data(), buf->size());
    file_.tensors.push_back(std::move(t));
    file_.storage.push_back(buf);
  }

 private:
  aprender::ModelFile& file_;
  std::mt19937 rng_;
};

}  // namespace

SynthModel MakeSynthModel(const SynthSpec& s) {
  SynthModel m;
  auto& c = m.config;
  const bool qwen = s.arch == aprender::Architecture::kQwen2;
  c.arch = s.arch;
  c.arch_name = qwen ? "qwen2" : "llama";
  c.name = "synth";
  c.n_layers = s.n_layers;
  c.n_embd = s.n_embd;
  c.n_ff = s.n_ff;
  c.n_head = s.n_head;
  c.n_head_kv = s.n_head_kv;
  c.head_dim = s.n_embd / s.n_head;
  c.n_vocab = s.n_vocab;
  c.n_ctx_train = 256;
  c.rms_eps = 1e-6f;
  c.rope_theta = qwen ? 1000000.0f : 10000.0f;
  c.rope_type = qwen ? aprender::RopeType::kNeox : aprender::RopeType::kNormal;
  c.tied_embeddings = s.tied;
  c.qkv_bias = qwen;

  m.file.path = trueno::Concat("synth-", c.arch_name, "-", trueno::DTypeName(s.wtype));
  Builder b(m.file, s.seed);
  const uint32_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  const auto f32 = trueno::DType::kF32;
  auto wscale = [](uint32_t cols) { return 1.0f / std::sqrt(static_cast<float>(cols)); };
  b.Add("token_embd.weight", s.wtype, c.n_embd, c.n_vocab, 0.0f, 1.0f);
  b.Add("output_norm.weight", f32, c.n_embd, 1, 1.0f, 0.1f);
  if (!s.tied) b.Add("output.weight", s.wtype, c.n_embd, c.n_vocab, 0.0f, wscale(c.n_embd));
  for (uint32_t i = 0; i < c.n_layers; ++i) {
    const std::string p = trueno::Concat("blk.", i, ".");
    b.Add(p + "attn_norm.weight", f32, c.n_embd, 1, 1.0f, 0.1f);
    b.Add(p + "attn_q.weight", s.wtype, c.n_embd, q_dim, 0.0f, wscale(c.n_embd));
    b.Add(p + "attn_k.weight", s.wtype, c.n_embd, kv_dim, 0.0f, wscale(c.n_embd));
    b.Add(p + "attn_v.weight", s.wtype, c.n_embd, kv_dim, 0.0f, wscale(c.n_embd));
    if (qwen) {
      b.Add(p + "attn_q.bias", f32, q_dim, 1, 0.0f, 0.1f);
      b.Add(p + "attn_k.bias", f32, kv_dim, 1, 0.0f, 0.1f);
      b.Add(p + "attn_v.bias", f32, kv_dim, 1, 0.0f, 0.1f);
    }
    b.Add(p + "attn_output.weight", s.wtype, q_dim, c.n_embd, 0.0f, wscale(q_dim));
    b.Add(p + "ffn_norm.weight", f32, c.n_embd, 1, 1.0f, 0.1f);
    b.Add(p + "ffn_gate.weight", s.wtype, c.n_embd, c.n_ff, 0.0f, wscale(c.n_embd));
    b.Add(p + "ffn_up.weight", s.wtype, c.n_embd, c.n_ff, 0.0f, wscale(c.n_embd));
    b.Add(p + "ffn_down.weight", s.wtype, c.n_ff, c.n_embd, 0.0f, wscale(c.n_ff));
  }
  return m;
}

}  // namespace apr_test
