// Runs the built `apr` binary (APR_CLI_PATH) through the shell with stdout/stderr captured in
// files of a scratch directory.
#pragma once

#include <sys/wait.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "test_assets.h"

namespace apr_run_test {

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// `apr <args>`; `stdin_file` (optional) is redirected to stdin, otherwise /dev/null.
inline RunResult Apr(const apr_test::ScratchDir& dir, const std::string& args,
                     const std::string& stdin_file = "") {
  const std::string out = dir.file("stdout.txt");
  const std::string err = dir.file("stderr.txt");
  const std::string in = stdin_file.empty() ? std::string("/dev/null") : stdin_file;
  const std::string cmd = std::string("'") + APR_CLI_PATH + "' " + args + " <'" + in + "' >'" +
                          out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline boost::json::value ParseJson(const std::string& s) {
  boost::json::error_code ec;
  auto v = boost::json::parse(s, ec);
  INFO("json: " << s);
  REQUIRE_FALSE(ec);
  return v;
}

}  // namespace apr_run_test
