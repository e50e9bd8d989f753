// RoPE scaling: the YaRN kernel against a float64 implementation written here (transformers'
// formulation: blend of interpolated and extrapolated inverse frequencies, magnitude
// 0.1 ln(factor) + 1) and against hand-computed values; the scaling read from GGUF metadata and
// from an HF config.json and written back by both writers; and the model applying linear and
// YaRN scaling (Model::Forward vs the float64 reference forward pass).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "aprender/hf_dir.h"
#include "aprender/model_config.h"
#include "hwy/targets.h"
#include "realizar/model.h"
#include "reference_forward.h"
#include "synth_model.h"
#include "test_assets.h"
#include "trueno/kernels.h"

namespace {

using aprender::RopeScaling;

constexpr uint32_t kSeed = 20261127;

template <class Fn>
void ForEachTarget(Fn&& fn) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  REQUIRE(!targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    INFO("Highway target " << hwy::TargetName(target));
    fn();
  }
  hwy::SetSupportedTargetsForTest(0);
}

struct Yarn {
  double theta, factor, orig_ctx, beta_fast, beta_slow, attn_factor;
};

// transformers' _compute_yarn_parameters, restated: inv_freq for pair i of `dim` rotated dims.
std::vector<double> YarnInvFreq(const Yarn& y, int dim) {
  const double pi = 3.14159265358979323846;
  auto find_correction_dim = [&](double num_rotations) {
    return dim * std::log(y.orig_ctx / (num_rotations * 2 * pi)) / (2 * std::log(y.theta));
  };
  const double low = std::max(std::floor(find_correction_dim(y.beta_fast)), 0.0);
  double high = std::min(std::ceil(find_correction_dim(y.beta_slow)), dim - 1.0);
  if (low == high) high += 0.001;
  std::vector<double> inv(dim / 2);
  for (int i = 0; i < dim / 2; ++i) {
    const double pos_freq = std::pow(y.theta, 2.0 * i / dim);
    const double extrapolation = 1.0 / pos_freq;
    const double interpolation = 1.0 / (y.factor * pos_freq);
    const double ramp = std::min(1.0, std::max(0.0, (i - low) / (high - low)));
    const double extrapolation_factor = 1.0 - ramp;
    inv[i] = interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor;
  }
  return inv;
}

double YarnMscale(const Yarn& y) {
  return y.attn_factor * (y.factor <= 1.0 ? 1.0 : 0.1 * std::log(y.factor) + 1.0);
}

trueno::RopeParams Params(const Yarn& y, trueno::RopeMode mode, int n_rot) {
  trueno::RopeParams p;
  p.mode = mode;
  p.theta = static_cast<float>(y.theta);
  p.freq_scale = static_cast<float>(1.0 / y.factor);
  p.n_rot = n_rot;
  p.yarn_orig_ctx = static_cast<float>(y.orig_ctx);
  p.yarn_beta_fast = static_cast<float>(y.beta_fast);
  p.yarn_beta_slow = static_cast<float>(y.beta_slow);
  p.yarn_attn_factor = static_cast<float>(y.attn_factor);
  return p;
}

double RelL2(const float* got, const std::vector<double>& want) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / den);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("YaRN RoPE matches a float64 YaRN implementation on every Highway target",
          "[rope][yarn]") {
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const Yarn cases[] = {{10000.0, 4.0, 2048.0, 32.0, 1.0, 1.0},
                        {1000000.0, 8.0, 32768.0, 32.0, 1.0, 1.0},
                        {10000.0, 2.0, 4096.0, 16.0, 2.0, 0.9}};
  const int n_heads = 3, head_dim = 64;
  for (const Yarn& y : cases) {
    const auto inv = YarnInvFreq(y, head_dim);
    const double mscale = YarnMscale(y);
    for (auto mode : {trueno::RopeMode::kNormal, trueno::RopeMode::kNeox}) {
      for (int pos : {0, 1, 77, 5000, 100000}) {
        std::vector<float> x(n_heads * head_dim);
        for (float& v : x) v = dist(rng);
        std::vector<double> want(x.begin(), x.end());
        for (int h = 0; h < n_heads; ++h) {
          for (int i = 0; i < head_dim / 2; ++i) {
            const bool neox = mode == trueno::RopeMode::kNeox;
            const int i0 = h * head_dim + (neox ? i : 2 * i);
            const int i1 = h * head_dim + (neox ? i + head_dim / 2 : 2 * i + 1);
            const double angle = pos * inv[i];
            const double a = x[i0], b = x[i1];
            want[i0] = mscale * (a * std::cos(angle) - b * std::sin(angle));
            want[i1] = mscale * (a * std::sin(angle) + b * std::cos(angle));
          }
        }
        ForEachTarget([&] {
          std::vector<float> got = x;
          trueno::Rope(got.data(), n_heads, head_dim, pos, Params(y, mode, head_dim));
          INFO("theta " << y.theta << " factor " << y.factor << " pos " << pos << " neox "
                        << (mode == trueno::RopeMode::kNeox));
          // float32 cos/sin tables and products: a few ulp of the magnitude.
          for (size_t k = 0; k < got.size(); ++k) REQUIRE(std::fabs(got[k] - want[k]) <= 2e-6 * 8);
        });
      }
    }
  }
}

