// apr info MODEL: format, architecture, hyperparameters, tensor/parameter counts, type mix and
// tokenizer summary.
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>

#include "aprender/model_config.h"
#include "cli_util.h"
#include "commands.h"

namespace apr_cli {
namespace {

struct InfoOptions {
  std::string path;
  bool json = false;
};

struct TypeStats {
  uint64_t tensors = 0;
  uint64_t params = 0;
  uint64_t bytes = 0;
};

boost::json::object ConfigToJson(const aprender::ModelConfig& c) {
  return boost::json::object{
      {"architecture", c.arch_name},
      {"n_layers", c.n_layers},
      {"n_embd", c.n_embd},
      {"n_ff", c.n_ff},
      {"n_head", c.n_head},
      {"n_head_kv", c.n_head_kv},
      {"head_dim", c.head_dim},
      {"n_vocab", c.n_vocab},
      {"n_ctx_train", c.n_ctx_train},
      {"rms_eps", c.rms_eps},
      {"rope_theta", c.rope_theta},
      {"rope_type", c.rope_type == aprender::RopeType::kNeox ? "neox" : "normal"},
      {"tied_embeddings", c.tied_embeddings},
      {"qkv_bias", c.qkv_bias},
  };
}

int RunInfo(const InfoOptions& opt) {
  auto loaded = LoadModel(opt.path);
  if (!loaded.ok()) return Fail(loaded.status());
  const aprender::ModelFile& model = *loaded;
  const auto& md = model.metadata;
  const std::string arch = md.GetStringOr("general.architecture").value_or("");
  const std::string name = md.GetStringOr("general.name").value_or("");

  std::map<std::string, TypeStats> types;
  uint64_t params = 0, bytes = 0;
  for (const auto& t : model.tensors) {
    auto& s = types[std::string(trueno::DTypeName(t.type))];
    ++s.tensors;
    s.params += t.elements();
    s.bytes += t.data.size();
    params += t.elements();
    bytes += t.data.size();
  }
  auto config = aprender::ModelConfigFromFile(model);

  // Raw "<arch>.*" keys: always reported, and the only hyperparameters when the config fails.
  boost::json::object raw;
  if (!arch.empty()) {
    for (const auto& [k, v] : md.entries()) {
      if (k.rfind(arch + ".", 0) == 0) raw[k] = MetaToJson(v);
    }
  }
  boost::json::object tokenizer;
  if (auto m = md.GetStringOr("tokenizer.ggml.model")) tokenizer["model"] = *m;
  if (auto p = md.GetStringOr("tokenizer.ggml.pre")) tokenizer["pre"] = *p;
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"}) {
    if (const auto* v = md.Find(key); v && v->AsArray()) {
      tokenizer[std::string(key).substr(15)] = v->AsArray()->items.size();
    }
  }
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}) {
    if (const auto* v = md.Find(key); v && v->AsUint())
      tokenizer[std::string(key).substr(15)] = *v->AsUint();
  }
  if (md.Find("tokenizer.chat_template")) tokenizer["chat_template"] = true;

  if (opt.json) {
    boost::json::object out{{"path", opt.path},
                            {"format", std::string(aprender::FileFormatName(model.format))},
                            {"version", model.version},
                            {"architecture", arch},
                            {"name", name},
                            {"hyperparameters", raw},
                            {"tensor_count", model.tensors.size()},
                            {"parameter_count", params},
                            {"bytes", bytes},
                            {"metadata_keys", md.size()},
                            {"tokenizer", tokenizer}};
    if (config.ok()) {
      out["config"] = ConfigToJson(*config);
    } else {
      out["config_error"] = std::string(config.status().message());
    }
    boost::json::object mix;
    for (const auto& [type, s] : types) {
      mix[type] =
          boost::json::object{{"tensors", s.tensors}, {"parameters", s.params}, {"bytes", s.bytes}};
    }
    out["types"] = mix;
    PrintJson(out);
    return 0;
  }

  auto row = [](const char* label) -> std::ostream& {
    return std::cout << std::left << std::setw(16) << label;
  };
  row("file") << opt.path << "\n";
  row("format") << aprender::FileFormatName(model.format);
  if (model.version) std::cout << " v" << model.version;
  std::cout << "\n";
  row("architecture") << (arch.empty() ? "(none)" : arch) << "\n";
  if (!name.empty()) row("name") << name << "\n";
  if (config.ok()) {
    const auto& c = *config;
    row("layers") << c.n_layers << "\n";
    row("embedding") << c.n_embd << "\n";
    row("ffn") << c.n_ff << "\n";
    row("heads") << c.n_head << " (kv " << c.n_head_kv << ", head dim " << c.head_dim << ")\n";
    row("vocab") << c.n_vocab << "\n";
    row("context") << c.n_ctx_train << "\n";
    row("rope") << (c.rope_type == aprender::RopeType::kNeox ? "neox" : "normal") << ", theta "
                << c.rope_theta << "\n";
    row("rms eps") << c.rms_eps << "\n";
    row("tied embed") << (c.tied_embeddings ? "yes" : "no") << "\n";
    row("qkv bias") << (c.qkv_bias ? "yes" : "no") << "\n";
  } else {
    row("config") << "unavailable: " << config.status().message() << "\n";
    for (const auto& [k, v] : md.entries()) {
      if (!arch.empty() && k.rfind(arch + ".", 0) == 0)
        row("") << k << " = " << v.ToString() << "\n";
    }
  }
  row("tensors") << model.tensors.size() << "\n";
  row("parameters") << params << " (" << HumanCount(params) << ")\n";
  row("tensor bytes") << bytes << " (" << HumanBytes(bytes) << ")\n";
  std::string mix;
  for (const auto& [type, s] : types) {
    if (!mix.empty()) mix += ", ";
    mix += type + " x" + std::to_string(s.tensors) + " (" + HumanBytes(s.bytes) + ")";
  }
  row("types") << mix << "\n";
  if (tokenizer.empty()) {
    row("tokenizer") << "(none)\n";
  } else {
    row("tokenizer") << boost::json::serialize(tokenizer) << "\n";
  }
  return 0;
}

}  // namespace

void RegisterInfo(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<InfoOptions>();
  CLI::App* cmd =
      app.add_subcommand("info", "Show format, architecture, hyperparameters and sizes of a model");
  cmd->add_option("MODEL", opt->path, "model file or HF directory")->required();
  cmd->add_flag("--json", opt->json, "print JSON");
  cmd->callback([opt, &exit_code] { exit_code = RunInfo(*opt); });
}

}  // namespace apr_cli
