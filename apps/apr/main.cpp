// apr: the command-line front end. Each subcommand lives in its own cmd_*.cpp file; this file
// only wires them up and turns parse errors and exceptions into one-line errors (exit code 1).
#include <CLI/CLI.hpp>

#include <exception>
#include <string>

#include "cli_util.h"
#include "commands.h"
#include "realizar/version.h"

int main(int argc, char** argv) {
  CLI::App app{"apr: LLM inference toolkit (GGUF, SafeTensors, .apr; CPU and CUDA)"};
  app.set_version_flag("--version", std::string(realizar::Version()));
  app.require_subcommand(1);
  int exit_code = 0;
  apr_cli::RegisterInfo(app, exit_code);
  apr_cli::RegisterInspect(app, exit_code);
  apr_cli::RegisterConvert(app, exit_code);
  apr_cli::RegisterQuantize(app, exit_code);
  apr_cli::RegisterDiff(app, exit_code);
  apr_cli::RegisterVerify(app, exit_code);
  apr_cli::RegisterKeygen(app, exit_code);
  apr_cli::RegisterSign(app, exit_code);
  apr_cli::RegisterSynth(app, exit_code);
  apr_cli::RegisterRun(app, exit_code);
  apr_cli::RegisterChat(app, exit_code);
  apr_cli::RegisterPass(app, exit_code);
  apr_cli::RegisterTokenize(app, exit_code);
  apr_cli::RegisterPerplexity(app, exit_code);
  apr_cli::RegisterBench(app, exit_code);
  apr_cli::RegisterServe(app, exit_code);
  apr_cli::RegisterCheck(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" with exit code 0.
    if (e.get_exit_code() == 0) return app.exit(e);
    return apr_cli::Fail(std::string(e.what()) + " (see apr --help)");
  } catch (const std::exception& e) {
    return apr_cli::Fail(e.what());
  }
  return exit_code;
}
