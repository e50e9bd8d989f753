// apr inspect MODEL: one line per tensor (name, type, shape, offset, bytes).
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli_util.h"
#include "commands.h"

namespace apr_cli {
namespace {

struct InspectOptions {
  std::string path;
  std::string filter;
  bool json = false;
};

int RunInspect(const InspectOptions& opt) {
  auto loaded = LoadModel(opt.path);
  if (!loaded.ok()) return Fail(loaded.status());
  const aprender::ModelFile& model = *loaded;
  // Offsets are relative to the start of the tensor data region when every tensor is a view of
  // one contiguous mapping (GGUF, uncompressed .apr, single safetensors); otherwise -1.
  const uint8_t* lo = nullptr;
  const uint8_t* hi = nullptr;
  for (const auto& t : model.tensors) {
    if (t.data.empty()) continue;
    if (!lo || t.data.data() < lo) lo = t.data.data();
    if (!hi || t.data.data() + t.data.size() > hi) hi = t.data.data() + t.data.size();
  }
  uint64_t total = 0;
  for (const auto& t : model.tensors) total += t.data.size();
  const bool contiguous =
      lo && static_cast<uint64_t>(hi - lo) < total + 64 * model.tensors.size() + 4096;

  boost::json::array rows;
  size_t shown = 0;
  if (!opt.json)
    std::printf("%-40s %-6s %-22s %14s %14s\n", "name", "type", "shape", "offset", "bytes");
  for (const auto& t : model.tensors) {
    if (!opt.filter.empty() && t.name.find(opt.filter) == std::string::npos) continue;
    ++shown;
    const int64_t offset =
        contiguous && !t.data.empty() ? static_cast<int64_t>(t.data.data() - lo) : -1;
    if (opt.json) {
      boost::json::array shape;
      for (uint64_t d : t.dims) shape.push_back(d);
      rows.push_back(boost::json::object{{"name", t.name},
                                         {"type", std::string(trueno::DTypeName(t.type))},
                                         {"shape", shape},
                                         {"elements", t.elements()},
                                         {"offset", offset},
                                         {"bytes", t.data.size()}});
    } else {
      std::printf("%-40s %-6s %-22s %14lld %14llu\n", t.name.c_str(),
                  std::string(trueno::DTypeName(t.type)).c_str(), ShapeString(t.dims).c_str(),
                  static_cast<long long>(offset), static_cast<unsigned long long>(t.data.size()));
    }
  }
  if (opt.json) {
    PrintJson(boost::json::object{{"path", opt.path},
                                  {"format", std::string(aprender::FileFormatName(model.format))},
                                  {"tensors", rows}});
  } else {
    std::printf("%zu of %zu tensors\n", shown, model.tensors.size());
  }
  return 0;
}

}  // namespace

void RegisterInspect(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "List the tensors of a model");
  cmd->add_option("MODEL", opt->path, "model file or HF directory")->required();
  cmd->add_option("--filter", opt->filter, "only tensors whose name contains this text");
  cmd->add_flag("--json", opt->json, "print JSON");
  cmd->callback([opt, &exit_code] { exit_code = RunInspect(*opt); });
}

}  // namespace apr_cli