TEST_CASE("YaRN RoPE on a 4-dimension head gives the hand-computed rotation", "[rope][yarn]") {
  // theta 10000, n_rot 4, factor 4, original context 2048, betas 32 / 1.
  // Correction dims: d(b) = 4 ln(2048 / (2 pi b)) / (2 ln 10000): d(32) = 0.504 -> low = 0,
  // d(1) = 1.257 -> high = 2. Pair 0: ramp 0 -> original frequency 1. Pair 1: ramp 1/2 ->
  // scale 1/2 + 1/2 * 1/4 = 0.625 of the original 10000^(-1/2) = 0.01.
  // mscale = 1 + 0.1 ln 4 = 1.1386294361. At pos 100: pair 0 angle 100 rad, pair 1 0.625 rad.
  //   cos(100) * m = 0.98186165130, sin(100) * m = -0.57656282440
  //   cos(0.625) * m = 0.92338647947, sin(0.625) * m = 0.66620897796
  const Yarn y{10000.0, 4.0, 2048.0, 32.0, 1.0, 1.0};
  const trueno::RopeParams p = Params(y, trueno::RopeMode::kNormal, 4);
  CHECK(trueno::RopePairScale(p, 4, 0) == Approx(1.0).epsilon(1e-12));
  CHECK(trueno::RopePairScale(p, 4, 1) == Approx(0.625).epsilon(1e-12));
  CHECK(trueno::RopeMagnitude(p) == Approx(1.1386294361).epsilon(1e-9));
  ForEachTarget([&] {
    float x[4] = {1.0f, 0.0f, 1.0f, 0.0f};
    trueno::Rope(x, 1, 4, 100, p);
    CHECK(x[0] == Approx(0.98186165130).epsilon(1e-6));
    CHECK(x[1] == Approx(-0.57656282440).epsilon(1e-6));
    CHECK(x[2] == Approx(0.92338647947).epsilon(1e-6));
    CHECK(x[3] == Approx(0.66620897796).epsilon(1e-6));
    // NeoX pairs (0, 2) and (1, 3): same angles, different element pairing.
    float z[4] = {1.0f, 1.0f, 0.0f, 0.0f};
    trueno::RopeParams pn = p;
    pn.mode = trueno::RopeMode::kNeox;
    trueno::Rope(z, 1, 4, 100, pn);
    CHECK(z[0] == Approx(0.98186165130).epsilon(1e-6));
    CHECK(z[2] == Approx(-0.57656282440).epsilon(1e-6));
    CHECK(z[1] == Approx(0.92338647947).epsilon(1e-6));
    CHECK(z[3] == Approx(0.66620897796).epsilon(1e-6));
  });
}

