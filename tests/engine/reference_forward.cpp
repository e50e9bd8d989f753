#include "reference_forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "trueno/half.h"
#include "trueno/quantize.h"
#include "trueno/str_cat.h"

namespace apr_test {
namespace {

absl::StatusOr<std::vector<double>> Dequant(const aprender::ModelFile& file,
                                            const std::string& name) {
  const aprender::Tensor* t = file.FindTensor(name);
  if (t == nullptr) return absl::NotFoundError(trueno::Concat("missing tensor ", name));
  const size_t n = t->elements();
  std::vector<float> f(n);
  if (t->type == trueno::DType::kF32) {
    std::memcpy(f.data(), t->data.data(), n * 4);
  } else if (t->type == trueno::DType::kF16 || t->type == trueno::DType::kBF16) {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t->data.data() + 2 * i, 2);
      f[i] = t->type == trueno::DType::kF16 ? trueno::Fp16ToFp32(h) : trueno::Bf16ToFp32(h);
    }
  } else {
    absl::Status s = trueno::DequantizeRow(t->type, t->data.data(), f.data(), n);
    if (!s.ok()) return s;
  }
  return std::vector<double>(f.begin(), f.end());
}

// out[r] = sum_c w[r][c] * x[c]
std::vector<double> MatVec(const std::vector<double>& w, const std::vector<double>& x,
                           size_t rows) {
  const size_t cols = x.size();
  std::vector<double> out(rows, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) out[r] += w[r * cols + c] * x[c];
  }
  return out;
}

std::vector<double> RmsNorm(const std::vector<double>& x, const std::vector<double>& w,
                            double eps) {
  double ss = 0.0;
  for (double v : x) ss += v * v;
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * scale * w[i];
  return out;
}

// Inverse frequency of rotary pair i as transformers computes it (rope_init_fn "default",
// "linear", "yarn"), and the magnitude applied to cos/sin.
double InvFreq(const aprender::ModelConfig& c, size_t hd, size_t i) {
  const double base = c.rope_theta;
  const double inv = 1.0 / std::pow(base, static_cast<double>(2 * i) / hd);
  if (c.rope_scaling == aprender::RopeScaling::kLinear) return inv / c.rope_scale_factor;
  if (c.rope_scaling != aprender::RopeScaling::kYarn) return inv;
  // YaRN: blend interpolation (inv / factor) and extrapolation (inv) with a linear ramp over
  // the pair indices between the correction dims of beta_fast and beta_slow.
  const double pi = 3.14159265358979323846;
  auto correction_dim = [&](double n_rotations) {
    return hd * std::log(c.rope_orig_ctx / (n_rotations * 2 * pi)) / (2 * std::log(base));
  };
  double low = std::floor(correction_dim(c.rope_yarn_beta_fast));
  double high = std::ceil(correction_dim(c.rope_yarn_beta_slow));
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(hd) - 1);
  if (low == high) high += 0.001;
  const double linear = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
  const double extrapolation_factor = 1.0 - linear;
  const double interpolation = inv / c.rope_scale_factor;
  return interpolation * (1 - extrapolation_factor) + inv * extrapolation_factor;
}

double RopeMagnitude(const aprender::ModelConfig& c) {
  if (c.rope_scaling != aprender::RopeScaling::kYarn || c.rope_scale_factor <= 1.0) return 1.0;
  return c.rope_attn_factor * (0.1 * std::log(c.rope_scale_factor) + 1.0);
}

// Rotates each head of `v` for position `pos`: adjacent pairs (llama GGUF) or halves (NeoX).
void Rope(std::vector<double>& v, size_t n_heads, size_t hd, int pos,
          const aprender::ModelConfig& c) {
  const double mag = RopeMagnitude(c);
  for (size_t h = 0; h < n_heads; ++h) {
    for (size_t i = 0; i < hd / 2; ++i) {
      const double angle = pos * InvFreq(c, hd, i);
      const bool neox = c.rope_type == aprender::RopeType::kNeox;
      const size_t i0 = h * hd + (neox ? i : 2 * i);
      const size_t i1 = h * hd + (neox ? i + hd / 2 : 2 * i + 1);
      const double a = v[i0], b = v[i1];
      v[i0] = mag * (a * std::cos(angle) - b * std::sin(angle));
      v[i1] = mag * (a * std::sin(angle) + b * std::cos(angle));
    }
  }
}

void AddInPlace(std::vector<double>& a, const std::vector<double>& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
}

}  // namespace

