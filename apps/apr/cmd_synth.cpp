// apr synth: a random-weight llama/qwen2 model of any shape (or a preset), in any output format
// and any supported type. Quantized types are synthesized as F16, then quantized.
#include <iostream>
#include <memory>

#include "absl/strings/ascii.h"
#include "aprender/synth.h"
#include "cli_util.h"
#include "commands.h"

namespace apr_cli {
namespace {

struct SynthOptions {
  std::string preset;
  std::string arch;
  uint32_t hidden = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0, ctx = 0;
  float rope_theta = 0.0f, rms_eps = 0.0f, std_dev = 0.0f;
  uint64_t seed = 0;
  std::string type = "f16";
  std::string tokenizer;
  std::string name;
  std::string out;
  std::string to;
  bool tied = false, untied = false;
  bool json = false;
  CLI::App* cmd = nullptr;
};

bool Given(const SynthOptions& opt, const char* flag) { return opt.cmd->count(flag) > 0; }

int RunSynth(const SynthOptions& opt) {
  aprender::SynthSpec spec;
  if (!opt.preset.empty()) {
    auto preset = aprender::SynthPreset(opt.preset);
    if (!preset.ok()) return Fail(preset.status());
    spec = *preset;
  } else if (!Given(opt, "--arch")) {
    return Fail(
        "synth needs --preset NAME or --arch llama|qwen2 with --hidden --layers --heads --ffn "
        "--vocab");
  }
  if (Given(opt, "--arch")) spec.arch = absl::AsciiStrToLower(opt.arch);
  if (Given(opt, "--hidden")) spec.hidden = opt.hidden;
  if (Given(opt, "--layers")) spec.layers = opt.layers;
  if (Given(opt, "--heads")) spec.heads = opt.heads;
  if (Given(opt, "--kv-heads")) {
    spec.kv_heads = opt.kv_heads;
  } else if (opt.preset.empty()) {
    spec.kv_heads = spec.heads;
  }
  if (Given(opt, "--ffn")) spec.ffn = opt.ffn;
  if (Given(opt, "--vocab")) spec.vocab = opt.vocab;
  if (Given(opt, "--ctx")) spec.ctx = opt.ctx;
  if (Given(opt, "--rope-theta")) spec.rope_theta = opt.rope_theta;
  if (Given(opt, "--rms-eps")) spec.rms_eps = opt.rms_eps;
  if (Given(opt, "--std")) spec.std = opt.std_dev;
  if (Given(opt, "--name")) spec.name = opt.name;
  if (opt.tied) spec.tied = true;
  if (opt.untied) spec.tied = false;
  spec.seed = opt.seed;
  spec.tokenizer_json = opt.tokenizer;
  if (auto st = aprender::ValidateSynthSpec(spec); !st.ok()) return Fail(st);

  const std::string type = absl::AsciiStrToLower(opt.type);
  if (auto st = CheckQuantTypeName(type); !st.ok()) return Fail(st);
  auto format = OutputFormat(opt.out, opt.to);
  if (!format.ok()) return Fail(format.status());

  trueno::DType gen_type = trueno::DType::kF16;
  if (type == "f32") gen_type = trueno::DType::kF32;
  if (type == "bf16") gen_type = trueno::DType::kBF16;
  absl::StatusOr<aprender::ModelFile> model;
  {
    ProgressBar bar("synth");
    model = aprender::SynthesizeModel(
        spec, gen_type, [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); });
  }
  if (!model.ok()) return Fail(model.status());
  if (type != "f32" && type != "f16" && type != "bf16") {
    auto quantized = QuantizeForCli(*model, type);
    if (!quantized.ok()) return Fail(quantized.status());
    model = std::move(quantized);
  }
  aprender::AprWriteOptions apr;
  apr.source_description = "synthesized by apr synth (seed " + std::to_string(spec.seed) + ")";
  if (auto st = WriteModel(*model, opt.out, *format, apr); !st.ok()) return Fail(st);
  return ReportWritten(*model, opt.out, *format, opt.json);
}

}  // namespace

void RegisterSynth(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<SynthOptions>();
  std::string presets;
  for (const auto& p : aprender::SynthPresetNames()) presets += (presets.empty() ? "" : ", ") + p;
  CLI::App* cmd = app.add_subcommand(
      "synth", "Synthesize a random-weight llama/qwen2 model (deterministic per seed)");
  opt->cmd = cmd;
  cmd->add_option("--preset", opt->preset, "start from a preset: " + presets);
  cmd->add_option("--arch", opt->arch, "llama|qwen2");
  cmd->add_option("--hidden", opt->hidden, "embedding width");
  cmd->add_option("--layers", opt->layers, "number of transformer blocks");
  cmd->add_option("--heads", opt->heads, "attention heads");
  cmd->add_option("--kv-heads", opt->kv_heads, "key/value heads (default: --heads)");
  cmd->add_option("--ffn", opt->ffn, "feed-forward width");
  cmd->add_option("--vocab", opt->vocab, "vocabulary size (embedding rows)");
  cmd->add_option("--ctx", opt->ctx, "training context length (default 2048)");
  cmd->add_option("--rope-theta", opt->rope_theta, "RoPE base frequency");
  cmd->add_option("--rms-eps", opt->rms_eps, "RMSNorm epsilon");
  cmd->add_flag("--tied", opt->tied, "tie the output head to the token embedding");
  cmd->add_flag("--untied", opt->untied, "separate output.weight");
  cmd->add_option("--std", opt->std_dev, "standard deviation of the weights (default 0.02)");
  cmd->add_option("--type", opt->type, "f32|f16|bf16|q8_0|q4_0|q4_k_m|q5_k_m|q6_k (default f16)");
  cmd->add_option("--tokenizer", opt->tokenizer,
                  "HF tokenizer.json to embed (default: built-in byte-level BPE)");
  cmd->add_option("--seed", opt->seed, "random seed (default 0)");
  cmd->add_option("--name", opt->name, "general.name");
  cmd->add_option("-o,--output", opt->out, "output: .gguf, .apr, .safetensors or a directory (HF)")
      ->required();
  cmd->add_option("--to", opt->to, "gguf|apr|hf|safetensors (default: from the extension)");
  cmd->add_flag("--json", opt->json, "print a JSON summary");
  cmd->callback([opt, &exit_code] { exit_code = RunSynth(*opt); });
}

}  // namespace apr_cli
