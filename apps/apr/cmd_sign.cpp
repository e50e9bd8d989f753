// apr sign FILE --key PRIVATE.pem: adds (or replaces) the Ed25519 signature of a .apr file.
#include <iostream>
#include <memory>

#include "aprender/apr_format.h"
#include "cli_util.h"
#include "commands.h"

namespace apr_cli {
namespace {

struct SignOptions {
  std::string path;
  std::string key;
};

int RunSign(const SignOptions& opt) {
  auto pem = ReadTextFile(opt.key);
  if (!pem.ok()) return Fail(pem.status());
  auto format = aprender::DetectFormat(opt.path);
  if (!format.ok()) return Fail(format.status());
  if (*format != aprender::FileFormat::kApr) {
    return Fail(opt.path +
                ": only .apr files can be signed; convert it first (apr convert IN OUT.apr)");
  }
  if (auto st = aprender::SignApr(opt.path, *pem); !st.ok()) return Fail(st);
  std::cout << "signed " << opt.path << std::endl;
  return 0;
}

}  // namespace

void RegisterSign(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<SignOptions>();
  CLI::App* cmd =
      app.add_subcommand("sign", "Sign a .apr file in place with an Ed25519 private key");
  cmd->add_option("FILE", opt->path, ".apr file")->required();
  cmd->add_option("--key", opt->key, "private key (PEM) from apr keygen")->required();
  cmd->callback([opt, &exit_code] { exit_code = RunSign(*opt); });
}

}  // namespace apr_cli