absl::StatusOr<RefModel> LoadRefModel(const aprender::ModelFile& file,
                                      const aprender::ModelConfig& config) {
  RefModel m;
  m.config = config;
  auto get = [&](const std::string& name, std::vector<double>& out) -> absl::Status {
    auto v = Dequant(file, name);
    if (!v.ok()) return v.status();
    out = std::move(*v);
    return absl::OkStatus();
  };
  absl::Status s = get("token_embd.weight", m.token_embd);
  if (s.ok()) s = get("output_norm.weight", m.output_norm);
  if (s.ok()) {
    if (file.FindTensor("output.weight") != nullptr) {
      s = get("output.weight", m.output);
    } else {
      m.output = m.token_embd;
    }
  }
  m.layers.resize(config.n_layers);
  for (uint32_t i = 0; i < config.n_layers && s.ok(); ++i) {
    const std::string p = trueno::Concat("blk.", i, ".");
    RefLayer& l = m.layers[i];
    for (auto [name, dst] : std::initializer_list<std::pair<const char*, std::vector<double>*>>{
             {"attn_norm.weight", &l.attn_norm},
             {"ffn_norm.weight", &l.ffn_norm},
             {"attn_q.weight", &l.wq},
             {"attn_k.weight", &l.wk},
             {"attn_v.weight", &l.wv},
             {"attn_output.weight", &l.wo},
             {"ffn_gate.weight", &l.w_gate},
             {"ffn_up.weight", &l.w_up},
             {"ffn_down.weight", &l.w_down}}) {
      if (s.ok()) s = get(p + name, *dst);
    }
    if (s.ok() && file.FindTensor(p + "attn_q.bias") != nullptr) {
      s = get(p + "attn_q.bias", l.bq);
      if (s.ok()) s = get(p + "attn_k.bias", l.bk);
      if (s.ok()) s = get(p + "attn_v.bias", l.bv);
    }
  }
  if (!s.ok()) return s;
  return m;
}

std::vector<std::vector<double>> ReferenceForward(const RefModel& m,
                                                  std::span<const int32_t> tokens) {
  const auto& c = m.config;
  const size_t E = c.n_embd, hd = c.head_dim, H = c.n_head, KVH = c.n_head_kv, F = c.n_ff;
  const size_t V = c.n_vocab, T = tokens.size();
  // keys[l][t], values[l][t]: what an implementation would cache, recomputed here per call.
  std::vector<std::vector<std::vector<double>>> keys(c.n_layers), values(c.n_layers);
  std::vector<std::vector<double>> logits;

  for (size_t t = 0; t < T; ++t) {
    // Embed the token.
    std::vector<double> x(m.token_embd.begin() + tokens[t] * E,
                          m.token_embd.begin() + (tokens[t] + 1) * E);

    for (size_t li = 0; li < c.n_layers; ++li) {
      const RefLayer& l = m.layers[li];
      // Attention: rmsnorm -> q, k, v (+bias) -> rope.
      std::vector<double> xb = RmsNorm(x, l.attn_norm, c.rms_eps);
      std::vector<double> q = MatVec(l.wq, xb, H * hd);
      std::vector<double> k = MatVec(l.wk, xb, KVH * hd);
      std::vector<double> v = MatVec(l.wv, xb, KVH * hd);
      if (!l.bq.empty()) {
        AddInPlace(q, l.bq);
        AddInPlace(k, l.bk);
        AddInPlace(v, l.bv);
      }
      Rope(q, H, hd, static_cast<int>(t), c);
      Rope(k, KVH, hd, static_cast<int>(t), c);
      keys[li].push_back(k);
      values[li].push_back(v);

      // Causal attention per head over positions 0..t; head h uses kv head h / (H / KVH).
      std::vector<double> att(H * hd, 0.0);
      for (size_t h = 0; h < H; ++h) {
        const size_t kvh = h / (H / KVH);
        std::vector<double> score(t + 1);
        for (size_t p = 0; p <= t; ++p) {
          double s = 0.0;
          for (size_t i = 0; i < hd; ++i) s += q[h * hd + i] * keys[li][p][kvh * hd + i];
          score[p] = s / std::sqrt(static_cast<double>(hd));
        }
        const double mx = *std::max_element(score.begin(), score.end());
        double sum = 0.0;
        for (double& s : score) sum += (s = std::exp(s - mx));
        for (size_t p = 0; p <= t; ++p) {
          for (size_t i = 0; i < hd; ++i)
            att[h * hd + i] += score[p] / sum * values[li][p][kvh * hd + i];
        }
      }
      // Output projection and residual.
      AddInPlace(x, MatVec(l.wo, att, E));

      // FFN: rmsnorm -> silu(gate) * up -> down -> residual.
      xb = RmsNorm(x, l.ffn_norm, c.rms_eps);
      std::vector<double> g = MatVec(l.w_gate, xb, F);
      const std::vector<double> u = MatVec(l.w_up, xb, F);
      for (size_t i = 0; i < F; ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      AddInPlace(x, MatVec(l.w_down, g, E));
    }
    // Final norm and classifier.
    logits.push_back(MatVec(m.output, RmsNorm(x, m.output_norm, c.rms_eps), V));
  }
  return logits;
}

std::vector<int32_t> ReferenceGreedy(const RefModel& model, std::vector<int32_t> prompt,
                                     int steps) {
  std::vector<int32_t> out;
  for (int s = 0; s < steps; ++s) {
    const auto logits = ReferenceForward(model, prompt).back();
    const int32_t next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    prompt.push_back(next);
  }
  return out;
}

}  // namespace apr_test
