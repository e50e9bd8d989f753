// Registration of every apr subcommand. Each Register* adds one subcommand to `app`; when that
// subcommand runs, its exit status is stored in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace apr_cli {

void RegisterInfo(CLI::App& app, int& exit_code);
void RegisterInspect(CLI::App& app, int& exit_code);
void RegisterConvert(CLI::App& app, int& exit_code);
void RegisterQuantize(CLI::App& app, int& exit_code);
void RegisterDiff(CLI::App& app, int& exit_code);
void RegisterVerify(CLI::App& app, int& exit_code);
void RegisterKeygen(CLI::App& app, int& exit_code);
void RegisterSign(CLI::App& app, int& exit_code);
void RegisterSynth(CLI::App& app, int& exit_code);
// Inference (cmd_run.cpp, cmd_chat.cpp, cmd_pass.cpp, cmd_tokenize.cpp, cmd_perplexity.cpp,
// cmd_bench.cpp).
void RegisterRun(CLI::App& app, int& exit_code);
void RegisterChat(CLI::App& app, int& exit_code);
void RegisterPass(CLI::App& app, int& exit_code);
void RegisterTokenize(CLI::App& app, int& exit_code);
void RegisterPerplexity(CLI::App& app, int& exit_code);
void RegisterBench(CLI::App& app, int& exit_code);
void RegisterServe(CLI::App& app, int& exit_code);
// apr check: the 10-stage pipeline self-test (cmd_check.cpp).
void RegisterCheck(CLI::App& app, int& exit_code);

}  // namespace apr_cli
