// apr: the command-line front end. Each subcommand lives in its own cmd_*.cpp file.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "realizar/version.h"

int main(int argc, char** argv) {
  CLI::App app{"apr: LLM inference toolkit (GGUF, SafeTensors, .apr; CPU and CUDA)"};
  app.set_version_flag("--version", std::string(realizar::Version()));
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
