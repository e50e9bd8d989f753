// apr verify FILE: every integrity check of a .apr file (header, index, checksums, manifest,
// signature); for other formats, structural validation. One line per check.
#include <iostream>
#include <memory>

#include "aprender/apr_format.h"
#include "aprender/model_config.h"
#include "cli_util.h"
#include "commands.h"

namespace apr_cli {
namespace {

struct VerifyOptions {
  std::string path;
  std::string public_key;
  bool json = false;
};

int RunVerify(const VerifyOptions& opt) {
  std::string key;
  if (!opt.public_key.empty()) {
    auto k = ReadTextFile(opt.public_key);
    if (!k.ok()) return Fail(k.status());
    key = *k;
  }
  std::vector<aprender::AprCheck> checks;
  auto format = aprender::DetectFormat(opt.path);
  if (!format.ok()) return Fail(format.status());
  if (*format == aprender::FileFormat::kApr) {
    auto result = aprender::VerifyApr(opt.path, key);
    if (!result.ok()) {
      checks.push_back({"file", false, std::string(result.status().message())});
    } else {
      checks = *result;
    }
  } else {
    if (!key.empty()) return Fail("--public-key applies to .apr files only");
    auto model = aprender::LoadModelFile(opt.path);
    if (!model.ok()) {
      checks.push_back({"structure", false, std::string(model.status().message())});
    } else {
      checks.push_back({"structure", true,
                        std::to_string(model->tensors.size()) + " tensors, " +
                            std::to_string(model->metadata.size()) + " metadata keys"});
      bool sizes_ok = true;
      std::string detail = "every tensor holds exactly its type's byte size";
      for (const auto& t : model->tensors) {
        auto need = trueno::ByteSize(t.type, t.elements());
        if (!need.ok() || *need != t.data.size()) {
          sizes_ok = false;
          detail = t.name + ": byte size does not match its type and shape";
          break;
        }
      }
      checks.push_back({"tensor sizes", sizes_ok, detail});
      if (model->metadata.Find("general.architecture")) {
        auto config = aprender::ModelConfigFromFile(*model);
        checks.push_back(
            {"model config", config.ok(),
             config.ok() ? config->arch_name + ", " + std::to_string(config->n_layers) + " layers"
                         : std::string(config.status().message())});
      }
    }
  }
  bool ok = !checks.empty();
  for (const auto& c : checks) ok = ok && c.passed;
  if (opt.json) {
    boost::json::array arr;
    for (const auto& c : checks)
      arr.push_back(
          boost::json::object{{"name", c.name}, {"passed", c.passed}, {"detail", c.detail}});
    PrintJson(boost::json::object{{"path", opt.path},
                                  {"format", std::string(aprender::FileFormatName(*format))},
                                  {"checks", arr},
                                  {"ok", ok}});
  } else {
    for (const auto& c : checks)
      std::cout << (c.passed ? "ok   " : "FAIL ") << c.name << ": " << c.detail << "\n";
    std::cout.flush();
  }
  if (!ok && !opt.json) {
    for (const auto& c : checks) {
      if (!c.passed) return Fail(opt.path + ": verification failed: " + c.name + ": " + c.detail);
    }
  }
  return ok ? 0 : 1;
}

}  // namespace

void RegisterVerify(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<VerifyOptions>();
  CLI::App* cmd =
      app.add_subcommand("verify", "Check the integrity (and signature) of a model file");
  cmd->add_option("FILE", opt->path, "model file")->required();
  cmd->add_option("--public-key", opt->public_key,
                  "Ed25519 public key (PEM) the signature must match");
  cmd->add_flag("--json", opt->json, "print JSON");
  cmd->callback([opt, &exit_code] { exit_code = RunVerify(*opt); });
}

}  // namespace apr_cli
