// apr quantize IN OUT --type T: re-encode every weight matrix (norms and biases stay F32).
#include <memory>

#include "cli_util.h"
#include "commands.h"

namespace apr_cli {
namespace {

struct QuantizeOptions {
  std::string in;
  std::string out;
  std::string type;
  std::string to;
  bool json = false;
};

int RunQuantize(const QuantizeOptions& opt) {
  if (auto st = CheckQuantTypeName(opt.type); !st.ok()) return Fail(st);
  auto format = OutputFormat(opt.out, opt.to);
  if (!format.ok()) return Fail(format.status());
  auto model = LoadModel(opt.in);
  if (!model.ok()) return Fail(model.status());
  auto quantized = QuantizeForCli(*model, opt.type);
  if (!quantized.ok()) return Fail(quantized.status());
  aprender::AprWriteOptions apr;
  apr.source_description = "quantized to " + opt.type + " from " + opt.in + " by apr quantize";
  if (auto st = WriteModel(*quantized, opt.out, *format, apr); !st.ok()) return Fail(st);
  return ReportWritten(*quantized, opt.out, *format, opt.json);
}

}  // namespace

void RegisterQuantize(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize the weight matrices of a model");
  cmd->add_option("IN", opt->in, "input model (any readable format)")->required();
  cmd->add_option("OUT", opt->out, "output path (.gguf, .apr, ...)")->required();
  cmd->add_option("--type", opt->type, "q4_0|q8_0|q4_k_m|q5_k_m|q6_k|q3_k_m|q2_k|f16|bf16|f32")
      ->required();
  cmd->add_option("--to", opt->to, "gguf|apr|hf|safetensors (default: from the extension)");
  cmd->add_flag("--json", opt->json, "print a JSON summary");
  cmd->callback([opt, &exit_code] { exit_code = RunQuantize(*opt); });
}

}  // namespace apr_cli
