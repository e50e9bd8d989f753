// apr pass MODEL: the prompt from stdin, its raw completion (no chat template) on stdout, for
// pipelines. Same generation flags as apr run.
#include <memory>

#include "commands.h"
#include "inference_session.h"

namespace apr_cli {

void RegisterPass(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<CompletionOptions>();
  CLI::App* cmd = app.add_subcommand(
      "pass", "Read a prompt from stdin, write its raw completion (no chat template) to stdout");
  cmd->add_option("MODEL", opt->path, "model file or HF directory")->required();
  cmd->add_flag("--echo", opt->echo, "write the prompt before the completion");
  cmd->add_flag("-v,--verbose", opt->verbose, "print token counts and speeds on stderr");
  cmd->add_flag("--json", opt->json, "print one JSON object instead of streaming text");
  AddGenerationFlags(cmd, opt->gen);
  cmd->callback([opt, &exit_code] {
    opt->prompt = "-";
    opt->raw = true;
    exit_code = RunCompletion(*opt, /*allow_chat=*/false);
  });
}

}  // namespace apr_cli
