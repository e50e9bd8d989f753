// apr tokenize MODEL TEXT: the ids the model's tokenizer gives TEXT (with the vocabulary's BOS
// rule, special tokens written in the text parsed) and the vocabulary piece of each.
#include <iostream>
#include <memory>

#include "cli_util.h"
#include "commands.h"
#include "inference_session.h"

namespace apr_cli {
namespace {

struct TokenizeOptions {
  std::string path;
  std::string text;
  bool json = false;
  bool no_bos = false;
  bool no_parse_special = false;
  bool ids_only = false;
};

int RunTokenize(const TokenizeOptions& opt) {
  SessionOptions so;
  so.model_path = opt.path;
  so.need_model = false;
  auto loaded = InferenceSession::Load(so);
  if (!loaded.ok()) return Fail(loaded.status());
  const realizar::Tokenizer& tok = (*loaded)->tokenizer();
  const std::string text = opt.text == "-" ? ReadAllStdin() : opt.text;
  const std::vector<int32_t> ids = tok.Encode(text, !opt.no_bos, !opt.no_parse_special);
  if (opt.json) {
    boost::json::array jids, pieces;
    for (int32_t id : ids) {
      jids.push_back(id);
      const std::string_view p = tok.TokenPiece(id);
      pieces.push_back(boost::json::string(p.data(), p.size()));
    }
    PrintJson(boost::json::object{{"ids", jids}, {"pieces", pieces}});
    return 0;
  }
  if (opt.ids_only) {
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
    return 0;
  }
  for (int32_t id : ids) {
    // The piece as JSON string text, so spaces, newlines and control bytes stay visible.
    const std::string_view p = tok.TokenPiece(id);
    std::cout << id << "\t" << boost::json::serialize(boost::json::string(p.data(), p.size()))
              << "\n";
  }
  return 0;
}

}  // namespace

void RegisterTokenize(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Show the token ids and pieces of a text");
  cmd->add_option("MODEL", opt->path, "model file or HF directory")->required();
  cmd->add_option("TEXT", opt->text, "text, or - to read it from stdin")->required();
  cmd->add_flag("--json", opt->json, "print {\"ids\": [...], \"pieces\": [...]}");
  cmd->add_flag("--ids", opt->ids_only, "print only the ids, space-separated");
  cmd->add_flag("--no-bos", opt->no_bos, "never add BOS/EOS (default: as the vocabulary asks)");
  cmd->add_flag("--no-parse-special", opt->no_parse_special,
                "treat control-token text such as <|im_start|> as plain text");
  cmd->callback([opt, &exit_code] { exit_code = RunTokenize(*opt); });
}

}  // namespace apr_cli