TEST_CASE("RoPE scaling is read from GGUF metadata, with YaRN beta defaults, and written back",
          "[rope][config]") {
  auto synth = apr_test::MakeSynthModel({});
  aprender::Metadata md;
  aprender::ModelConfigToMetadata(synth.config, md);
  md.Set("llama.rope.scaling.type", aprender::MetaValue::String("yarn"));
  md.Set("llama.rope.scaling.factor", aprender::MetaValue::F32(4.0f));
  md.Set("llama.rope.scaling.original_context_length", aprender::MetaValue::U32(64));
  auto c = aprender::ModelConfigFromMetadata(md);
  REQUIRE(c.ok());
  CHECK(c->rope_scaling == RopeScaling::kYarn);
  CHECK(c->rope_scale_factor == 4.0f);
  CHECK(c->rope_orig_ctx == 64u);
  CHECK(c->rope_yarn_beta_fast == 32.0f);  // defaults when absent
  CHECK(c->rope_yarn_beta_slow == 1.0f);
  CHECK(c->rope_attn_factor == 1.0f);

  md.Set("llama.rope.scaling.yarn_beta_fast", aprender::MetaValue::F32(16.0f));
  md.Set("llama.rope.scaling.yarn_beta_slow", aprender::MetaValue::F32(2.0f));
  md.Set("llama.rope.scaling.attn_factor", aprender::MetaValue::F32(0.75f));
  c = aprender::ModelConfigFromMetadata(md);
  REQUIRE(c.ok());
  CHECK(c->rope_yarn_beta_fast == 16.0f);
  CHECK(c->rope_yarn_beta_slow == 2.0f);
  CHECK(c->rope_attn_factor == 0.75f);

  aprender::Metadata back;
  aprender::ModelConfigToMetadata(*c, back);
  auto c2 = aprender::ModelConfigFromMetadata(back);
  REQUIRE(c2.ok());
  CHECK(c2->rope_scaling == RopeScaling::kYarn);
  CHECK(c2->rope_scale_factor == 4.0f);
  CHECK(c2->rope_orig_ctx == 64u);
  CHECK(c2->rope_yarn_beta_fast == 16.0f);
  CHECK(c2->rope_yarn_beta_slow == 2.0f);
  CHECK(c2->rope_attn_factor == 0.75f);

  md.Set("llama.rope.scaling.yarn_beta_fast", aprender::MetaValue::F32(-1.0f));
  CHECK(aprender::ModelConfigFromMetadata(md).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("RoPE scaling is read from an HF config.json rope_scaling and written back",
          "[rope][config][hf]") {
  apr_test::ScratchDir dir;
  auto synth = apr_test::MakeSynthModel({});
  aprender::ModelConfig cfg = synth.config;
  cfg.rope_scaling = RopeScaling::kYarn;
  cfg.rope_scale_factor = 4.0f;
  cfg.rope_orig_ctx = 64;
  cfg.rope_yarn_beta_fast = 16.0f;
  cfg.rope_yarn_beta_slow = 2.0f;
  cfg.rope_attn_factor = 0.5f;
  aprender::ModelConfigToMetadata(cfg, synth.file.metadata);
  const std::string hf = dir.file("hf");
  const absl::Status w = aprender::WriteHfDir(synth.file, hf);
  INFO(w.message());
  REQUIRE(w.ok());
  const std::string json = Slurp(hf + "/config.json");
  INFO(json);
  CHECK(json.find("\"rope_scaling\"") != std::string::npos);
  CHECK(json.find("\"yarn\"") != std::string::npos);
  CHECK(json.find("\"beta_fast\"") != std::string::npos);

  auto read = aprender::ReadHfDir(hf);
  REQUIRE(read.ok());
  auto c = aprender::ModelConfigFromMetadata(read->metadata);
  REQUIRE(c.ok());
  CHECK(c->rope_scaling == RopeScaling::kYarn);
  CHECK(c->rope_scale_factor == 4.0f);
  CHECK(c->rope_orig_ctx == 64u);
  CHECK(c->rope_yarn_beta_fast == 16.0f);
  CHECK(c->rope_yarn_beta_slow == 2.0f);
  CHECK(c->rope_attn_factor == Approx(0.5f).epsilon(1e-6));

  // A Qwen2.5-style block ("type" spelling, no betas, no attention_factor): defaults apply.
  std::string qwen = json;
  const size_t at = qwen.find("\"rope_scaling\"");
  const size_t open = qwen.find('{', at), close = qwen.find('}', open);
  qwen.replace(open, close - open + 1,
               "{\"type\":\"yarn\",\"factor\":4.0,\"original_max_position_embeddings\":32}");
  std::ofstream(hf + "/config.json", std::ios::binary | std::ios::trunc) << qwen;
  read = aprender::ReadHfDir(hf);
  REQUIRE(read.ok());
  c = aprender::ModelConfigFromMetadata(read->metadata);
  REQUIRE(c.ok());
  CHECK(c->rope_scaling == RopeScaling::kYarn);
  CHECK(c->rope_orig_ctx == 32u);
  CHECK(c->rope_yarn_beta_fast == 32.0f);
  CHECK(c->rope_yarn_beta_slow == 1.0f);
  CHECK(c->rope_attn_factor == Approx(1.0f).epsilon(1e-6));

  // transformers' explicit attention_factor is the whole magnitude: GGUF keeps it relative to
  // 1 + 0.1 ln(factor).
  std::string explicit_af = json;
  explicit_af.replace(open, close - open + 1,
                      "{\"rope_type\":\"yarn\",\"factor\":4.0,\"attention_factor\":1.5,"
                      "\"original_max_position_embeddings\":32}");
  std::ofstream(hf + "/config.json", std::ios::binary | std::ios::trunc) << explicit_af;
  read = aprender::ReadHfDir(hf);
  REQUIRE(read.ok());
  c = aprender::ModelConfigFromMetadata(read->metadata);
  REQUIRE(c.ok());
  CHECK(c->rope_attn_factor == Approx(1.5 / (1.0 + 0.1 * std::log(4.0))).epsilon(1e-6));

  // Linear scaling from config.json.
  std::string linear = json;
  linear.replace(open, close - open + 1, "{\"rope_type\":\"linear\",\"factor\":2.0}");
  std::ofstream(hf + "/config.json", std::ios::binary | std::ios::trunc) << linear;
  read = aprender::ReadHfDir(hf);
  REQUIRE(read.ok());
  c = aprender::ModelConfigFromMetadata(read->metadata);
  REQUIRE(c.ok());
  CHECK(c->rope_scaling == RopeScaling::kLinear);
  CHECK(c->rope_scale_factor == 2.0f);
}

TEST_CASE("The model applies linear and YaRN scaling read from GGUF metadata", "[rope][model]") {
  // F32 weights: the only differences from the float64 reference are float32 rounding.
  const std::vector<int32_t> prompt = {5, 17, 3, 88, 42, 42, 9, 60, 1, 33, 12, 70};
  for (auto arch : {aprender::Architecture::kLlama, aprender::Architecture::kQwen2}) {
    for (RopeScaling scaling : {RopeScaling::kLinear, RopeScaling::kYarn}) {
      apr_test::SynthSpec spec;
      spec.arch = arch;
      spec.seed = 77;
      auto synth = apr_test::MakeSynthModel(spec);
      aprender::ModelConfig cfg = synth.config;
      cfg.rope_scaling = scaling;
      cfg.rope_scale_factor = 4.0f;
      cfg.rope_orig_ctx = 64;  // small, so the YaRN ramp (pairs 0..5) falls inside a 16-dim head
      cfg.rope_theta = 100.0f;
      aprender::ModelConfigToMetadata(cfg, synth.file.metadata);
      auto from_md = aprender::ModelConfigFromFile(synth.file);
      REQUIRE(from_md.ok());
      REQUIRE(from_md->rope_scaling == scaling);
      INFO("arch " << from_md->arch_name << " scaling " << static_cast<int>(scaling));

      auto ref = apr_test::LoadRefModel(synth.file, *from_md);
      REQUIRE(ref.ok());
      auto model = realizar::Model::Create(synth.file, *from_md);
      REQUIRE(model.ok());
      const int V = (*model)->n_vocab();
      std::vector<float> logits(prompt.size() * V);
      REQUIRE((*model)->Forward(prompt, 0, 0, logits.data(), /*all_logits=*/true).ok());
      const auto want = apr_test::ReferenceForward(*ref, prompt);

      // The unscaled reference differs: scaling really changed the rotation.
      aprender::ModelConfig plain = *from_md;
      plain.rope_scaling = RopeScaling::kNone;
      auto ref_plain = apr_test::LoadRefModel(synth.file, plain);
      REQUIRE(ref_plain.ok());
      const auto want_plain = apr_test::ReferenceForward(*ref_plain, prompt);
      const size_t last = prompt.size() - 1;
      std::vector<float> plain_f(want_plain[last].begin(), want_plain[last].end());
      CHECK(RelL2(plain_f.data(), want[last]) > 1e-3);

      for (size_t t = 0; t < prompt.size(); ++t) {
        const double e = RelL2(logits.data() + t * V, want[t]);
        INFO("position " << t << " rel_l2 " << e);
        CHECK(e <= 1e-5);
      }
    }
  }
}
