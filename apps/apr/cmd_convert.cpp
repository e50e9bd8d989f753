// apr convert IN OUT: any readable model to GGUF, .apr (optionally compressed) or an HF directory.
#include <memory>

#include "absl/strings/ascii.h"
#include "cli_util.h"
#include "commands.h"
#include "trueno/str_cat.h"

namespace apr_cli {
namespace {

struct ConvertOptions {
  std::string in;
  std::string out;
  std::string compression = "none";
  std::string to;
  int level = 0;
  bool json = false;
};

absl::StatusOr<aprender::Compression> ParseCompression(const std::string& s) {
  const std::string c = absl::AsciiStrToLower(s);
  if (c == "none") return aprender::Compression::kNone;
  if (c == "lz4") return aprender::Compression::kLz4;
  if (c == "zstd") return aprender::Compression::kZstd;
  return absl::InvalidArgumentError(
      trueno::Concat("unknown --compression '", s, "'; use none, lz4 or zstd"));
}

int RunConvert(const ConvertOptions& opt) {
  auto compression = ParseCompression(opt.compression);
  if (!compression.ok()) return Fail(compression.status());
  auto format = OutputFormat(opt.out, opt.to);
  if (!format.ok()) return Fail(format.status());
  if (*compression != aprender::Compression::kNone && *format != aprender::FileFormat::kApr) {
    return Fail("--compression applies to .apr output only");
  }
  auto model = LoadModel(opt.in);
  if (!model.ok()) return Fail(model.status());
  aprender::AprWriteOptions apr;
  apr.compression = *compression;
  apr.level = opt.level;
  apr.source_description = trueno::Concat(
      "converted from ", aprender::FileFormatName(model->format), " ", opt.in, " by apr convert");
  if (auto st = WriteModel(*model, opt.out, *format, apr); !st.ok()) return Fail(st);
  return ReportWritten(*model, opt.out, *format, opt.json);
}

}  // namespace

void RegisterConvert(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "Convert a model between formats (.gguf, .apr, .safetensors, otherwise an HF directory)");
  cmd->add_option("IN", opt->in, "input model (any readable format)")->required();
  cmd->add_option("OUT", opt->out,
                  "output path; the format follows the extension unless --to is given")
      ->required();
  cmd->add_option("--compression", opt->compression, "none|lz4|zstd (.apr output only)");
  cmd->add_option("--level", opt->level, "compression level (0 = codec default)");
  cmd->add_option("--to", opt->to, "gguf|apr|hf|safetensors");
  cmd->add_flag("--json", opt->json, "print a JSON summary");
  cmd->callback([opt, &exit_code] { exit_code = RunConvert(*opt); });
}

}  // namespace apr_cli
